"""A new broker is one folder plus one line in the registry: a toy broker, defined here as the steps in
the README say, is read, expanded, checked, planned and applied on the embedded local target without a
line changed in core/, format/, engine/ or render/."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import Field

from topology.brokers import registry
from topology.brokers.base import Broker, Driver, NamingTemplate, Section
from topology.core.kinds import KindRules
from topology.core.resource import Resource
from topology.format.check import Checker
from topology.format.common import Protectable, RemoteTarget, Spec
from topology.format.document import document_model
from topology.format.expand import Expansion


class ToyQueue(Protectable):
    dead_letter: bool = Field(False, description="Also make a dead-letter queue.")


class Toy(Spec):
    target: str | None = Field(None, description="A name under `targets`.")
    queues: dict[str, ToyQueue] = Field(default_factory=dict, description="Queues by name.")


class ToyTarget(RemoteTarget):
    kind: Literal["toy"] = Field(description="The broker kind this target serves.")
    url: str = Field(description="toy://host:port")


def expand_toy(context: Expansion, section: Toy) -> None:
    for name, queue in section.queues.items():
        path = ("toy", "queues", name)
        context.add("toy.queue", f"toy/queue/{name}", section.target, {"durable": True}, path, name=name)
        if queue.dead_letter:
            dlq = context.name("toy_dead_letter_queue", path, queue=name)
            context.add("toy.queue", f"toy/queue/{dlq}", section.target, {"durable": True}, path, name=dlq,
                        generated_by=f"toy/queue/{name}")


def check_queue(checker: Checker, resource: Resource) -> None:
    if len(resource.name) > 10:
        checker.report(resource, "toy queue names are at most 10 characters", hint="shorten it")


def _open(target: Any, name: str, parallelism: int) -> Driver:
    raise AssertionError("the toy broker is only planned and applied on the local target here")


TOY = Broker(name="toy", target=ToyTarget, address_field="url", open=_open,
             sections=(Section("toy", Toy, "Toy queues.", expand_toy),),
             naming=(NamingTemplate("toy_dead_letter_queue", "{{ queue }}.dead"),),
             kinds={"toy.queue": KindRules(immutable=frozenset({"durable"}), holds_data=True)},
             checks={"toy.queue": check_queue})


def _clear() -> None:
    for cached in (registry.broker, registry.kind_rules, registry._kind_brokers, document_model):
        cached.cache_clear()


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    module = types.ModuleType("topology.brokers.toy")
    module.BROKER = TOY  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "topology.brokers.toy", module)
    monkeypatch.setattr(registry, "BROKERS", (*registry.BROKERS[:-1], "toy", "local"))
    _clear()
    yield
    monkeypatch.undo()
    _clear()


def test_a_fifth_broker_needs_one_folder_and_one_registry_line(toy: None, tmp_path: Path) -> None:
    from topology.engine.session import Engine
    from topology.format.compile import compile_topology
    from topology.format.schema import schema

    assert "toy" in schema()["properties"] and "toy_dead_letter_queue" in schema()["definitions"]["Naming"][
        "properties"]
    source = tmp_path / "toy.topology.yaml"
    source.write_text("version: 1\ntoy:\n  queues:\n    jobs: {dead_letter: true}\n    much-too-long: {}\n")
    compiled = compile_topology([str(source)])
    assert sorted(compiled.resources) == ["toy/queue/jobs", "toy/queue/jobs.dead", "toy/queue/much-too-long"]
    assert [(p.location.line if p.location else 0, p.message) for p in compiled.errors] == [
        (5, "toy queue names are at most 10 characters")]

    source.write_text("version: 1\ntoy:\n  queues:\n    jobs: {dead_letter: true}\n  quues: {}\n")
    typo = compile_topology([str(source)])
    assert [(p.message, p.hint) for p in typo.errors] == [("unknown key `quues`", "did you mean `queues`?")]

    source.write_text("version: 1\ntoy:\n  queues:\n    jobs: {dead_letter: true}\n")
    state = tmp_path / "state.json"
    with Engine([str(source)], state=state) as engine:
        plan = engine.plan()
        assert [(c.action, c.address) for c in plan.changes] == [
            ("create", "toy/queue/jobs"), ("create", "toy/queue/jobs.dead")]
        assert engine.apply(plan).ok
    with Engine([str(source)], state=state) as engine:
        assert engine.plan().is_empty


def test_without_the_registry_line_the_section_is_unknown(tmp_path: Path) -> None:
    from topology.format.compile import compile_topology

    source = tmp_path / "toy.topology.yaml"
    source.write_text("version: 1\ntoy:\n  queues: {}\n")
    assert [p.message for p in compile_topology([str(source)]).errors] == ["unknown key `toy`"]
