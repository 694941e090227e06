"""What a plan creates in a vhost goes to RabbitMQ in one definitions import, bindings included (the import
creates queues and exchanges before the bindings between them); what it cannot import waits its turn."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.conftest import RABBITMQ_URL, unique
from topology.brokers.rabbitmq.driver import RabbitMQDriver
from topology.engine.plan import Change
from topology.engine.session import Engine

pytestmark = pytest.mark.rabbitmq


@pytest.fixture
def vhost(rabbitmq_api: Any) -> Iterator[str]:
    name = unique("one-import")
    yield name
    rabbitmq_api.delete(f"/api/vhosts/{quote(name, safe='')}")


@pytest.fixture
def batches(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The addresses of each batch the RabbitMQ driver is given, in order (the driver itself runs)."""
    seen: list[list[str]] = []
    original = RabbitMQDriver.apply

    def recording(self: RabbitMQDriver, changes: Sequence[Change], desired: Any) -> Any:
        seen.append([c.address for c in changes])
        return original(self, changes, desired)

    monkeypatch.setattr(RabbitMQDriver, "apply", recording)
    return seen


def _document(vhost: str, priority: int = 5) -> str:
    return f"""version: 1
targets:
  rabbit: {{kind: rabbitmq, url: "{RABBITMQ_URL}"}}
rabbitmq:
  target: rabbit
  vhosts:
    {vhost}:
      exchanges:
        orders: {{type: topic}}
        audit: {{type: fanout}}
      queues:
        billing: {{max_priority: {priority}, bindings: [{{exchange: orders, routing_key: "order.*"}}]}}
        shipping: {{bindings: [{{exchange: orders, routing_key: "order.paid"}}]}}
        archive: {{bindings: [{{exchange: audit}}]}}
      exchange_bindings:
        - {{source: orders, destination: audit, routing_key: "#"}}
      policies:
        short: {{pattern: "^ship", apply_to: queues, definition: {{message-ttl: 60000}}}}
"""


def _apply(folder: Path, text: str) -> list[str]:
    path = folder / "one-import.topology.yaml"
    path.write_text(text)
    with Engine([str(path)]) as engine:
        plan = engine.plan()
        report = engine.apply(plan, allow_data_loss=False)
        assert report.ok, report.failed
    with Engine([str(path)]) as engine:
        assert engine.plan().is_empty
    return [c.address for c in plan.changes]


def test_a_new_vhost_is_made_then_everything_in_it_in_one_import(tmp_path: Path, vhost: str,
                                                                 batches: list[list[str]], rabbitmq_api: Any) -> None:
    planned = _apply(tmp_path, _document(vhost))
    assert batches[0] == [f"rabbitmq/vhost/{vhost}"]
    assert len(batches) == 2, batches
    assert sorted(batches[1]) == sorted(a for a in planned if a != f"rabbitmq/vhost/{vhost}")
    bindings = rabbitmq_api.get(f"/api/bindings/{quote(vhost, safe='')}").json()
    assert {(b["source"], b["destination"], b["destination_type"]) for b in bindings if b["source"]} == {
        ("orders", "billing", "queue"), ("orders", "shipping", "queue"), ("orders", "audit", "exchange"),
        ("audit", "archive", "queue")}


def test_a_binding_waits_for_its_queue_to_be_replaced(tmp_path: Path, vhost: str, batches: list[list[str]]) -> None:
    _apply(tmp_path, _document(vhost))
    batches.clear()
    planned = _apply(tmp_path, _document(vhost, priority=9))  # max_priority: the queue is replaced
    queue = f"rabbitmq/{vhost}/queue/billing"
    binding = next(a for a in planned if "/binding/" in a and "billing" in a)
    assert sorted(planned) == sorted([queue, binding])
    assert batches == [[queue], [binding]]
