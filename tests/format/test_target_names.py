"""Target names: `local` is the embedded target's, so no broker target may take it."""

from __future__ import annotations

from pathlib import Path

from topology.format.compile import Topology, compile_topology


def _compile(tmp_path: Path, text: str) -> Topology:
    path = tmp_path / "t.topology.yaml"
    path.write_text(text)
    return compile_topology([str(path)])


def test_a_broker_target_cannot_take_the_embedded_targets_name(tmp_path: Path) -> None:
    """A Kafka target called `local` would be read as the embedded state file: plan, apply and status would
    never reach the broker."""
    text = 'version: 1\ntargets:\n  local: {kind: kafka, bootstrap_servers: "127.0.0.1:9092"}\n'
    topology = _compile(tmp_path, text)
    assert [(p.location.line if p.location else 0, p.message) for p in topology.errors] == [
        (3, "a kafka target cannot be called `local`: that name is the embedded local target's")]
    assert _compile(tmp_path, "version: 1\ntargets:\n  local: {kind: local}\n").errors == []
