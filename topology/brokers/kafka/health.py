"""How far behind each watched Kafka consumer group is: lag in records and in time, per topic it reads;
and how many records wait in each watched dead-letter topic.

Read in bulk, whatever the number of groups: one metadata request for the partitions and their leaders;
one ListOffsets (latest) for every partition of every watched topic, sent before and awaited after every
group's committed offsets, which come in one OffsetFetch per group coordinator (kafka-python, OffsetFetch
v8: many groups in a request, coordinators found by one batched FindCoordinator); a ListOffsets (earliest)
only for partitions some group has no offset on and for those of the watched dead-letter topics. Then,
only for the partitions a group is behind on, the timestamp of the first record it has not read: one
Fetch per partition leader, sent together, a few kilobytes per partition; what that answer cannot tell
(an offset removed by retention, a record batch larger than asked, a codec kafka-python lacks) is read
by one consumer assigned those partitions at those offsets (librdkafka; it never joins a group nor
commits), bounded in time.

What a reading says (one per group and topic, `part` the topic):
- lag: the sum over the topic's partitions of the end offset minus the group's committed offset, as
  Kafka's kafka-consumer-groups tool counts it. A committed offset that retention has already removed
  still counts from where the group stands, and a note says so.
- A partition where the group has no committed offset counts from the log start: those records exist
  and the group has not read them (a consumer whose `auto.offset.reset` is latest would skip them, one
  whose reset is earliest would read them all); a note says on how many partitions.
- lag_seconds: now minus the timestamp of the first record not yet read (the record at the committed
  offset, or the first one after it when compaction or retention removed it), the largest over the
  partitions the group is behind on; 0 when it is behind on none. It costs one record fetched per lagging
  partition, so it is read only for groups that declare `max_lag_time`; another group that is behind has
  no lag_seconds.
- A group with no committed offset anywhere and no members does not exist on the broker: its readings
  (one per topic) are `missing` and carry no metrics (`topology apply` creates it by committing its
  initial offsets).
- A topic that does not exist gives a reading with no metrics and a note.

What a dead-letter topic's reading says (`kafka.topic`, role dead_letter: the `<topic>.dlt` that
`dead_letter:` generates, or a topic declared by hand under that name):
- depth, when no consumer group declared on the same target reads the topic: the records it keeps, the
  sum over its partitions of the end offset minus the log start offset. Reading a record does not
  remove it from a topic: a dead-letter topic keeps its records until retention removes them
  (`retention.ms`, `retention.bytes`), or until `kafka-delete-records` (the AdminClient's
  delete_records) moves the log start past them, so `max_depth: 0` breaches from the first
  dead-lettered record until then; a note says so. (Offsets compaction or transactions left empty
  count too, as they do in a group's lag.)
- depth, when consumer groups declared on the same target read the topic (a replayer, a handler of
  dead letters): the records the group has not read yet (its lag on that topic, counted as above), the
  most of any of those groups that exists on the broker, so a record stops waiting once every group
  reading it has read it, as a dead-lettered message leaves a RabbitMQ queue once it is consumed; a
  note names the groups. A group that does not exist on the broker (not yet applied) does not count.
- A dead-letter topic that does not exist gives a `missing` reading with no metrics.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from topology.core.monitor import Reading, Watch

if TYPE_CHECKING:
    from topology.brokers.kafka.driver import KafkaDriver

__all__ = ["read_health"]

_HEALTH_GROUP = "__topology.health"  # the timestamp consumer's group.id: it never joins nor commits
_FETCH_BYTES = 65536  # asked of each partition: one record is wanted; a larger first batch goes to the consumer
_CONSUMER_WAIT_S = 10.0  # at most, for the records a Fetch answer could not tell
_OFFSET_OUT_OF_RANGE = 1  # Kafka's error code
Partition = tuple[str, int]


@dataclass
class _Offsets:
    """What the bulk reads found: partitions and their leaders per existing topic, each group's committed
    offsets, each partition's end offset, the log start of partitions some group has no offset on, and
    the (partition, offset) pairs whose records retention has already removed."""

    partitions: dict[str, list[int]] = field(default_factory=dict)
    leaders: dict[Partition, int] = field(default_factory=dict)
    committed: dict[str, dict[Partition, int]] = field(default_factory=dict)
    end: dict[Partition, int] = field(default_factory=dict)
    earliest: dict[Partition, int] = field(default_factory=dict)
    removed: set[tuple[Partition, int]] = field(default_factory=set)


def read_health(driver: KafkaDriver, watches: Sequence[Watch]) -> list[Reading]:
    """One reading per watched group and topic (see the module's docstring); others get a note."""
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import OffsetSpec

    groups = [w for w in watches if w.kind == "kafka.group"]
    kept = [w for w in watches if w.kind == "kafka.topic"]
    readings = [Reading(w.address, {}, notes=("this kind is not measured on Kafka",))
                for w in watches if w.kind not in ("kafka.group", "kafka.topic")]
    if not groups and not kept:
        return readings
    offsets = _Offsets()
    topics = driver._refresh().topics
    for name in sorted({t for w in groups for t in w.topics} | {w.name for w in kept}):
        topic = topics.get(name)
        if topic is not None and not topic.error:
            offsets.partitions[name] = sorted(topic.partitions)
            offsets.leaders.update({(name, p): meta.leader for p, meta in topic.partitions.items()})
    doing = "reading the offsets of the watched topics"
    with driver._translating(doing):  # sent now, awaited after the OffsetFetch
        high = driver.admin.list_offsets({TopicPartition(*tp): OffsetSpec.latest() for tp in offsets.leaders},
                                         **driver._kwargs()) if offsets.leaders else {}
    offsets.committed = _committed(driver, sorted({w.name for w in groups})) if groups else {}
    absent = _absent_groups(driver, [w.name for w in groups if not offsets.committed.get(w.name)])
    present = [w for w in groups if w.name not in absent]
    starts = {(w.name, (t, p)): offsets.committed.get(w.name, {}).get((t, p))
              for w in present for t in w.topics for p in offsets.partitions.get(t, [])}
    uncommitted = {tp for (_, tp), start in starts.items() if start is None}
    starting = uncommitted | {(w.name, p) for w in kept for p in offsets.partitions.get(w.name, [])}
    with driver._translating(doing):
        low = driver.admin.list_offsets({TopicPartition(*tp): OffsetSpec.earliest() for tp in starting},
                                        **driver._kwargs()) if starting else {}
    with driver._translating(doing):
        offsets.end = {(tp.topic, tp.partition): future.result().offset for tp, future in high.items()}
        offsets.earliest = {(tp.topic, tp.partition): future.result().offset for tp, future in low.items()}
    positions: dict[tuple[str, Partition], int] = {}  # (group, partition) -> the first offset not yet read
    for (group, tp), start in starts.items():
        position = offsets.earliest[tp] if start is None else start
        if offsets.end[tp] > position:
            positions[(group, tp)] = position
    # The time of the first unread record costs a fetch per lagging partition: read only for the groups that
    # declare max_lag_time (`lag_seconds` of the others is 0 when they are caught up, else not read).
    timed = {w.name for w in present if "max_lag_time" in w.limits}
    wanted = {(tp, pos) for (group, tp), pos in positions.items() if group in timed}
    times, offsets.removed = _first_unread_times(driver, wanted, offsets.leaders)
    now = time.time()
    lags: dict[str, dict[str, float]] = {}  # topic -> group -> lag, of the groups that exist
    for watch in groups:
        if not watch.topics:
            readings.append(Reading(watch.address, {}, notes=("the group declares no topics",),
                                    missing=watch.name in absent))
        for topic in watch.topics:
            if watch.name in absent:
                readings.append(Reading(watch.address, {}, topic, missing=True))
            elif topic not in offsets.partitions:
                readings.append(Reading(watch.address, {}, topic, notes=(f"topic {topic} does not exist",),
                                        missing=True))  # nothing of the group there can be watched
            else:
                readings.append(_reading(watch, topic, offsets, positions, times, now, watch.name in timed))
                lags.setdefault(topic, {})[watch.name] = readings[-1].metrics["lag"]
    readings += [_kept_reading(watch, offsets, lags.get(watch.name, {})) for watch in kept]
    return readings


def _kept_reading(watch: Watch, offsets: _Offsets, lags: Mapping[str, float]) -> Reading:
    """A dead-letter topic's depth: what the groups reading it (`lags`, by group) have not read, or else the
    records it keeps (see the module's docstring)."""
    if watch.name not in offsets.partitions:
        return Reading(watch.address, {}, missing=True)
    if lags:
        names = ", ".join(sorted(lags))
        what = f"consumer group {names} has" if len(lags) == 1 else f"any of consumer groups {names} has"
        return Reading(watch.address, {"depth": max(lags.values())}, notes=(f"depth: the records {what} not read",))
    kept = sum(max(0, offsets.end[(watch.name, p)] - offsets.earliest[(watch.name, p)])
               for p in offsets.partitions[watch.name])
    notes = ("the topic keeps its records until retention removes them or kafka-delete-records moves its log "
             "start; no declared group reads it",) if kept else ()
    return Reading(watch.address, {"depth": float(kept)}, notes=notes)


def _reading(watch: Watch, topic: str, offsets: _Offsets, positions: Mapping[tuple[str, Partition], int],
             times: Mapping[tuple[Partition, int], int | None], now: float, timed: bool) -> Reading:
    """The group's lag on one topic, and its age, with notes on what was counted how."""
    committed = offsets.committed.get(watch.name, {})
    partitions = offsets.partitions[topic]
    lag = 0
    uncommitted = retained = ahead = untimed = stampless = 0
    oldest: float | None = None
    for p in partitions:
        tp = (topic, p)
        position = committed.get(tp)
        if position is None:
            uncommitted += 1
            position = offsets.earliest[tp]
        elif (tp, position) in offsets.removed:
            retained += 1
        if position > offsets.end[tp]:
            ahead += 1
        lag += max(0, offsets.end[tp] - position)
        start = positions.get((watch.name, tp))
        if start is None or not timed:
            continue
        stamp = times.get((tp, start))
        if stamp is None:
            untimed += 1
        elif stamp < 0:
            stampless += 1
        else:
            oldest = stamp if oldest is None else min(oldest, stamp)
    metrics: dict[str, float] = {"lag": float(lag)}
    notes: list[str] = []
    lagging = sum(1 for p in partitions if (watch.name, (topic, p)) in positions)
    if uncommitted:
        notes.append(f"no committed offset on {uncommitted} of {len(partitions)} partitions: counted from the log "
                     "start")
    if retained:
        notes.append(f"the committed offset on {retained} of {len(partitions)} partitions was already removed by "
                     "retention: those records will never be read")
    if ahead:
        notes.append(f"the committed offset on {ahead} of {len(partitions)} partitions is past the end of the log "
                     "(was the topic recreated?): counted as no lag")
    if not lagging:
        metrics["lag_seconds"] = 0.0
    elif oldest is not None:
        metrics["lag_seconds"] = max(0.0, round(now - oldest / 1000, 3))
    if stampless:
        notes.append(f"the first unread record on {stampless} of {lagging} lagging partitions carries no timestamp")
    if untimed:
        what = "lag_seconds is of the others" if oldest is not None else "lag_seconds unknown"
        notes.append(f"the time of the first unread record was not read on {untimed} of {lagging} lagging "
                     f"partitions ({what})")
    return Reading(watch.address, metrics, topic, tuple(notes))


# ---------------------------------------------------------------------------------------- the bulk reads

def _committed(driver: KafkaDriver, groups: Sequence[str]) -> dict[str, dict[Partition, int]]:
    """Every group's committed offsets, all groups in one OffsetFetch per coordinator; a coordinator
    still loading its groups (as after a broker restart) is asked again, bounded by the read timeout."""
    import kafka.errors

    client = driver._node_probe().client
    deadline = time.monotonic() + driver.read_timeout
    with driver._translating("reading the committed offsets of the watched consumer groups"):
        while True:
            try:
                found = client.list_group_offsets(list(groups))
                break
            except kafka.errors.KafkaError as exc:
                if not getattr(exc, "retriable", False) or time.monotonic() > deadline:
                    raise
            time.sleep(0.2)
    return {group: {(tp.topic, tp.partition): meta.offset for tp, meta in partitions.items() if meta.offset >= 0}
            for group, partitions in found.items()}


def _absent_groups(driver: KafkaDriver, candidates: Sequence[str]) -> set[str]:
    """Of groups with no committed offset at all, those with no members either: they do not exist."""
    from confluent_kafka import ConsumerGroupState

    if not candidates:
        return set()
    described = driver._describe_groups(candidates)
    return {g for g in candidates if g not in described or described[g].state == ConsumerGroupState.DEAD}


def _rounds(wanted: Iterable[tuple[Partition, int]]) -> list[dict[Partition, int]]:
    """`wanted` split so that no partition is asked twice in one round (groups at different offsets of
    one partition are asked in turn)."""
    rounds: list[dict[Partition, int]] = []
    for tp, offset in sorted(wanted):
        for batch in rounds:
            if tp not in batch:
                batch[tp] = offset
                break
        else:
            rounds.append({tp: offset})
    return rounds


def _first_unread_times(driver: KafkaDriver, wanted: Iterable[tuple[Partition, int]],
                        leaders: Mapping[Partition, int]
                        ) -> tuple[dict[tuple[Partition, int], int | None], set[tuple[Partition, int]]]:
    """The timestamp (ms; -1: the record carries none; None: nothing came in time) of the first record at
    or after each (partition, offset), and the pairs whose offset is before the log start (removed by
    retention). One Fetch per leader and round; what a Fetch answer cannot tell (an offset removed by
    retention, a record batch cut at the size asked, a codec kafka-python lacks) is read by a consumer
    (librdkafka) assigned those partitions."""
    times: dict[tuple[Partition, int], int | None] = {}
    removed: set[tuple[Partition, int]] = set()
    for batch in _rounds(wanted):
        found, out = _fetch_directly(driver, batch, leaders)
        times.update({(tp, batch[tp]): stamp for tp, stamp in found.items()})
        removed |= {(tp, batch[tp]) for tp in out}
    rest = _rounds(w for w in set(wanted) if w not in times)
    if not rest:
        return times, removed
    consumer = _consumer(driver)
    deadline = time.monotonic() + min(driver.read_timeout, _CONSUMER_WAIT_S)
    try:
        for batch in rest:
            stamps = _one_round(consumer, batch, deadline)
            times.update({(tp, offset): stamps.get(tp) for tp, offset in batch.items()})
    finally:
        consumer.close()
    return times, removed


def _fetch_directly(driver: KafkaDriver, batch: Mapping[Partition, int], leaders: Mapping[Partition, int]
                    ) -> tuple[dict[Partition, int], set[Partition]]:
    """One Fetch per leader (sent together, no wait, read_uncommitted), the first record at or after each
    partition's offset decoded from the answer, and the partitions whose offset is out of the log; a
    partition the answer leaves in doubt is in neither."""
    from kafka.protocol.consumer import FetchRequest

    by_leader: dict[int, dict[str, list[Any]]] = {}
    for (topic, p), offset in batch.items():
        if leaders.get((topic, p), -1) < 0:
            continue  # no leader now: the consumer waits for one
        part = FetchRequest.FetchTopic.FetchPartition(partition=p, fetch_offset=offset, current_leader_epoch=-1,
                                                      log_start_offset=-1, partition_max_bytes=_FETCH_BYTES)
        by_leader.setdefault(leaders[(topic, p)], {}).setdefault(topic, []).append(part)
    if not by_leader:
        return {}, set()
    requests = [(node, FetchRequest(
        replica_id=-1, max_wait_ms=0, min_bytes=1, max_bytes=64 * 1024 * 1024, isolation_level=0, session_id=0,
        session_epoch=-1, forgotten_topics_data=[], rack_id="", max_version=12,  # up to 12 topics go by name
        topics=[FetchRequest.FetchTopic(topic=t, partitions=ps) for t, ps in topics.items()]))
        for node, topics in by_leader.items()]
    manager = driver._node_probe().client._manager

    async def send_all() -> list[Any]:
        futures = [manager.send(request, node_id=node) for node, request in requests]
        return [await future for future in futures]

    with driver._translating("reading the first unread records"):
        answers = manager.run(send_all)
    found: dict[Partition, int] = {}
    outside: set[Partition] = set()
    for answer in answers:
        for topic in answer.responses:
            for part in topic.partitions:
                tp = (topic.topic, part.partition_index)
                if tp not in batch:
                    continue
                if part.error_code == _OFFSET_OUT_OF_RANGE:
                    outside.add(tp)
                elif part.error_code == 0 and part.records:
                    stamp = _first_stamp(part.records, batch[tp])
                    if stamp is not None:
                        found[tp] = stamp
    return found, outside


def _first_stamp(data: bytes, offset: int) -> int | None:
    """The timestamp of the first record at or after `offset` in a Fetch answer's records (-1: it carries
    none); None when there is none there, or a batch cannot be decoded here. A transaction's marker counts
    as a record, as it does in the lag."""
    from kafka.record import MemoryRecords

    try:
        records = MemoryRecords(bytes(data))
        while records.has_next():
            batch = records.next_batch()
            if batch is None:
                break
            for record in batch:
                if record.offset >= offset:
                    return int(record.timestamp) if record.timestamp is not None and record.timestamp >= 0 else -1
    except Exception:  # a codec kafka-python lacks, a batch cut short: librdkafka reads that partition
        return None
    return None


def _consumer(driver: KafkaDriver) -> Any:
    from confluent_kafka import Consumer, KafkaException

    settings = {**driver.settings, "group.id": _HEALTH_GROUP, "enable.auto.commit": False,
                "auto.offset.reset": "earliest",  # an offset removed by retention: the first record after it
                "isolation.level": "read_uncommitted", "enable.partition.eof": False, "fetch.wait.max.ms": 10,
                "max.partition.fetch.bytes": _FETCH_BYTES}  # librdkafka grows it for a larger first batch
    with driver._translating("opening a consumer to read the time of the first unread records"):
        try:
            return Consumer(settings)
        except ValueError as exc:  # confluent-kafka refuses a setting this way
            raise KafkaException(str(exc)) from None


def _one_round(consumer: Any, batch: Mapping[Partition, int], deadline: float) -> dict[Partition, int]:
    """The first record's timestamp at or after each partition's offset, until each came or the deadline."""
    from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, TopicPartition

    consumer.assign([TopicPartition(t, p, offset) for (t, p), offset in batch.items()])
    found: dict[Partition, int] = {}
    try:
        while len(found) < len(batch) and time.monotonic() < deadline:
            for message in consumer.consume(num_messages=max(1, len(batch) - len(found)),
                                            timeout=min(0.05, max(0.01, deadline - time.monotonic()))):
                if message.error() is not None:
                    continue
                tp = (message.topic(), message.partition())
                if tp in batch and tp not in found and message.offset() >= batch[tp]:
                    kind, stamp = message.timestamp()
                    found[tp] = -1 if kind == TIMESTAMP_NOT_AVAILABLE or stamp < 0 else stamp
                    consumer.pause([TopicPartition(*tp)])  # one record is all it takes: fetch no more there
    finally:
        consumer.unassign()
    return found
