"""The Python API on its own: topology.load / plan / apply from paths, a mapping or YAML text, against the
embedded local target (a state file), raising the documented errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import topology

TEXT = "version: 1\nredis:\n  streams:\n    orders: {groups: {billing: {start: '$'}}}\n"
MAPPING: dict[str, Any] = {"version": 1, "redis": {"streams": {"orders": {"groups": {"billing": {"start": "$"}}}}}}
ADDRESSES = ["redis/group/orders/billing", "redis/stream/orders"]


def _held(state: Path) -> list[str]:
    return sorted(json.loads(state.read_text())["resources"])


@pytest.mark.parametrize("document", [MAPPING, TEXT], ids=["mapping", "yaml-text"])
def test_plan_and_apply_an_in_memory_document(tmp_path: Path, document: Any) -> None:
    state = tmp_path / "s.json"
    plan = topology.plan(document=document, state=state)
    assert isinstance(plan, topology.Plan)
    assert [(c.address, c.action) for c in plan.changes] == [("redis/stream/orders", "create"),
                                                              ("redis/group/orders/billing", "create")]
    assert plan.files == ("<document>",)
    assert not state.exists()  # planning changes nothing

    report = topology.apply(plan, document=document, state=state)
    assert isinstance(report, topology.ApplyReport)
    assert report.ok and sorted(report.applied) == ADDRESSES
    assert _held(state) == ADDRESSES
    assert topology.plan(document=document, state=state).is_empty


def test_plan_and_apply_paths(tmp_path: Path) -> None:
    (tmp_path / "a.topology.yaml").write_text(TEXT)
    (tmp_path / "b.topology.yaml").write_text("version: 1\nkafka:\n  topics:\n    shop.orders: {partitions: 3}\n")
    state = tmp_path / "s.json"
    files = [tmp_path / "a.topology.yaml", str(tmp_path / "b.topology.yaml")]  # os.PathLike or str
    plan = topology.plan(files, state=state)
    assert plan.files == tuple(str(f) for f in files)
    assert plan.summary() == "Plan: 3 to create, 0 to update, 0 to replace, 0 to delete."
    assert topology.apply(plan, state=state).ok
    assert _held(state) == ["kafka/topic/shop.orders", *ADDRESSES]
    assert topology.plan(files, state=state).is_empty
    assert topology.apply(tmp_path / "a.topology.yaml", state=state).applied == []  # one path; nothing left to do


def test_a_partial_plan_from_the_api_is_applied_with_its_own_globs(tmp_path: Path) -> None:
    state = tmp_path / "s.json"
    partial = topology.plan(document=TEXT, state=state, only=["redis/stream/*"])
    assert [c.address for c in partial.changes] == ["redis/stream/orders"] and partial.partial
    with pytest.raises(topology.InputError, match="keeps its own only/exclude"):
        topology.apply(partial, document=TEXT, state=state, only=["redis/*"])
    with pytest.raises(topology.InputError, match="a list of address globs"):
        topology.plan(document=TEXT, state=state, only="redis/*")
    report = topology.apply(partial, document=TEXT, state=state)  # fresh: re-planned with its own globs
    assert report.ok and report.applied == ["redis/stream/orders"]
    assert _held(state) == ["redis/stream/orders"]
    assert [c.address for c in topology.plan(document=TEXT, state=state).changes] == ["redis/group/orders/billing"]


def test_apply_plans_from_sources_when_given_no_plan(tmp_path: Path) -> None:
    state = tmp_path / "s.json"
    report = topology.apply(document=TEXT, state=state)
    assert report.ok and sorted(report.applied) == ADDRESSES
    assert topology.plan(document=MAPPING, state=state).is_empty  # the mapping and the text are one topology


def test_a_bad_in_memory_document_raises_located_problems(tmp_path: Path) -> None:
    text = "version: 1\nkafka:\n  topics:\n    orders: {partitions: three}\n"
    with pytest.raises(topology.ProblemsError) as raised:
        topology.plan(document=text, state=tmp_path / "s.json")
    [problem] = raised.value.problems
    assert str(problem.location) == "<document>:4:26"
    assert problem.path == "kafka.topics.orders.partitions"

    with pytest.raises(topology.ProblemsError) as raised:
        topology.load(document={"version": 1, "kafka": {"topicz": {}}})
    [problem] = raised.value.problems
    assert str(problem) == "<document>:3:3 kafka.topicz: unknown key `topicz` (did you mean `topics`?)"
    assert not (tmp_path / "s.json").exists()


def test_load_returns_the_checked_topology_without_a_broker() -> None:
    loaded = topology.load(document=TEXT)
    assert isinstance(loaded, topology.Topology)
    assert list(loaded.resources) == ADDRESSES
    templated = topology.load(document="version: 1\nkafka:\n  topics:\n    '{{ vars.team }}.orders': {}\n",
                              variables={"team": "shop"})
    assert list(templated.resources) == ["kafka/topic/shop.orders"]


def test_a_delete_needs_allow_delete(tmp_path: Path) -> None:
    state = tmp_path / "s.json"
    assert topology.apply(document=TEXT, state=state).ok
    pruning = "version: 1\nmanage: {prune: true, include: ['redis/*']}\n"
    plan = topology.plan(document=pruning, state=state)
    assert [c.action for c in plan.changes] == ["delete", "delete"]
    with pytest.raises(topology.InputError, match=r"^the plan deletes 2 resources .*--allow-delete"):
        topology.apply(plan, document=pruning, state=state)
    assert _held(state) == ADDRESSES
    assert topology.apply(plan, document=pruning, state=state, allow_delete=True).ok
    assert _held(state) == []


def test_a_stale_or_mismatched_plan_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "s.json"
    plan = topology.plan(document=MAPPING, state=state)
    with pytest.raises(topology.InputError, match="made from an in-memory document"):
        topology.apply(plan, state=state)
    assert topology.apply(document=MAPPING, state=state).ok  # the live state moves on
    with pytest.raises(topology.InputError, match="live state of target `local` changed"):
        topology.apply(plan, document=MAPPING, state=state)
    with pytest.raises(topology.InputError, match=r"topology files .* changed"):
        topology.apply(plan, document=TEXT.replace("orders", "payments"), state=state)


def test_what_is_not_a_topology_is_refused() -> None:
    with pytest.raises(topology.InputError, match="no topology given"):
        topology.plan()
    with pytest.raises(topology.InputError, match="Pass that as document="):
        topology.plan(TEXT)
    with pytest.raises(topology.ProblemsError, match="YAML cannot write"):
        topology.load(document={"version": 1, "vars": {"x": object()}})


def test_the_public_names() -> None:
    assert sorted(topology.__all__) == sorted([
        "ApplyReport", "BrokerError", "BrokerUnavailable", "InputError", "LockedError", "Plan", "ProblemsError",
        "RoutingError", "Topology", "TopologyError", "__version__", "apply", "load", "plan"])
    assert all(getattr(topology, name) is not None for name in topology.__all__)
    assert issubclass(topology.ProblemsError, topology.InputError)
    assert issubclass(topology.LockedError, topology.BrokerError)
    assert (Path(topology.__file__).parent / "py.typed").is_file()
    with pytest.raises(AttributeError):
        topology.Engine  # noqa: B018 - not part of the API


def test_import_topology_stays_cheap() -> None:
    """`import topology` (which `topology --help` does) loads no pydantic, YAML, templating or broker client."""
    heavy = ("pydantic", "yaml", "jinja2", "boto3", "botocore", "confluent_kafka", "pika", "redis", "httpx")
    code = (f"import sys, topology; print(sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r} "
            "or m.startswith('topology.')))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "['topology.errors']"


def test_apply_refuses_a_parallelism_the_command_line_refuses(tmp_path: Path) -> None:
    for wrong in (0, -3, 65):
        with pytest.raises(topology.InputError, match=f"parallelism {wrong} is out of range; give 1 to 64"):
            topology.apply(document={"version": 1}, state=tmp_path / "state.json", parallelism=wrong)
