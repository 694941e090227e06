"""The embedded local target passes the driver contract."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.contract.suite import ContractSuite, Harness

DOCUMENTS = {
    "base": """
rabbitmq:
  vhosts:
    shop:
      exchanges: {orders: {type: topic}}
      queues:
        billing:
          type: QUEUE_TYPE
          bindings: [{exchange: orders, routing_key: "order.*"}]
          retry: {delays: [5s]}
kafka:
  topics:
    shop.orders: {partitions: 3, config: {retention.ms: RETENTION}}
sqs:
  queues:
    emails: {visibility_timeout: 30s}
""",
}


class LocalHarness(Harness):
    queue = "rabbitmq/shop/queue/billing"
    updatable = "kafka/topic/shop.orders"
    removable = "sqs/queue/emails"

    @property
    def state(self) -> Path:
        return self.folder / "state.json"

    def extra_args(self, args: tuple[str, ...]) -> list[str]:
        return ["--state", str(self.state)] if args[0] in ("plan", "apply") else []

    def document(self, variant: str) -> str:
        text = "version: 1\n" + DOCUMENTS["base"]
        text = text.replace("QUEUE_TYPE", "quorum" if variant == "immutable" else "classic")
        text = text.replace("RETENTION", "2d" if variant == "update" else "1d")
        if variant.startswith("smaller"):
            text = text.replace("sqs:\n  queues:\n    emails: {visibility_timeout: 30s}\n", "")
        if variant == "smaller-pruned":
            text += "manage: {prune: true, include: ['sqs/*']}\n"
        return text


    def _read(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.state.read_text())
        return data

    def _write(self, data: dict[str, Any]) -> None:
        self.state.write_text(json.dumps(data))

    def set_messages(self, address: str, count: int) -> None:
        data = self._read()
        data["resources"][address]["messages"] = count
        self._write(data)

    def live(self) -> dict[str, dict[str, Any]]:
        if not self.state.exists():
            return {}
        return {address: entry["attributes"] for address, entry in self._read()["resources"].items()}

    def drift_change(self, address: str, attribute: str, value: Any) -> None:
        data = self._read()
        data["resources"][address]["attributes"][attribute] = value
        self._write(data)

    def drift_remove(self, address: str) -> None:
        data = self._read()
        del data["resources"][address]
        self._write(data)


class TestLocalDriver(ContractSuite):
    @pytest.fixture
    def harness(self, tmp_path: Path) -> Iterator[Harness]:
        yield LocalHarness(tmp_path)

    def drift_attribute(self) -> tuple[str, Any]:
        return "config", {"retention.ms": "1000"}

    def writes_for_base(self) -> int:
        return 3  # one write per wave: vhost, topic, sqs queue; exchange, queue; binding, retry queue

    def test_state_file_is_never_corrupt_after_a_kill(self, harness: Harness) -> None:
        for writes in (1, 2):
            killed = harness.run("apply", harness.write("base"), "--auto-approve", kill_after_writes=writes)
            assert killed.code == -9
            state = json.loads((harness.folder / "state.json").read_text())
            assert state["format_version"] == 1 and isinstance(state["resources"], dict)
            assert not [p for p in harness.folder.iterdir() if p.name.startswith(".state.json.")]

    def test_concurrent_apply_is_refused(self, harness: Harness) -> None:
        from topology.brokers.local.driver import LocalDriver

        holder = LocalDriver(harness.folder / "state.json")
        holder.lock()
        try:
            blocked = harness.apply("base")
        finally:
            holder.close()
        assert blocked.code == 1 and "is locked by" in blocked.stderr
        assert harness.apply("base").code == 0

    def test_partitions_never_shrink(self, harness: Harness) -> None:
        assert harness.apply("base").code == 0
        path = harness.folder / "shrink.topology.yaml"
        path.write_text(harness.document("base").replace("partitions: 3", "partitions: 2"))
        result = harness.run("plan", str(path))
        assert result.code == 1
        assert "partitions can only grow; live has 3, the file asks for 2" in result.stderr

    def test_protected_queue_is_never_replaced(self, harness: Harness) -> None:
        assert harness.apply("base").code == 0
        path = harness.folder / "protected.topology.yaml"
        path.write_text(harness.document("immutable").replace("type: quorum", "type: quorum\n          protect: true"))
        result = harness.run("plan", str(path))
        assert result.code == 1 and "is protected, but changing type would replace it" in result.stderr

    def test_replace_brings_back_the_bindings_the_broker_drops(self, harness: Harness) -> None:
        assert harness.apply("base").code == 0
        harness.set_messages(harness.queue, 0)
        actions = harness.actions("immutable")
        assert actions[harness.queue] == "replace"
        assert actions["rabbitmq/shop/binding/orders->billing[order.*]"] == "create"
        assert harness.apply("immutable").code == 0
        assert "rabbitmq/shop/binding/orders->billing[order.*]" in harness.live()


def test_export_state_then_offline_plan_has_no_changes(tmp_path: Path) -> None:
    harness = LocalHarness(tmp_path)
    assert harness.apply("base").code == 0
    exported = tmp_path / "exported.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "topology",
            "export",
            "--target",
            "local",
            "--state",
            str(harness.state),
            "--format",
            "state",
            "--to",
            str(exported),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert (
        json.loads(exported.read_text())["resources"].keys()
        == json.loads(harness.state.read_text())["resources"].keys()
    )
    plan = subprocess.run(
        [
            sys.executable,
            "-m",
            "topology",
            "plan",
            harness.write("base"),
            "--offline",
            "--state",
            str(exported),
            "--detailed-exitcode",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert plan.returncode == 0 and "No changes" in plan.stdout
