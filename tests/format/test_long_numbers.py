"""Numbers written as text of any length (a stream id, a duration, a Kafka config, a RabbitMQ max age) and
policy priorities of any JSON number: validate answers in one located sentence, never "failed
unexpectedly", and says what the broker takes as it takes it."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from topology.cli import app
from topology.core.units import parse_duration, parse_size

_LONG = "9" * 5000  # beyond the 4,300 digits Python turns into an int from text


def _validate(tmp_path: Path, text: str) -> tuple[int, str]:
    path = tmp_path / "t.topology.yaml"
    path.write_text(text)
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert "unexpectedly" not in result.output and "Traceback" not in result.output, result.output
    return result.exit_code, result.output


_RABBIT = """version: 1
targets:
  r: {{kind: rabbitmq, url: "amqp://guest:guest@127.0.0.1:1/"}}
rabbitmq:
  target: r
  vhosts:
    v:
{body}
"""


@pytest.mark.parametrize(("text", "located"), [
    ("""version: 1
targets:
  r: {kind: redis, url: "redis://127.0.0.1:1/0"}
redis:
  target: r
  streams:
    s: {groups: {g: {start: "LONG-0"}}}
""", "redis.streams.s.groups.g.start: '999"),
    ("""version: 1
targets:
  r: {kind: kafka, bootstrap_servers: "127.0.0.1:1"}
kafka:
  target: r
  topics:
    t: {partitions: 1, replication_factor: 1, config: {retention.ms: "LONG"}}
""", "more digits than any number Kafka takes"),
    ("""version: 1
targets:
  r: {kind: kafka, bootstrap_servers: "127.0.0.1:1"}
kafka:
  target: r
  topics:
    t: {partitions: 1, replication_factor: 1, config: {retention.ms: "LONGms"}}
""", "kafka.topics.t.config[\"retention.ms\"]: retention.ms: '999"),
    (_RABBIT.format(body='      queues: {q: {message_ttl: "LONGs"}}'), "queues.q.message_ttl: '999"),
    (_RABBIT.format(body='      federation_upstreams: {u: {uri: "amqp://h", expires: "LONGms"}}'),
     "federation_upstreams.u.expires: '999"),
    (_RABBIT.format(body='      policies: {p: {pattern: ".*", priority: .inf, definition: {max-length: 1}}}'),
     "policies.p.priority"),
    (_RABBIT.format(body='      policies: {p: {pattern: ".*", priority: .nan, definition: {max-length: 1}}}'),
     "policies.p.priority"),
])
def test_a_number_no_broker_takes_is_one_located_sentence(tmp_path: Path, text: str, located: str) -> None:
    code, output = _validate(tmp_path, text.replace("LONG", _LONG))
    assert code == 1, output
    assert located in output and "1 error" in output, output


def test_a_max_age_of_any_length_is_taken_as_rabbitmq_takes_it(tmp_path: Path) -> None:
    """rabbit_amqqueue:check_max_age/1 reads the number as an Erlang integer, of any size; zero is refused."""
    long = _RABBIT.format(body=f'      policies: {{p: {{pattern: ".*", definition: {{max-age: "{_LONG}D"}}}}}}\n'
                               f'      queues: {{q: {{type: stream, max_age: "{_LONG}h"}}}}')
    assert _validate(tmp_path, long)[0] == 0
    zero = _RABBIT.format(body=f'      policies: {{p: {{pattern: ".*", definition: {{max-age: "{"0" * 5000}D"}}}}}}')
    code, output = _validate(tmp_path, zero)
    assert code == 1 and "RabbitMQ refuses max-age" in output, output


def test_policy_priorities_compare_as_numbers(tmp_path: Path) -> None:
    """RabbitMQ orders policies by priority as numbers: 1.5 is above 1, so its alternate exchange applies
    (read as whole numbers, both were 1 and the alternate exchange was said to be unknown)."""
    path = tmp_path / "t.topology.yaml"
    path.write_text("""version: 1
rabbitmq:
  vhosts:
    v:
      exchanges: {orders: {type: direct}, high: {type: fanout}, low: {type: fanout}}
      queues:
        caught-high: {bindings: [{exchange: high}]}
        caught-low: {bindings: [{exchange: low}]}
      policies:
        above: {pattern: "^orders$", apply_to: exchanges, priority: 1.5, definition: {alternate-exchange: high}}
        below: {pattern: "^orders$", apply_to: exchanges, priority: 1, definition: {alternate-exchange: low}}
expectations:
  - publish: {vhost: v, exchange: orders, routing_key: nowhere}
    delivered_to: [caught-high]
""")
    result = CliRunner().invoke(app, ["test", str(path)])
    assert result.exit_code == 0, result.output
    assert "1 of 1 expectation hold" in result.output, result.output


@pytest.mark.parametrize(("parse", "text", "value"), [
    (parse_duration, "9007199254740993ms", 9007199254740993),  # past a float's 2^53: exact
    (parse_duration, "1.1s", 1100), (parse_duration, "1.5h", 5_400_000), (parse_size, "0.5KiB", 512),
    (parse_size, "9007199254740993", 9007199254740993),
])
def test_units_are_read_exactly(parse: object, text: str, value: int) -> None:
    assert parse(text) == value  # type: ignore[operator]
