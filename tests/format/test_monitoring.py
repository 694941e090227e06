"""`monitor:` limits and `monitoring.defaults`: validated like the rest of the file (units, located errors,
did-you-mean), merged by role over the built-in defaults, shown by `render`, and never part of a plan."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from topology.cli import app
from topology.core.monitor import BUILT_IN_DEFAULTS, LIMITS, Reading, evaluate
from topology.engine.digest import source_digest
from topology.format.compile import Topology, compile_topology

_FILE = """version: 1
monitoring:
  defaults:
    dead_letter: {max_depth: 5}
    retry:       {max_depth: 200, max_age: 10m}
rabbitmq:
  vhosts:
    shop:
      queues:
        billing:
          dead_letter: {}
          retry: {delays: [10s, 1m]}
          monitor: {max_depth: 50000, max_unacked: 1000, max_age: 5m, min_consumers: 2}
        audit: {}
kafka:
  topics:
    shop.orders: {partitions: 3, retry: {delays: [30s]}}
  consumer_groups:
    billing: {topics: [shop.orders], monitor: {max_lag: 100000, max_lag_time: 2m}}
sqs:
  queues:
    billing: {monitor: {max_depth: 10000, max_in_flight: 500}, dead_letter: {}}
redis:
  streams:
    orders:
      monitor: {max_length: 90000}
      dead_letter: true
      groups:
        billing: {start: "$", monitor: {max_lag: 5000, max_pending: 100, max_lag_time: 1m}}
"""


def _compile(tmp_path: Path, *texts: str) -> Topology:
    paths = []
    for index, text in enumerate(texts):
        path = tmp_path / f"t{index}.topology.yaml"
        path.write_text(text)
        paths.append(str(path))
    return compile_topology(paths)


def _limits(topology: Topology) -> dict[str, dict[str, int]]:
    return {w.address: {k: v.value for k, v in w.limits.items()} for w in topology.watches()}


def test_limits_by_role_defaults_and_the_objects_own(tmp_path: Path) -> None:
    topology = _compile(tmp_path, _FILE)
    assert topology.problems == []
    roles = {w.address: w.role for w in topology.watches()}
    assert roles["rabbitmq/shop/queue/billing.dlq"] == "dead_letter"
    assert roles["rabbitmq/shop/queue/billing.retry.1m"] == "retry"
    assert roles["redis/group/orders:dlq/dlq"] == "dead_letter"
    assert roles["kafka/group/billing"] == "group" and roles["redis/stream/orders"] == "stream"
    limits = _limits(topology)
    assert limits["rabbitmq/shop/queue/billing"] == {"min_consumers": 2, "max_depth": 50000, "max_unacked": 1000,
                                                    "max_age": 300_000}
    assert limits["rabbitmq/shop/queue/billing.dlq"] == {"max_depth": 5}  # the file's default, not the built-in 0
    assert limits["rabbitmq/shop/queue/billing.retry.10s"] == {"max_depth": 200, "max_age": 600_000}
    assert limits["rabbitmq/shop/queue/audit"] == BUILT_IN_DEFAULTS["work"]  # the role the file left alone
    assert limits["sqs/queue/billing"] == {"max_depth": 10000, "max_in_flight": 500}  # min_consumers: not SQS's
    assert limits["redis/group/orders:dlq/dlq"] == {"max_depth": 5}
    assert limits["kafka/group/billing"] == {"max_lag": 100000, "max_lag_time": 120_000}
    group = next(w for w in topology.watches() if w.address == "kafka/group/billing")
    assert group.topics == ("shop.orders", "shop.orders.retry.30s")


def test_each_limit_says_where_it_was_declared(tmp_path: Path) -> None:
    topology = _compile(tmp_path, _FILE)
    watches = {w.address: w for w in topology.watches()}
    own = watches["rabbitmq/shop/queue/billing"].limits["max_age"]
    assert own.where is not None and own.where.line == 13 and own.default is None
    default = watches["rabbitmq/shop/queue/billing.dlq"].limits["max_depth"]
    assert default.where is not None and default.where.line == 4 and default.default == "dead_letter"
    built_in = watches["rabbitmq/shop/queue/audit"].limits["min_consumers"]
    assert built_in.where is None and built_in.default == "work"


def test_a_queue_declared_by_hand_as_the_dead_letter_queue_is_watched_as_one(tmp_path: Path) -> None:
    text = """version: 1
rabbitmq:
  vhosts:
    v:
      queues:
        work: {dead_letter: {queue: parked}}
        parked: {max_length: 100}
"""
    topology = _compile(tmp_path, text)
    assert topology.errors == []
    assert {w.address: w.role for w in topology.watches()}["rabbitmq/v/queue/parked"] == "dead_letter"


def test_bad_limits_are_located_errors(tmp_path: Path) -> None:
    text = """version: 1
rabbitmq:
  vhosts:
    v:
      queues:
        a: {monitor: {max_depth: -1}}
        b: {monitor: {max_age: 5 minutes}}
        c: {monitor: {max_dept: 10}}
        d: {monitor: {max_lag: 10}}
        e: {monitor: {max_depth: true, min_consumers: 9007199254740992}}
sqs:
  queues:
    q: {monitor: {min_consumers: 1}}
monitoring:
  defaults:
    wrok: {max_depth: 1}
"""
    topology = _compile(tmp_path, text)
    found = {(p.location.line if p.location else 0): f"{p.message} {p.hint or ''}" for p in topology.errors}
    assert set(found) == {6, 7, 8, 9, 10, 13, 16}, found
    assert "greater than or equal to 0" in found[6]
    assert "'5 minutes' is not a duration" in found[7]
    assert "unknown key `max_dept` did you mean `max_depth`?" in found[8]
    assert "unknown key `max_lag`" in found[9]  # a group's limit, not a queue's
    assert "less than or equal to 9007199254740991" in found[10]  # past 2**53 a float cannot tell n from n + 1
    assert "unknown key `min_consumers`" in found[13]  # SQS cannot count consumers
    assert "did you mean `work`?" in found[16]
    assert sum(1 for p in topology.errors if p.path.endswith("e.monitor.max_depth")) == 1  # `true` is not a count


def test_defaults_declared_differently_in_two_files_is_an_error(tmp_path: Path) -> None:
    one = "version: 1\nmonitoring: {defaults: {retry: {max_depth: 10}}}\n"
    same = _compile(tmp_path, one, one)
    assert same.errors == []
    other = _compile(tmp_path, one, "version: 1\nmonitoring: {defaults: {retry: {max_depth: 20}}}\n")
    assert [p.message for p in other.errors] == [
        f"`monitoring.defaults.retry` is declared differently in {tmp_path / 't0.topology.yaml'}"]


def test_limits_never_change_what_plan_compares(tmp_path: Path) -> None:
    own = "\n          monitor: {max_depth: 50000, max_unacked: 1000, max_age: 5m, min_consumers: 2}"
    without = _FILE.replace(own, "")
    assert without != _FILE
    assert source_digest(_compile(tmp_path, _FILE)) == source_digest(_compile(tmp_path, without))
    assert _compile(tmp_path, _FILE).resources == _compile(tmp_path, without).resources


def test_render_shows_the_limits_in_the_files_units(tmp_path: Path) -> None:
    path = tmp_path / "t.topology.yaml"
    path.write_text(_FILE)
    result = CliRunner().invoke(app, ["render", str(path)])
    assert result.exit_code == 0, result.output
    assert "    monitor:\n      role: retry\n      max_depth: 200\n      max_age: 10m\n" in result.output


def test_evaluate_puts_the_worst_breach_first() -> None:
    topology = compile_topology([], document=None)
    assert topology.watches() == []
    from topology.core.monitor import Declared, Watch

    watches = [Watch("q/a", "rabbitmq.queue", "a", "v", "t", "work", {"max_depth": Declared(10)}),
               Watch("q/b", "rabbitmq.queue", "b", "v", "t", "dead_letter", {"max_depth": Declared(0)}),
               Watch("q/c", "rabbitmq.queue", "c", "v", "t", "work", {"min_consumers": Declared(2)}),
               Watch("q/d", "rabbitmq.queue", "d", "v", "t", "work", {"max_age": Declared(60_000)})]
    readings = [Reading("q/a", {"depth": 11}), Reading("q/b", {"depth": 3}), Reading("q/c", {"consumers": 2}),
                Reading("q/d", {"depth": 0})]
    rows = evaluate(watches, readings)
    assert [(r.watch.address, r.state) for r in rows] == [
        ("q/b", "breach"), ("q/a", "breach"), ("q/d", "unknown"), ("q/c", "ok")]
    assert rows[0].breaches[0].measured == 3 and LIMITS["max_age"].threshold(60_000) == 60.0
    down = evaluate(watches[:1], [], {"t": "cannot connect"})
    assert down[0].state == "error" and down[0].error == "cannot connect"



def test_a_limit_the_broker_cannot_measure_is_a_warning(tmp_path: Path) -> None:
    """RabbitMQ reports no message age for quorum queues and streams; SQS none as an attribute at all."""
    text = """version: 1
rabbitmq:
  vhosts:
    v:
      queues:
        quorum: {type: quorum, monitor: {max_age: 5m}}
        classic: {monitor: {max_age: 5m}}
sqs:
  queues:
    q: {monitor: {max_age: 5m}}
"""
    topology = _compile(tmp_path, text)
    assert topology.errors == []
    assert [(p.location.line if p.location else 0, p.path) for p in topology.warnings] == [
        (6, "rabbitmq.vhosts.v.queues.quorum.monitor.max_age"), (10, "sqs.queues.q.monitor.max_age")]
    assert "quorum queue" in topology.warnings[0].message and "CloudWatch" in topology.warnings[1].message


def test_a_redis_dead_letter_stream_declared_by_hand_keeps_its_role(tmp_path: Path) -> None:
    text = """version: 1
redis:
  streams:
    orders: {dead_letter: true}
    orders:dlq: {groups: {dlq: {start: "0"}}}
"""
    topology = _compile(tmp_path, text)
    assert topology.errors == []
    watches = {w.address: w for w in topology.watches()}
    assert watches["redis/group/orders:dlq/dlq"].role == "dead_letter"
    assert {k: v.value for k, v in watches["redis/group/orders:dlq/dlq"].limits.items()} == {"max_depth": 0}
