"""Loader and expansion rules: units, ${VAR}, --var, environments, several files, naming."""

from __future__ import annotations

from pathlib import Path

import pytest

from topology.core.units import format_duration, parse_duration, parse_size
from topology.format.compile import compile_topology


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(("text", "ms"), [("500ms", 500), ("30s", 30_000), ("5m", 300_000), ("2h", 7_200_000),
                                          ("7d", 604_800_000), (1500, 1500), ("1.5s", 1500), ("90", 90)])
def test_durations(text: object, ms: int) -> None:
    assert parse_duration(text) == ms


@pytest.mark.parametrize(("text", "size"), [("512KiB", 524_288), ("1GiB", 1_073_741_824), ("10MB", 10_000_000),
                                            (2048, 2048), ("1MiB", 1_048_576)])
def test_sizes(text: object, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("bad", ["5 minutes", "-1s", "1.0001ms", True, "", "s"])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_format_duration_names_delays_canonically() -> None:
    assert [format_duration(v) for v in (5000, 30_000, 300_000, 3_600_000, 86_400_000, 1500)] == [
        "5s", "30s", "5m", "1h", "1d", "1500ms"]


def test_format_example_expansion(tmp_path: Path) -> None:
    """The expansion FORMAT.md describes for `billing`, attribute for attribute."""
    path = _write(tmp_path, "t.topology.yaml", """version: 1
rabbitmq:
  vhosts:
    shop:
      exchanges: {orders: {type: topic}}
      queues:
        billing:
          type: quorum
          bindings: [{exchange: orders, routing_key: "order.*"}]
          dead_letter: {queue: billing.dlq}
          retry: {delays: [5s, 30s, 5m]}
""")
    topology = compile_topology([path])
    assert topology.errors == []
    queues = {r.name: r.attributes for r in topology.resources.values() if r.kind == "rabbitmq.queue"}
    assert sorted(queues) == ["billing", "billing.dlq", "billing.retry.30s", "billing.retry.5m", "billing.retry.5s"]
    assert queues["billing"]["arguments"] == {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "billing.dlq"}
    assert queues["billing.dlq"]["type"] == "quorum"
    assert queues["billing.retry.30s"] == {"type": "quorum", "durable": True, "auto_delete": False, "arguments": {
        "x-message-ttl": 30_000, "x-dead-letter-exchange": "", "x-dead-letter-routing-key": "billing"}}
    binding = topology.resources["rabbitmq/shop/binding/orders->billing[order.*]"]
    assert binding.depends_on == ("rabbitmq/vhost/shop", "rabbitmq/shop/queue/billing", "rabbitmq/shop/exchange/orders")


def test_declared_dead_letter_queue_wins_over_the_generated_one(tmp_path: Path) -> None:
    path = _write(tmp_path, "t.topology.yaml", """version: 1
rabbitmq:
  vhosts:
    shop:
      queues:
        billing: {type: quorum, dead_letter: {}}
        billing.dlq: {type: classic, max_length: 10}
""")
    topology = compile_topology([path])
    dlq = topology.resources["rabbitmq/shop/queue/billing.dlq"]
    assert (dlq.generated_by, dlq.attributes["type"]) == (None, "classic")
    assert dlq.attributes["arguments"] == {"x-max-length": 10}


def test_environment_variables_defaults_and_escapes(tmp_path: Path) -> None:
    path = _write(tmp_path, "t.topology.yaml", """version: 1
targets:
  rabbit: {kind: rabbitmq, url: "${RABBIT:-http://localhost:15672}"}
  cache: {kind: redis, url: "redis://${REDIS_HOST}:6379/$$0"}
""")
    topology = compile_topology([path], environ={"REDIS_HOST": "cache.internal"})
    assert topology.errors == []
    assert topology.targets["rabbit"].url == "http://localhost:15672"  # type: ignore[union-attr]
    assert topology.targets["cache"].url == "redis://cache.internal:6379/$0"  # type: ignore[union-attr]
    missing = compile_topology([path], environ={})  # a target's connection value: needed only to contact it
    assert missing.errors == []
    assert [str(u.problem) for f in missing.files for u in f.unset] == [
        f"{path}:4:29 targets.cache.url: environment variable REDIS_HOST is not set "
        "(export REDIS_HOST, or write ${REDIS_HOST:-default} to give a default)"]


def test_unknown_environment_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "t.topology.yaml", "version: 1\nenvironments:\n  prod: {}\n")
    assert compile_topology([path], env="prod").errors == []
    [problem] = compile_topology([path], env="staging").errors
    assert problem.message.startswith("environment `staging` is not defined") and problem.hint == "defined: prod"


def test_files_merge_and_references_cross_files(tmp_path: Path) -> None:
    exchanges = _write(tmp_path, "a.topology.yaml", """version: 1
rabbitmq:
  vhosts:
    shop:
      exchanges: {orders: {type: topic}}
""")
    queues = _write(tmp_path, "b.topology.yaml", """version: 1
rabbitmq:
  vhosts:
    shop:
      queues:
        billing: {bindings: [{exchange: orders, routing_key: "#"}]}
""")
    topology = compile_topology([exchanges, queues])
    assert topology.errors == []
    assert "rabbitmq/shop/exchange/orders" in topology.resources
    assert "rabbitmq/shop/binding/orders->billing[#]" in topology.resources
    alone = compile_topology([queues])
    assert [p.message for p in alone.errors] == ["exchange `orders` is not declared in vhost `shop`"]


def test_naming_templates(tmp_path: Path) -> None:
    path = _write(tmp_path, "t.topology.yaml", """version: 1
naming:
  rabbitmq_retry_queue: "retry.{{ delay }}.{{ queue }}"
  sqs_dead_letter_queue: "{{ queue }}-parking"
  kafka_dead_letter_topic: "{{ topic | replace('.', '-') }}-dead"
kafka:
  topics:
    shop.orders: {dead_letter: true}
rabbitmq:
  vhosts:
    /:
      queues:
        work: {retry: {delays: [1m]}}
sqs:
  queues:
    jobs.fifo: {fifo: true, dead_letter: {}}
""")
    topology = compile_topology([path])
    assert topology.errors == []
    assert "rabbitmq///queue/retry.1m.work" in topology.resources
    assert "kafka/topic/shop-orders-dead" in topology.resources
    assert topology.resources["sqs/queue/jobs-parking.fifo"].attributes["FifoQueue"] is True
    assert topology.resources["sqs/queue/jobs.fifo"].attributes["RedrivePolicy"] == {
        "deadLetterQueue": "jobs-parking.fifo", "maxReceiveCount": 5}


def test_subscription_gives_the_queue_a_policy_and_groups_read_retry_topics(tmp_path: Path) -> None:
    path = _write(tmp_path, "t.topology.yaml", """version: 1
sqs:
  queues: {billing: {}}
sns:
  topics:
    a: {subscriptions: [{queue: billing}]}
    b: {subscriptions: [{queue: billing}, {queue: "arn:aws:sqs:us-east-1:123456789012:elsewhere"}]}
kafka:
  topics:
    orders: {retry: {delays: [1m]}}
  consumer_groups:
    billing: {topics: [orders]}
""")
    topology = compile_topology([path])
    assert topology.errors == []
    assert topology.resources["sqs/queue/billing"].attributes["allow_sns_topics"] == ["a", "b"]
    assert topology.resources["kafka/group/billing"].attributes["topics"] == ["orders", "orders.retry.1m"]


def test_kafka_config_is_normalised_to_what_kafka_stores(tmp_path: Path) -> None:
    path = _write(tmp_path, "t.topology.yaml", """version: 1
kafka:
  topics:
    t:
      config: {retention.ms: 7d, max.message.bytes: 1MiB, cleanup.policy: "delete,compact",
               unclean.leader.election.enable: false, min.insync.replicas: 2, retention.bytes: -1}
""")
    config = compile_topology([path]).resources["kafka/topic/t"].attributes["config"]
    assert config == {"retention.ms": "604800000", "max.message.bytes": "1048576", "cleanup.policy": "compact,delete",
                      "unclean.leader.election.enable": "false", "min.insync.replicas": "2", "retention.bytes": "-1"}


def test_dot_underscore_collision_is_a_warning(tmp_path: Path) -> None:
    path = _write(tmp_path, "t.topology.yaml", "version: 1\nkafka:\n  topics:\n    a.b: {}\n    a_b: {}\n")
    topology = compile_topology([path])
    assert topology.errors == []
    assert [p.severity for p in topology.problems] == ["warning"]
    assert "differ only in `.` and `_`" in topology.problems[0].message


def test_kafka_retry_and_dead_letter_topics_take_their_own_config(tmp_path: Path) -> None:
    path = _write(tmp_path, "t.topology.yaml", """version: 1
kafka:
  topics:
    orders:
      partitions: 6
      config: {retention.ms: 7d, cleanup.policy: delete}
      retry: {delays: [1m], config: {retention.ms: 1d}}
      dead_letter: {config: {retention.ms: 30d}}
""")
    resources = compile_topology([path]).resources
    assert resources["kafka/topic/orders.retry.1m"].attributes == {
        "partitions": 6, "config": {"retention.ms": "86400000", "cleanup.policy": "delete"}}
    assert resources["kafka/topic/orders.dlt"].attributes["config"] == {
        "retention.ms": "2592000000", "cleanup.policy": "delete"}
