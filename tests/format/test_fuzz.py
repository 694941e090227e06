"""Random mutations of valid documents give a valid result or located errors, never a traceback."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from topology.format.compile import compile_topology

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SEEDS = [yaml.safe_load(p.read_text()) for p in sorted(EXAMPLES.glob("*.topology.yaml")) if "{{" not in p.read_text()]

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=False),
                    st.text(max_size=12), st.sampled_from(["5s", "0", "$", "amq.x", "x.fifo", "-1", "1MiB", "${X}"]))
values = st.recursive(scalars, lambda children: st.one_of(
    st.lists(children, max_size=3), st.dictionaries(st.text(max_size=8), children, max_size=3)), max_leaves=6)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


def _mutate(document: Any, path: tuple[Any, ...], action: str, value: Any, key: str) -> Any:
    if not path:
        return value if action == "replace" else document
    parent = document
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if action == "replace":
        parent[last] = value
    elif action == "delete":
        del parent[last]
    elif action == "rename" and isinstance(parent, dict):
        parent[f"{last}{key}"] = parent.pop(last)
    elif action == "insert" and isinstance(parent[last], dict):
        parent[last][key] = value
    return document


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.sampled_from(range(len(SEEDS))), choice=st.integers(0, 10**6),
       action=st.sampled_from(["replace", "delete", "rename", "insert"]), value=values, key=st.text(max_size=6))
def test_mutated_documents_are_valid_or_located(seed: int, choice: int, action: str, value: Any, key: str) -> None:
    document = yaml.safe_load(yaml.safe_dump(SEEDS[seed]))
    paths = _paths(document)
    document = _mutate(document, paths[choice % len(paths)], action, value, key)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.topology.yaml"
        path.write_text(yaml.safe_dump(document, allow_unicode=True))
        topology = compile_topology([str(path)], environ={})
    for problem in topology.problems:
        assert problem.location is not None and problem.location.file == str(path), str(problem)
        assert problem.location.line >= 1 and problem.message


@settings(max_examples=200, deadline=None)
@given(seed=st.sampled_from(sorted(EXAMPLES.glob("*.topology.yaml"))), position=st.integers(0, 10**6),
       junk=st.text(alphabet=st.sampled_from(list(":{}[]-#&*!|>'\"%@`$ \n\tab{}")), min_size=1, max_size=4))
def test_corrupted_text_is_located(seed: Path, position: int, junk: str) -> None:
    text = seed.read_text()
    cut = position % len(text)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.topology.yaml"
        path.write_text(text[:cut] + junk + text[cut:])
        topology = compile_topology([str(path)], environ={})
    for problem in topology.problems:
        assert problem.location is not None or problem.path == "--env", str(problem)
