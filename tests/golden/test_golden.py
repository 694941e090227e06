"""Golden plans: for each case, desired YAML + live state -> the exact plan.json, plan.txt and
plan.md; and for each example, its plan against an empty state in plans/.

After a deliberate change to plans, regenerate with:
    TOPOLOGY_UPDATE_GOLDEN=1 .venv/bin/pytest tests/golden
and review the diff like any other code change.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from topology.engine.plan import Plan
from topology.engine.session import Engine
from topology.render import render_markdown, render_text

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
UPDATE = os.environ.get("TOPOLOGY_UPDATE_GOLDEN") == "1"
CASES = sorted(p.name for p in HERE.iterdir() if (p / "desired.topology.yaml").exists())
EXAMPLES = sorted(p.name for p in (ROOT / "examples").glob("*.topology.yaml"))


def _check(path: Path, text: str) -> None:
    if UPDATE:
        path.write_text(text)
    assert path.exists(), f"{path} is missing: run TOPOLOGY_UPDATE_GOLDEN=1 pytest tests/golden"
    assert text == path.read_text(), f"{path} is out of date: run TOPOLOGY_UPDATE_GOLDEN=1 pytest tests/golden"


def _plan(files: list[str], state: Path, cwd: Path, env: str | None = None) -> Plan:
    previous = Path.cwd()
    os.chdir(cwd)
    try:
        with Engine(files, env=env, state=state, offline=True, environ={}) as engine:
            return engine.plan()
    finally:
        os.chdir(previous)


@pytest.mark.parametrize("case", CASES)
def test_golden_case(case: str, tmp_path: Path) -> None:
    folder = HERE / case
    state = tmp_path / "state.json"
    shutil.copy(folder / "live.json", state)
    plan = _plan(["desired.topology.yaml"], state, folder)
    _check(folder / "plan.json", plan.to_json())
    _check(folder / "plan.txt", render_text(plan))
    _check(folder / "plan.md", render_markdown(plan))
    assert Plan.from_json(plan.to_json()) == plan  # a saved plan reads back as the same plan


def test_golden_cases_cover_every_action() -> None:
    actions = {c.action for case in CASES for c in Plan.from_json((HERE / case / "plan.json").read_text()).changes}
    assert actions == {"create", "update", "replace", "delete"}


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_plans_are_current(example: str, tmp_path: Path) -> None:
    plan = _plan([f"examples/{example}"], tmp_path / "empty.json", ROOT)
    stem = example.removesuffix(".topology.yaml")
    _check(ROOT / "plans" / f"{stem}.plan.json", plan.to_json())
    _check(ROOT / "plans" / f"{stem}.plan.txt", render_text(plan))


def test_same_inputs_give_byte_identical_plans(tmp_path: Path) -> None:
    first = _plan(["examples/shop.topology.yaml"], tmp_path / "a.json", ROOT, env="prod")
    second = _plan(["examples/shop.topology.yaml"], tmp_path / "b.json", ROOT, env="prod")
    assert first.to_json() == second.to_json()
