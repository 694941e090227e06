"""Monitoring end to end, as an operator runs it: the topology is applied, `topology exporter` serves the real
RabbitMQ and Kafka, the running Prometheus (`scripts/brokers up prometheus`) scrapes it and evaluates the
rules `topology alerts` generated. Messages rejected into the real dead-letter queue and a consumer group
left behind make the generated alerts fire, as Prometheus' HTTP API reports them; once the dead-letter
queue is drained, its alert resolves."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.brokers.test_exporter import Exporter, until
from tests.cli import with_file
from tests.conftest import AMQP_URL, KAFKA_BOOTSTRAP, RABBITMQ_URL, unique

pytestmark = [pytest.mark.rabbitmq, pytest.mark.kafka]

START = "start it with `scripts/brokers up prometheus` (or run the whole suite with `make test`)"
PROMETHEUS_URL = os.environ.get("PROMETHEUS_URL", "http://127.0.0.1:9090")
_HOME = Path.home() / ".cache" / "topology" / "brokers" / "prometheus"
PROMETHEUS_RULES_DIR = Path(os.environ.get("PROMETHEUS_RULES_DIR", _HOME / "rules"))
PROMETHEUS_TARGETS_DIR = Path(os.environ.get("PROMETHEUS_TARGETS_DIR", _HOME / "targets"))
# RabbitMQ's statistics tick (5 s), the exporter's --cache, Prometheus' scrape and evaluation (1 s each).
_ALERT_WAIT_S = 90.0


def _prometheus(path: str, method: str = "GET") -> Any:
    request = urllib.request.Request(f"{PROMETHEUS_URL}{path}", method=method)
    with urllib.request.urlopen(request, timeout=10) as response:
        body = response.read()
    return json.loads(body) if body.startswith(b"{") else body


@pytest.fixture
def prometheus() -> Iterator[list[Path]]:
    """The running Prometheus; the files the test places in its folders are removed after it (and the rules
    reloaded)."""
    try:
        _prometheus("/api/v1/status/buildinfo")
    except (OSError, ValueError) as exc:
        pytest.fail(f"Prometheus is not answering at {PROMETHEUS_URL} ({exc}); {START}", pytrace=False)
    placed: list[Path] = []
    yield placed
    for path in placed:
        path.unlink(missing_ok=True)
    with contextlib.suppress(urllib.error.URLError):
        _prometheus("/-/reload", "POST")


def _place(placed: list[Path], folder: Path, name: str, text: str) -> Path:
    """Write FOLDER/NAME by renaming a finished file into place, so Prometheus never reads half of it."""
    target, staged = folder / name, folder / f".{name}.partial"
    staged.write_text(text)
    placed.append(target)
    shutil.move(staged, target)
    return target


@pytest.fixture
def names(rabbitmq_api: Any, kafka_prefix: str) -> Iterator[tuple[str, str, str]]:
    from urllib.parse import quote

    vhost = unique("e2e")
    yield vhost, f"{kafka_prefix}orders", f"{kafka_prefix}billing"
    rabbitmq_api.delete(f"/api/vhosts/{quote(vhost, safe='')}")


def _file(rabbit: str, events: str, vhost: str, topic: str, group: str) -> str:
    return f"""version: 1
targets:
  {rabbit}: {{kind: rabbitmq, url: "${{RABBITMQ_URL}}"}}
  {events}: {{kind: kafka, bootstrap_servers: "${{KAFKA_BOOTSTRAP}}"}}
monitoring:
  defaults:
    work: {{}}
rabbitmq:
  target: {rabbit}
  vhosts:
    {vhost}:
      queues:
        billing:
          dead_letter: {{}}
kafka:
  target: {events}
  topics:
    {topic}: {{partitions: 1}}
  consumer_groups:
    {group}: {{topics: [{topic}], monitor: {{max_lag: 3}}}}
"""


def _channel(vhost: str) -> Any:
    import pika

    parameters = pika.URLParameters(AMQP_URL)
    parameters.virtual_host = vhost
    return pika.BlockingConnection(parameters)


def _reject_into_dead_letters(vhost: str, count: int) -> None:
    """Publish to billing, then a consumer rejects each message without requeueing it: RabbitMQ dead-letters it."""
    connection = _channel(vhost)
    channel = connection.channel()
    for n in range(count):
        channel.basic_publish("", "billing", f"m{n}".encode())
    rejected = 0
    while rejected < count:
        method, _properties, _body = channel.basic_get("billing")
        if method is None:
            continue
        channel.basic_reject(method.delivery_tag, requeue=False)
        rejected += 1
    connection.close()


def _drain(vhost: str, queue: str) -> int:
    """Consume and acknowledge everything in `queue`, as an operator's script handling dead letters does."""
    connection = _channel(vhost)
    channel = connection.channel()
    drained = 0
    while True:
        method, _properties, _body = channel.basic_get(queue)
        if method is None:
            break
        channel.basic_ack(method.delivery_tag)
        drained += 1
    connection.close()
    return drained


def _fall_behind(topic: str, group: str, read: int, behind: int) -> None:
    """`read` records are produced and consumed by `group`, which commits them; `behind` more are produced."""
    from confluent_kafka import Consumer, Producer, TopicPartition

    producer = Producer({"bootstrap.servers": KAFKA_BOOTSTRAP, "linger.ms": 0})
    for n in range(read):
        producer.produce(topic, value=f"read {n}".encode(), partition=0)
    assert producer.flush(30) == 0
    consumer = Consumer({"bootstrap.servers": KAFKA_BOOTSTRAP, "group.id": group, "enable.auto.commit": False,
                         "auto.offset.reset": "earliest"})
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        seen = 0
        while seen < read:
            message = consumer.poll(5)
            if message is not None and message.error() is None:
                seen += 1
        consumer.commit(offsets=[TopicPartition(topic, 0, read)], asynchronous=False)
    finally:
        consumer.close()
    for n in range(behind):
        producer.produce(topic, value=f"behind {n}".encode(), partition=0)
    assert producer.flush(30) == 0


def _alerts(address: str) -> dict[str, dict[str, Any]]:
    """Prometheus' active alerts (pending or firing) on one object, by alert name."""
    alerts = _prometheus("/api/v1/alerts")["data"]["alerts"]
    return {alert["labels"]["alertname"]: alert for alert in alerts if alert["labels"].get("address") == address}


def test_generated_alerts_fire_on_real_dead_letters_and_lag_and_resolve(
        tmp_path: Path, names: tuple[str, str, str], prometheus: list[Path]) -> None:
    vhost, topic, group = names
    run = uuid.uuid4().hex[:8]
    rabbit, events = f"rabbit{run}", f"events{run}"  # this run's alerts and series, whatever else Prometheus has
    text = _file(rabbit, events, vhost, topic, group)
    env = {"RABBITMQ_URL": RABBITMQ_URL, "KAFKA_BOOTSTRAP": KAFKA_BOOTSTRAP}
    applied = with_file(tmp_path, text, "apply", "--auto-approve", "--lock-timeout", "120s", env=env)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    rules = with_file(tmp_path, text, "alerts", "--for", "0s", env=env)
    assert rules.returncode == 0, rules.stderr

    exporter = Exporter(tmp_path, text, "--cache", "1s", env=env)
    try:
        port = exporter.url.removeprefix("http://").split("/")[0]
        _place(prometheus, PROMETHEUS_TARGETS_DIR, f"test-e2e-{run}.json",
               json.dumps([{"targets": [port], "labels": {"test_run": run}}]))
        rule_file = _place(prometheus, PROMETHEUS_RULES_DIR, f"test-e2e-{run}.yml", rules.stdout)
        _prometheus("/-/reload", "POST")
        until(lambda: any(g["file"] == str(rule_file) for g in _prometheus("/api/v1/rules")["data"]["groups"]),
              "Prometheus loads the generated rules", 30)
        until(lambda: any(t["labels"].get("test_run") == run and t["health"] == "up"
                          for t in _prometheus("/api/v1/targets")["data"]["activeTargets"]),
              "Prometheus scrapes the exporter", 30)

        dlq, lagging = f"rabbitmq/{vhost}/queue/billing.dlq", f"kafka/group/{group}"
        assert _alerts(dlq) == {} and _alerts(lagging) == {}  # nothing breached yet: nothing fires
        _reject_into_dead_letters(vhost, 4)
        _fall_behind(topic, group, read=2, behind=5)  # 5 records behind; max_lag 3

        def firing() -> dict[str, dict[str, Any]] | None:
            dead, lag = _alerts(dlq).get("TopologyDeadLettersWaiting"), _alerts(lagging).get("TopologyConsumerLagHigh")
            return {"dead": dead, "lag": lag} if dead and lag and dead["state"] == lag["state"] == "firing" else None

        fired = until(firing, "Prometheus reports the generated alerts as firing", _ALERT_WAIT_S)
        dead, lag = fired["dead"], fired["lag"]
        assert dead["labels"] | {"target": rabbit, "broker": "rabbitmq", "role": "dead_letter", "limit": "max_depth"} \
            == dead["labels"]
        assert float(dead["value"]) == 4
        assert "4 messages waiting (limit max_depth: 0)" in dead["annotations"]["summary"]
        assert lag["labels"]["topic"] == topic and lag["labels"]["target"] == events
        assert float(lag["value"]) == 5
        assert "t.topology.yaml:20" in lag["annotations"]["description"]  # the line declaring max_lag

        assert _drain(vhost, "billing.dlq") == 4
        until(lambda: "TopologyDeadLettersWaiting" not in _alerts(dlq),
              "the dead-letter queue's alert resolves once it is drained", _ALERT_WAIT_S)
        assert _alerts(lagging)["TopologyConsumerLagHigh"]["state"] == "firing"  # still 5 records behind
    finally:
        assert exporter.stop() == 0, exporter.said()
