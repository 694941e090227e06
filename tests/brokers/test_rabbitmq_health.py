"""RabbitMQ's live health on the real broker: ready and unacknowledged messages, consumers and message age
of queues that pika fills, holds, consumes and dead-letters; missing queues and vhosts; a target that is down.

The management API's figures are the broker's statistics, refreshed every `collect_statistics_interval`
(1 s on the test broker, 5 s by RabbitMQ's default): each test polls `Driver.health` until the figures it
made appear, within a deadline of several intervals, then asserts every figure of every queue.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

from tests.cli import with_file
from tests.conftest import AMQP_URL, RABBITMQ_URL, unique
from topology.brokers.rabbitmq.driver import RabbitMQDriver
from topology.core.monitor import Reading, Watch
from topology.format.compile import Topology, compile_topology
from topology.monitor.read import Reader

pytestmark = pytest.mark.rabbitmq

_SETTLE = 30.0  # seconds: several statistics intervals, even at RabbitMQ's default of 5 s


@pytest.fixture
def vhost(rabbitmq_api: Any) -> Iterator[str]:
    name = unique("health")
    yield name
    rabbitmq_api.delete(f"/api/vhosts/{quote(name, safe='')}")


def _document(vhost: str) -> str:
    return f"""version: 1
targets:
  rabbit: {{kind: rabbitmq, url: "${{RABBITMQ_URL}}"}}
rabbitmq:
  target: rabbit
  vhosts:
    {vhost}:
      queues:
        orders:
          dead_letter: {{}}
          monitor: {{max_depth: 5, max_unacked: 0, max_age: 1m, min_consumers: 1}}
        stamped: {{}}
        plain: {{}}
        votes: {{type: quorum}}
        work: {{}}
        idle: {{}}
"""


def _applied(folder: Path, vhost: str) -> Topology:
    applied = with_file(folder, _document(vhost), "apply", "--auto-approve", "--lock-timeout", "120s",
                        env={"RABBITMQ_URL": RABBITMQ_URL})
    assert applied.returncode == 0, applied.stdout + applied.stderr
    topology = compile_topology([str(folder / "t.topology.yaml")], environ={"RABBITMQ_URL": RABBITMQ_URL})
    topology.raise_for_errors()
    return topology


def _connection(vhost: str) -> Any:
    import pika

    parts = urlsplit(AMQP_URL)
    return pika.BlockingConnection(pika.URLParameters(f"{parts.scheme}://{parts.netloc}/{quote(vhost, safe='')}"))


def _properties(timestamp: int | None = None) -> Any:
    import pika

    return pika.BasicProperties(timestamp=timestamp, delivery_mode=2)


def _get(channel: Any, queue: str) -> Any:
    """One message by basic.get, not acknowledged; waits (bounded) for it to be routable."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        method, _properties, _body = channel.basic_get(queue)
        if method is not None:
            return method
        time.sleep(0.05)
    raise AssertionError(f"no message in {queue} within 10s")


def _by_name(readings: Sequence[Reading]) -> dict[str, Reading]:
    return {r.address.rsplit("/", 1)[-1]: r for r in readings}


def _figures(readings: Mapping[str, Reading]) -> dict[str, dict[str, float]]:
    """The counted metrics (age apart: it grows) of each queue."""
    return {name: {k: v for k, v in r.metrics.items() if k != "age_seconds"} for name, r in readings.items()}


def _settled(read: Callable[[], list[Reading]], want: Mapping[str, Mapping[str, float]],
             pump: Callable[[], None] = lambda: None) -> dict[str, Reading]:
    """Readings once the broker's statistics show `want` (the counted metrics of those queues), or the last
    ones after the deadline: the caller asserts them."""
    deadline = time.monotonic() + _SETTLE
    while True:
        pump()
        readings = _by_name(read())
        figures = _figures(readings)
        if all(figures.get(name) == dict(metrics) for name, metrics in want.items()) or \
                time.monotonic() > deadline:
            return readings
        time.sleep(0.2)


def test_health_reads_depth_unacked_consumers_and_age(tmp_path: Path, vhost: str) -> None:
    topology = _applied(tmp_path, vhost)
    watches = topology.watches()
    assert {w.name for w in watches} == {"orders", "orders.dlq", "stamped", "plain", "votes", "work", "idle"}
    now = int(time.time())
    with _connection(vhost) as publisher, _connection(vhost) as holder, _connection(vhost) as consumer:
        channel = publisher.channel()
        channel.confirm_delivery()
        for age in (120, 60, 10):
            channel.basic_publish("", "stamped", b"s", _properties(now - age))
        channel.basic_publish("", "plain", b"p", _properties())
        channel.basic_publish("", "plain", b"p", _properties(now - 30))  # only the oldest message counts
        channel.basic_publish("", "votes", b"v", _properties(now - 30))
        for _ in range(4):
            channel.basic_publish("", "orders", b"o", _properties(now - 90))
        for _ in range(5):
            channel.basic_publish("", "work", b"w", _properties(now - 5))

        # orders: three taken by basic.get and not acknowledged, one of them rejected into orders.dlq
        held = holder.channel()
        taken = [_get(held, "orders") for _ in range(3)]
        held.basic_reject(taken[0].delivery_tag, requeue=False)

        # work: a consumer with prefetch 2 that never acknowledges; idle: a consumer and no messages
        consuming = consumer.channel()
        consuming.basic_qos(prefetch_count=2)
        consuming.basic_consume("work", lambda *args: None)
        consuming.basic_consume("idle", lambda *args: None)

        with RabbitMQDriver(RABBITMQ_URL) as driver:
            readings = _settled(lambda: driver.health(watches), {
                "orders": {"depth": 1, "unacked": 2, "consumers": 0},
                "orders.dlq": {"depth": 1, "unacked": 0, "consumers": 0},
                "stamped": {"depth": 3, "unacked": 0, "consumers": 0},
                "plain": {"depth": 2, "unacked": 0, "consumers": 0},
                "votes": {"depth": 1, "unacked": 0, "consumers": 0},
                "work": {"depth": 3, "unacked": 2, "consumers": 1},
                "idle": {"depth": 0, "unacked": 0, "consumers": 1},
            }, pump=lambda: consumer.process_data_events(time_limit=0))
            read_at = time.time()

        assert _figures(readings) == {
            "orders": {"depth": 1, "unacked": 2, "consumers": 0},
            "orders.dlq": {"depth": 1, "unacked": 0, "consumers": 0},
            "stamped": {"depth": 3, "unacked": 0, "consumers": 0},
            "plain": {"depth": 2, "unacked": 0, "consumers": 0},
            "votes": {"depth": 1, "unacked": 0, "consumers": 0},
            "work": {"depth": 3, "unacked": 2, "consumers": 1},
            "idle": {"depth": 0, "unacked": 0, "consumers": 1},
        }
        # the oldest message's timestamp against now (whole seconds, read within the deadline)
        late = read_at - now
        assert 120 <= readings["stamped"].metrics["age_seconds"] <= 121 + late
        assert 90 <= readings["orders"].metrics["age_seconds"] <= 91 + late
        assert 5 <= readings["work"].metrics["age_seconds"] <= 6 + late
        # the dead-lettered message keeps its timestamp; an empty queue is 0 old
        assert 90 <= readings["orders.dlq"].metrics["age_seconds"] <= 91 + late
        assert readings["idle"].metrics["age_seconds"] == 0
        assert "age_seconds" not in readings["plain"].metrics
        assert readings["plain"].notes == ("message age unknown: the oldest message carries no timestamp (or is "
                                           "paged out to disk)",)
        assert "age_seconds" not in readings["votes"].metrics
        assert readings["votes"].notes == ("message age unknown: quorum queues do not report it",)
        assert not any(r.missing for r in readings.values())
        assert all(not r.notes for name, r in readings.items() if name not in ("plain", "votes"))


def test_missing_queues_and_vhosts_are_reported_missing(vhost: str, rabbitmq_api: Any) -> None:
    rabbitmq_api.put(f"/api/vhosts/{quote(vhost, safe='')}").raise_for_status()
    gone = unique("health-gone")

    def watch(scope: str, name: str) -> Watch:
        return Watch(f"rabbitmq/{scope}/queue/{name}", "rabbitmq.queue", name, scope, "rabbit", "work")

    with RabbitMQDriver(RABBITMQ_URL) as driver:
        readings = driver.health([watch(vhost, "nope"), watch(gone, "a"), watch(gone, "b")])
    assert readings == [Reading(f"rabbitmq/{vhost}/queue/nope", {}, missing=True),
                        Reading(f"rabbitmq/{gone}/queue/a", {}, missing=True),
                        Reading(f"rabbitmq/{gone}/queue/b", {}, missing=True)]


def test_a_queue_too_new_for_statistics_is_counted_by_a_passive_declare(vhost: str, rabbitmq_api: Any) -> None:
    rabbitmq_api.put(f"/api/vhosts/{quote(vhost, safe='')}").raise_for_status()
    with _connection(vhost) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        # The broker lists a new queue at once and its statistics a statistics interval later: read in between
        # (another queue for each try, a few tries at most, in case this machine is slow to get there).
        for attempt in range(5):
            name = f"fresh-{attempt}"
            channel.queue_declare(name)
            for _ in range(2):
                channel.basic_publish("", name, b"f", _properties(int(time.time()) - 60))
            watch = Watch(f"rabbitmq/{vhost}/queue/{name}", "rabbitmq.queue", name, vhost, "rabbit", "work")
            with RabbitMQDriver(RABBITMQ_URL) as driver:
                [reading] = driver.health([watch])
            if "unacked" not in reading.metrics:
                break
        assert reading.notes == ("unacknowledged messages unknown: the broker has no statistics for the queue yet",
                                 "message age unknown: the broker has no statistics for the queue yet")
        assert reading.metrics == {"depth": 2, "consumers": 0}


def test_reader_reports_breaches_and_a_deleted_queue(tmp_path: Path, vhost: str, rabbitmq_api: Any) -> None:
    topology = _applied(tmp_path, vhost)
    rabbitmq_api.delete(f"/api/queues/{quote(vhost, safe='')}/idle").raise_for_status()
    with _connection(vhost) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        for _ in range(3):
            channel.basic_publish("", "orders", b"o", _properties(int(time.time()) - 600))
            channel.basic_reject(_get(channel, "orders").delivery_tag, requeue=False)  # into orders.dlq

    with Reader(topology, environ={"RABBITMQ_URL": RABBITMQ_URL}) as reader:
        deadline = time.monotonic() + _SETTLE
        while True:
            health = reader.read()
            rows = {row.watch.name: row for row in health.rows()}
            settled = rows["orders.dlq"].metrics.get("depth") == 3 and \
                (rows["orders"].metrics.get("depth"), rows["orders"].metrics.get("unacked")) == (0, 0)
            if settled or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert health.errors == {}
    assert rows["orders.dlq"].state == "breach"
    assert [(b.limit, b.measured, b.value) for b in rows["orders.dlq"].breaches] == [("max_depth", 3, 0)]
    assert rows["orders"].state == "breach"  # no consumer: min_consumers 1
    assert [(b.limit, b.measured) for b in rows["orders"].breaches] == [("min_consumers", 0)]
    assert rows["orders"].metrics["depth"] == 0 and rows["orders"].metrics["age_seconds"] == 0
    assert rows["idle"].missing and rows["idle"].notes == ()
    assert rows["idle"].state == "missing" and rows["idle"].unknown == ("min_consumers",)
    # worst first: 3 messages past a limit of 0, then one consumer short (by address), then the queue deleted
    assert [row.watch.name for row in health.rows()] == ["orders.dlq", "orders", "plain", "stamped", "votes", "work",
                                                         "idle"]


def test_a_target_that_is_down_is_reported_not_raised(tmp_path: Path, vhost: str) -> None:
    path = tmp_path / "t.topology.yaml"
    path.write_text(_document(vhost))
    topology = compile_topology([str(path)], environ={"RABBITMQ_URL": RABBITMQ_URL})
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with Reader(topology, target_urls={"rabbit": f"http://ops:hunter2@127.0.0.1:{port}"}, environ={}) as reader:
        health = reader.read()
    assert health.readings == []
    assert list(health.errors) == ["rabbit"]
    assert health.errors["rabbit"].startswith(f"RabbitMQ at http://ops:***@127.0.0.1:{port} is not reachable "
                                              "(connection refused)")
    assert "hunter2" not in health.errors["rabbit"]
    rows = health.rows()
    assert len(rows) == 7 and all(row.state == "error" for row in rows)
