"""The Kafka driver's health on the real Kafka: each watched group's lag per topic and its lag in time, from
records produced with timestamps chosen in the past and offsets committed by a real consumer that read
them (librdkafka's Producer and Consumer, never topology); and the depth of dead-letter topics, from records
produced into them and removed by the AdminClient's delete_records."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.brokers.kafka_live import KafkaLive
from tests.cli import topology as topology_cli
from tests.conftest import KAFKA_BOOTSTRAP
from tests.faults import closed_port
from topology.core.monitor import Reading, Row
from topology.format.compile import compile_topology
from topology.monitor.read import Health, Reader

pytestmark = pytest.mark.kafka

SLACK = 1.0  # seconds: the broker's clock against this process's, and the read's own duration
RECORDS = 5  # per partition


def _health(folder: Path, topics: dict[str, int], groups: dict[str, list[str]], bootstrap: str = KAFKA_BOOTSTRAP,
            timeout: str = "30s", limits: str = "max_lag: 4, max_lag_time: 1h") -> Health:
    path = folder / "t.topology.yaml"
    lines = ["version: 1", "targets:", f'  events: {{kind: kafka, bootstrap_servers: "{bootstrap}", '
             f"connect_timeout: 2s, timeout: {timeout}}}", "kafka:", "  target: events", "  topics:"]
    lines += [f"    {name}: {{partitions: {count}}}" for name, count in topics.items()]
    lines += ["  consumer_groups:"]
    lines += [f"    {name}: {{topics: [{', '.join(read)}], monitor: {{{limits}}}}}"
              for name, read in groups.items()]
    path.write_text("\n".join(lines) + "\n")
    topology = compile_topology([str(path)])
    assert not topology.errors, topology.errors
    with Reader(topology, environ={}) as reader:
        return reader.read()


def _by_part(health: Health) -> dict[tuple[str, str], Reading]:
    assert not health.errors, health.errors
    return {(reading.address.removeprefix("kafka/group/"), reading.part): reading for reading in health.readings}


def _stamp(partition: int, index: int, now_ms: int) -> int:
    """The timestamp (ms) of record `index` of `partition`: 1000 s ago, 100 s later for each record, and
    10 s later for each partition."""
    return now_ms - (1000 - 100 * index - 10 * partition) * 1000


@pytest.fixture
def produced(kafka_prefix: str) -> Iterator[tuple[str, str, str, int]]:
    """Topic `a` (3 partitions) and `b` (1 partition), each partition holding RECORDS records stamped by
    _stamp; `c` is a name no topic has. Returns the three names and the `now_ms` the stamps count from."""
    from confluent_kafka import Producer

    live = KafkaLive()
    a, b, c = f"{kafka_prefix}a", f"{kafka_prefix}b", f"{kafka_prefix}c"
    live.topic(a, 3, 1, {})
    live.topic(b, 1, 1, {})
    now_ms = int(time.time() * 1000)
    producer = Producer({"bootstrap.servers": KAFKA_BOOTSTRAP, "linger.ms": 0})
    for topic, partitions in ((a, 3), (b, 1)):
        for p in range(partitions):
            for i in range(RECORDS):
                producer.produce(topic, value=f"{p}.{i}".encode(), partition=p, timestamp=_stamp(p, i, now_ms))
    assert producer.flush(30) == 0
    yield a, b, c, now_ms
    live.close()


def _read_and_commit(group: str, positions: dict[tuple[str, int], int]) -> None:
    """A real consumer of `group` reads each partition from its start up to the given offset and commits
    what it read (the offset of the next record to read, as consumers do)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": KAFKA_BOOTSTRAP, "group.id": group, "enable.auto.commit": False,
                         "auto.offset.reset": "earliest"})
    try:
        consumer.assign([TopicPartition(t, p, 0) for (t, p) in positions])
        last: dict[tuple[str, int], int] = {}
        deadline = time.monotonic() + 30
        while any(last.get(tp, -1) + 1 < end for tp, end in positions.items()):
            assert time.monotonic() < deadline, f"the consumer read {last} of {positions} in 30 s"
            for message in consumer.consume(num_messages=100, timeout=0.5):
                assert message.error() is None, message.error()
                last[(message.topic(), message.partition())] = message.offset()
        consumer.commit(offsets=[TopicPartition(t, p, end) for (t, p), end in positions.items()],
                        asynchronous=False)
    finally:
        consumer.close()


def _age(stamp_ms: int) -> float:
    return time.time() - stamp_ms / 1000


def _assert_age(reading: Reading, stamp_ms: int, read_after: float) -> None:
    """lag_seconds is the age of the record stamped `stamp_ms`, measured between `read_after` and now."""
    measured = reading.metrics["lag_seconds"]
    assert read_after - stamp_ms / 1000 - SLACK <= measured <= _age(stamp_ms) + SLACK, (measured, stamp_ms)


def test_lag_per_topic_and_lag_in_time(tmp_path: Path, kafka_prefix: str,
                                       produced: tuple[str, str, str, int]) -> None:
    a, b, c, now_ms = produced
    behind, done, absent = f"{kafka_prefix}behind", f"{kafka_prefix}done", f"{kafka_prefix}absent"
    # `behind` read 2 records of a/0, all of a/1, none of a/2 (no offset committed there), 1 of b.
    _read_and_commit(behind, {(a, 0): 2, (a, 1): RECORDS, (b, 0): 1})
    _read_and_commit(done, {(a, 0): RECORDS, (a, 1): RECORDS, (a, 2): RECORDS, (b, 0): RECORDS})
    before = time.time()
    health = _health(tmp_path, {a: 3, b: 1, c: 1}, {behind: [a, b, c], done: [a, b], absent: [a]})
    readings = _by_part(health)

    on_a = readings[(behind, a)]
    assert on_a.metrics["lag"] == 3 + 0 + RECORDS  # a/2 has no committed offset: counted from the log start
    assert on_a.notes == ("no committed offset on 1 of 3 partitions: counted from the log start",)
    _assert_age(on_a, min(_stamp(0, 2, now_ms), _stamp(2, 0, now_ms)), before)  # the oldest unread: a/2's first
    on_b = readings[(behind, b)]
    assert on_b.metrics["lag"] == RECORDS - 1 and not on_b.notes
    _assert_age(on_b, _stamp(0, 1, now_ms), before)
    on_c = readings[(behind, c)]
    assert not on_c.metrics and on_c.missing and on_c.notes == (f"topic {c} does not exist",)

    assert readings[(done, a)].metrics == {"lag": 0.0, "lag_seconds": 0.0}
    assert readings[(done, b)].metrics == {"lag": 0.0, "lag_seconds": 0.0}
    assert readings[(absent, a)].missing and not readings[(absent, a)].metrics
    assert len(health.readings) == 6

    rows = {(r.watch.name, r.part): r for r in health.rows()}  # max_lag: 4, max_lag_time: 1h
    assert [(b.limit, b.measured) for b in rows[(behind, a)].breaches] == [("max_lag", 8.0)]
    assert rows[(behind, b)].state == "ok" and rows[(done, a)].state == "ok"
    assert rows[(absent, a)].state == "missing" and rows[(absent, a)].missing


def test_a_group_without_max_lag_time_is_not_timed(tmp_path: Path, kafka_prefix: str,
                                                  produced: tuple[str, str, str, int]) -> None:
    """The time of the first unread record costs a fetch per lagging partition: without a max_lag_time to
    check, a group that is behind has its lag and no lag_seconds; one caught up is 0 behind in time."""
    a, b, _, _ = produced
    behind, done = f"{kafka_prefix}untimed", f"{kafka_prefix}untimed-done"
    _read_and_commit(behind, {(a, 0): 2, (a, 1): RECORDS, (a, 2): RECORDS})
    _read_and_commit(done, {(b, 0): RECORDS})
    readings = _by_part(_health(tmp_path, {a: 3, b: 1}, {behind: [a], done: [b]}, limits="max_lag: 4"))
    assert readings[(behind, a)].metrics == {"lag": RECORDS - 2} and not readings[(behind, a)].notes
    assert readings[(done, b)].metrics == {"lag": 0.0, "lag_seconds": 0.0}


def test_an_offset_removed_by_retention_counts_and_its_age_is_the_first_record_after(
        tmp_path: Path, kafka_prefix: str, produced: tuple[str, str, str, int]) -> None:
    from confluent_kafka import TopicPartition

    _, b, _, now_ms = produced
    group = f"{kafka_prefix}slow"
    _read_and_commit(group, {(b, 0): 1})
    live = KafkaLive()
    deleted = live.admin.delete_records([TopicPartition(b, 0, 3)])  # records 0, 1 and 2 are gone
    assert next(iter(deleted.values())).result().low_watermark == 3
    before = time.time()
    readings = _by_part(_health(tmp_path, {b: 1}, {group: [b]}))

    reading = readings[(group, b)]
    assert reading.metrics["lag"] == RECORDS - 1  # as Kafka's own tools count it: end minus committed
    assert reading.notes == ("the committed offset on 1 of 1 partitions was already removed by retention: those "
                             "records will never be read",)
    _assert_age(reading, _stamp(0, 3, now_ms), before)  # the first record the group can still read

    _read_and_commit(group, {(b, 0): RECORDS})  # caught up
    assert _by_part(_health(tmp_path, {b: 1}, {group: [b]}))[(group, b)].metrics == {"lag": 0.0,
                                                                                     "lag_seconds": 0.0}


def test_groups_at_different_offsets_of_one_partition_each_get_their_own_age(
        tmp_path: Path, kafka_prefix: str, produced: tuple[str, str, str, int]) -> None:
    _, b, _, now_ms = produced
    groups = {f"{kafka_prefix}g{i}": i for i in range(RECORDS)}  # g0 read nothing ... g4 read all but one
    for group, read in groups.items():
        _read_and_commit(group, {(b, 0): read})
    before = time.time()
    readings = _by_part(_health(tmp_path, {b: 1}, {g: [b] for g in groups}))
    for group, read in groups.items():
        assert readings[(group, b)].metrics["lag"] == RECORDS - read
        _assert_age(readings[(group, b)], _stamp(0, read, now_ms), before)


def test_a_target_that_is_down_is_reported_not_raised(tmp_path: Path, kafka_prefix: str) -> None:
    topic, group, port = f"{kafka_prefix}a", f"{kafka_prefix}billing", closed_port()
    started = time.monotonic()
    health = _health(tmp_path, {topic: 1}, {group: [topic]}, bootstrap=f"127.0.0.1:{port}", timeout="3s")
    assert time.monotonic() - started < 20
    assert not health.readings
    error = health.errors["events"]
    assert f"Kafka at 127.0.0.1:{port} is not reachable" in error, error
    rows = health.rows()
    assert [(r.watch.address, r.state, r.error) for r in rows] == [(f"kafka/group/{group}", "error", error)]


def test_records_compressed_with_a_codec_the_fetch_cannot_decode_are_read_by_the_consumer(
        tmp_path: Path, kafka_prefix: str) -> None:
    """lz4 (which kafka-python cannot decode here) leaves the Fetch answer in doubt: librdkafka reads it."""
    from confluent_kafka import Producer

    topic, group = f"{kafka_prefix}lz4", f"{kafka_prefix}billing"
    live = KafkaLive()
    live.topic(topic, 1, 1, {})
    live.close()
    now_ms = int(time.time() * 1000)
    producer = Producer({"bootstrap.servers": KAFKA_BOOTSTRAP, "compression.type": "lz4", "linger.ms": 50})
    for i in range(RECORDS):
        producer.produce(topic, value=b"x" * 200, partition=0, timestamp=_stamp(0, i, now_ms))
    assert producer.flush(30) == 0
    _read_and_commit(group, {(topic, 0): 3})
    before = time.time()
    reading = _by_part(_health(tmp_path, {topic: 1}, {group: [topic]}))[(group, topic)]
    assert reading.metrics["lag"] == RECORDS - 3 and not reading.notes
    _assert_age(reading, _stamp(0, 3, now_ms), before)


# ------------------------------------------------------------------------------------ dead-letter topics

def _dead_letter_file(folder: Path, topic: str, *lines: str) -> Path:
    """A file whose topic `topic` (2 partitions) has a generated dead-letter topic, `<topic>.dlt`."""
    path = folder / "t.topology.yaml"
    path.write_text("\n".join([
        "version: 1", "targets:", f'  events: {{kind: kafka, bootstrap_servers: "{KAFKA_BOOTSTRAP}", '
        "connect_timeout: 2s, timeout: 30s}", "kafka:", "  target: events", "  topics:",
        f"    {topic}: {{partitions: 2, dead_letter: true}}", *lines]) + "\n")
    return path


def _read(path: Path) -> Health:
    topology = compile_topology([str(path)])
    assert not topology.errors, topology.errors
    with Reader(topology, environ={}) as reader:
        health = reader.read()
    assert not health.errors, health.errors
    return health


def _rows(path: Path) -> dict[tuple[str, str], Row]:
    return {(row.watch.address, row.part): row for row in _read(path).rows()}


def _apply(path: Path) -> None:
    applied = topology_cli("apply", str(path), "--auto-approve", cwd=path.parent)
    assert applied.returncode == 0, applied.stdout + applied.stderr


def _produce(topic: str, partitions: list[int]) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": KAFKA_BOOTSTRAP, "linger.ms": 0})
    for index, partition in enumerate(partitions):
        producer.produce(topic, value=f"dead {index}".encode(), partition=partition)
    assert producer.flush(30) == 0


def test_a_dead_letter_topic_is_watched_by_the_records_it_keeps(tmp_path: Path, kafka_prefix: str) -> None:
    from confluent_kafka import TopicPartition

    topic = f"{kafka_prefix}orders"
    dlt, address = f"{topic}.dlt", f"kafka/topic/{topic}.dlt"
    path = _dead_letter_file(tmp_path, topic)
    watches = {w.address: w for w in compile_topology([str(path)]).watches()}
    assert list(watches) == [address]  # the topic itself is not watched: the groups reading it are
    assert watches[address].role == "dead_letter" and watches[address].kind == "kafka.topic"
    assert {k: (v.value, v.where) for k, v in watches[address].limits.items()} == {"max_depth": (0, None)}

    assert [(r.address, r.missing, r.metrics) for r in _read(path).readings] == [(address, True, {})]  # not applied
    _apply(path)
    assert _rows(path)[(address, "")].state == "ok"

    _produce(dlt, [0, 1, 1])
    row = _rows(path)[(address, "")]
    assert row.watch.role == "dead_letter" and row.metrics == {"depth": 3.0}
    assert [(b.limit, b.measured, b.value) for b in row.breaches] == [("max_depth", 3.0, 0)]
    assert row.notes == ("the topic keeps its records until retention removes them or kafka-delete-records moves "
                         "its log start; no declared group reads it",)

    live = KafkaLive()
    try:  # as kafka-delete-records does: the log start moves to the end
        done = live.admin.delete_records([TopicPartition(dlt, 0, 1), TopicPartition(dlt, 1, 2)])
        assert sorted(f.result().low_watermark for f in done.values()) == [1, 2]
    finally:
        live.close()
    row = _rows(path)[(address, "")]
    assert row.metrics == {"depth": 0.0} and row.state == "ok" and not row.notes


def test_a_dead_letter_topic_a_declared_group_reads_waits_until_the_group_has_read_it(
        tmp_path: Path, kafka_prefix: str) -> None:
    topic, replayer = f"{kafka_prefix}orders", f"{kafka_prefix}replayer"
    dlt, address = f"{topic}.dlt", f"kafka/topic/{topic}.dlt"
    path = _dead_letter_file(tmp_path, topic, "  consumer_groups:", f"    {replayer}: {{topics: [{dlt}]}}")
    _apply(path)  # the group starts at the end (initial_offset: latest), where there is nothing yet
    _produce(dlt, [0, 0, 1])
    rows = _rows(path)
    assert rows[(address, "")].metrics == {"depth": 3.0}
    assert rows[(address, "")].notes == (f"depth: the records consumer group {replayer} has not read",)
    assert rows[(f"kafka/group/{replayer}", dlt)].metrics["lag"] == 3.0

    _read_and_commit(replayer, {(dlt, 0): 2})  # handled the records of partition 0
    row = _rows(path)[(address, "")]
    assert row.metrics == {"depth": 1.0} and row.state == "breach"
    _read_and_commit(replayer, {(dlt, 0): 2, (dlt, 1): 1})
    row = _rows(path)[(address, "")]
    assert row.metrics == {"depth": 0.0} and row.state == "ok"  # read: no longer waiting, though Kafka keeps it


def test_a_topic_declared_by_hand_under_a_dead_letter_topics_name_is_watched_as_one(tmp_path: Path) -> None:
    path = _dead_letter_file(tmp_path, "orders", "    orders.dlt: {partitions: 1, config: {retention.ms: 30d}}",
                             "    orders.retry: {partitions: 1}")
    topology = compile_topology([str(path)])
    assert not topology.errors, topology.errors
    watches = {w.address: w for w in topology.watches()}
    assert list(watches) == ["kafka/topic/orders.dlt"]  # an ordinary topic is not watched
    watch = watches["kafka/topic/orders.dlt"]
    assert watch.role == "dead_letter" and watch.limits["max_depth"].value == 0
    assert watch.origin is not None and watch.origin.line == 8  # the declared topic, not the generated one
    assert topology.resources["kafka/topic/orders.dlt"].attributes["partitions"] == 1
