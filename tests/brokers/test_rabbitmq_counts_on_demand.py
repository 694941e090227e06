"""A plan reads a vhost's queue listing (the broker works out every queue's statistics for it) only where it
changes something: a no-op plan reads none, and a change in one vhost reads that vhost's alone. What a
change puts at risk is still counted, as before."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

from tests.conftest import AMQP_URL, RABBITMQ_URL, unique
from topology.brokers.rabbitmq.driver import RabbitMQDriver
from topology.engine.plan import Plan
from topology.engine.session import Engine

pytestmark = pytest.mark.rabbitmq


@pytest.fixture
def two_vhosts(rabbitmq_api: Any) -> Iterator[tuple[str, str]]:
    names = (unique("counts-a"), unique("counts-b"))
    yield names
    for name in names:
        rabbitmq_api.delete(f"/api/vhosts/{quote(name, safe='')}")


@pytest.fixture
def listed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The vhosts whose queue listing the driver reads, in order (the real reads still run)."""
    seen: list[str] = []
    original = RabbitMQDriver._queues

    def recording(self: RabbitMQDriver, vhost: str) -> Any:
        seen.append(vhost)
        return original(self, vhost)

    monkeypatch.setattr(RabbitMQDriver, "_queues", recording)
    return seen


def _document(a: str, b: str, a_queues: str = "work: {}", priority: int = 5) -> str:
    return f"""version: 1
targets:
  rabbit: {{kind: rabbitmq, url: "{RABBITMQ_URL}"}}
rabbitmq:
  target: rabbit
  vhosts:
    {a}:
      queues: {{{a_queues}}}
    {b}:
      queues:
        held: {{max_priority: {priority}}}
"""


def _plan(folder: Path, text: str) -> Plan:
    path = folder / "counts.topology.yaml"
    path.write_text(text)
    with Engine([str(path)]) as engine:
        return engine.plan()


def _applied(folder: Path, a: str, b: str) -> None:
    path = folder / "counts.topology.yaml"
    path.write_text(_document(a, b))
    with Engine([str(path)]) as engine:
        assert engine.apply(engine.plan()).ok


def _fill(vhost: str, queue: str, count: int) -> None:
    import pika

    parameters = pika.URLParameters(f"amqp://{urlsplit(AMQP_URL).netloc}/{quote(vhost, safe='')}")
    with pika.BlockingConnection(parameters) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        for index in range(count):
            channel.basic_publish("", queue, f"message {index}".encode())


def test_only_a_vhost_with_a_change_has_its_queues_listed(tmp_path: Path, two_vhosts: tuple[str, str],
                                                          listed: list[str]) -> None:
    a, b = two_vhosts
    _applied(tmp_path, a, b)
    listed.clear()
    assert _plan(tmp_path, _document(a, b)).is_empty
    assert listed == []
    plan = _plan(tmp_path, _document(a, b, "work: {}, more: {}"))
    assert [c.address for c in plan.changes] == [f"rabbitmq/{a}/queue/more"]
    assert listed == [a]


def test_what_a_change_puts_at_risk_is_still_counted(tmp_path: Path, two_vhosts: tuple[str, str],
                                                     listed: list[str]) -> None:
    a, b = two_vhosts
    _applied(tmp_path, a, b)
    _fill(b, "held", 3)
    listed.clear()
    plan = _plan(tmp_path, _document(a, b, priority=9))  # max_priority: the queue is replaced
    change = next(c for c in plan.changes if c.address == f"rabbitmq/{b}/queue/held")
    assert (change.action, change.messages, change.loses_data) == ("replace", 3, True)
    assert listed and set(listed) == {b}
