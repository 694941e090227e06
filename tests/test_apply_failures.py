"""A failed change stops what depends on it; everything else is still applied; a re-run converges."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from topology.engine.session import Engine

DOCUMENT = """version: 1
rabbitmq:
  vhosts:
    shop:
      exchanges: {orders: {type: topic}}
      queues:
        billing: {bindings: [{exchange: orders, routing_key: "#"}]}
kafka:
  topics:
    shop.orders: {partitions: 3}
"""


def test_failure_blocks_only_its_dependents(tmp_path: Path) -> None:
    source = tmp_path / "t.topology.yaml"
    source.write_text(DOCUMENT)
    state = tmp_path / "state.json"
    with Engine([str(source)], state=state) as engine:
        plan = engine.plan()
    # Someone declares `orders` as a fanout exchange between plan and apply: the broker refuses ours.
    state.write_text(json.dumps({"format_version": 1, "resources": {
        "rabbitmq/vhost/shop": {"kind": "rabbitmq.vhost", "attributes": {}, "depends_on": []},
        "rabbitmq/shop/exchange/orders": {"kind": "rabbitmq.exchange", "depends_on": ["rabbitmq/vhost/shop"],
                                          "attributes": {"type": "fanout", "durable": True, "auto_delete": False,
                                                         "internal": False, "arguments": {}}}}}))
    with Engine([str(source)], state=state, parallelism=4) as engine:
        report = engine.apply(plan)

    assert list(report.failed) == ["rabbitmq/shop/exchange/orders"]
    assert "PRECONDITION_FAILED" in report.failed["rabbitmq/shop/exchange/orders"]
    assert report.not_attempted == ["rabbitmq/shop/binding/orders->billing[#]"]
    assert sorted(report.applied) == ["kafka/topic/shop.orders", "rabbitmq/shop/queue/billing", "rabbitmq/vhost/shop"]
    assert not report.ok

    with Engine([str(source)], state=state) as engine:
        again = engine.plan()
    assert [(c.address, c.action) for c in again.changes] == [
        ("rabbitmq/shop/exchange/orders", "replace"), ("rabbitmq/shop/binding/orders->billing[#]", "create")]
    with Engine([str(source)], state=state) as engine:
        assert engine.apply(again).ok
        assert engine.plan().is_empty


def test_the_python_api_refuses_deletes_and_data_loss_unless_allowed(tmp_path: Path) -> None:
    from topology.errors import InputError

    source = tmp_path / "t.topology.yaml"
    source.write_text("version: 1\nkafka:\n  topics:\n    keep: {}\n    drop: {}\n")
    state = tmp_path / "state.json"
    with Engine([str(source)], state=state) as engine:
        assert engine.apply(engine.plan()).ok
    data = json.loads(state.read_text())
    data["resources"]["kafka/topic/drop"]["messages"] = 3
    state.write_text(json.dumps(data))
    source.write_text("version: 1\nkafka:\n  topics:\n    keep: {}\nmanage: {prune: true, include: ['kafka/*']}\n")
    with Engine([str(source)], state=state) as engine:
        plan = engine.plan()
        with pytest.raises(InputError, match="re-run with --allow-delete"):
            engine.apply(plan)
        with pytest.raises(InputError, match="losing 3 messages"):
            engine.apply(plan, allow_delete=True)
        assert "kafka/topic/drop" in json.loads(state.read_text())["resources"]
        assert engine.apply(plan, allow_delete=True, allow_data_loss=True).ok
    assert sorted(json.loads(state.read_text())["resources"]) == ["kafka/topic/keep"]


def _broken_apply(self: object, changes: object, desired: object) -> list[object]:
    raise RuntimeError("a bug in the driver")


def test_a_driver_that_raises_fails_its_batch_and_keeps_the_traceback(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import traceback

    from topology.brokers.local.driver import LocalDriver

    source = tmp_path / "t.topology.yaml"
    source.write_text("version: 1\nkafka:\n  topics:\n    a: {}\n    b: {}\n")
    monkeypatch.setattr(LocalDriver, "apply", _broken_apply)  # stands in for a bug: raising instead of reporting
    with Engine([str(source)], state=tmp_path / "state.json") as engine:
        report = engine.apply(engine.plan())
    assert report.failed == {"kafka/topic/a": "RuntimeError: a bug in the driver",
                             "kafka/topic/b": "RuntimeError: a bug in the driver"}
    assert not report.ok and report.applied == []
    assert sorted(report.exceptions) == ["kafka/topic/a", "kafka/topic/b"]
    frames = traceback.extract_tb(report.exceptions["kafka/topic/a"].__traceback__)
    assert frames[-1].name == "_broken_apply"


_CLI_WITH_A_BROKEN_DRIVER = """
import sys
from tests.test_apply_failures import _broken_apply
from topology.brokers.local.driver import LocalDriver
from topology.cli import main
LocalDriver.apply = _broken_apply
sys.argv = ["topology", *sys.argv[1:]]
main()
"""


@pytest.mark.parametrize("debug", [False, True])
def test_debug_shows_the_traceback_behind_a_driver_failure(tmp_path: Path, debug: bool) -> None:
    import subprocess
    import sys

    (tmp_path / "t.topology.yaml").write_text("version: 1\nkafka:\n  topics:\n    a: {}\n")
    flags = ["--debug"] if debug else []
    result = subprocess.run([sys.executable, "-c", _CLI_WITH_A_BROKEN_DRIVER, *flags, "apply", "t.topology.yaml",
                             "--state", "s.json", "--auto-approve"], capture_output=True, text=True, cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert result.returncode == 1
    assert "kafka/topic/a: FAILED: RuntimeError: a bug in the driver" in result.stderr
    assert "Apply failed: 0 applied, 1 failed, 0 not attempted." in result.stdout
    shown = "Traceback behind the failure of kafka/topic/a:\nTraceback (most recent call last):"
    assert (shown in result.stderr) is debug, result.stderr
    assert ('in _broken_apply\n    raise RuntimeError("a bug in the driver")' in result.stderr) is debug
