"""A failed change stops what depends on it; everything else is still applied; a re-run converges."""

from __future__ import annotations

import json
from pathlib import Path

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
    with Engine([str(source)], state=state) as engine:
        report = engine.apply(plan, parallelism=4)

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
    import pytest

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
