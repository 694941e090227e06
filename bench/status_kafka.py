"""The lag of 50 consumer groups over 1,000 topics: topology's health read against one batched offsets
request done by hand.

    eval "$(scripts/brokers env)"; .venv/bin/python bench/status_kafka.py [--groups 50] [--topics 1000]

Each group reads its own share of the topics (1 partition each, 3 records stamped in the past). Three
cases: every group has committed offset 1 on each, so it is behind on every partition, and declares only
`max_lag` (topology reads the committed and end offsets, as the baseline does); the same groups declaring
`max_lag_time` too (topology also reads the time of the first unread record on each of the 1,000 lagging
partitions: the worst case); then every group caught up (no record to read).

The baseline is what a hand-written script does for lag alone: kafka-python's batched OffsetFetch for all
groups (one request per coordinator), one ListOffsets (latest) for every partition, and the sums. Both
sides keep their clients between rounds (topology's Reader keeps its drivers, as the exporter and
`status --watch` do); the first, cold read (connecting included) is printed apart. Rounds alternate which
side goes first; medians are printed. Everything made is deleted at the end; nothing else is touched.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from confluent_kafka import ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec
from kafka import KafkaAdminClient

from topology.format.compile import compile_topology
from topology.monitor.read import Reader

BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")
RECORDS = 3


def make(admin: AdminClient, topics: list[str], groups: dict[str, list[str]]) -> None:
    """The topics, their records and each group's committed offset 1 on its topics (behind by 2)."""
    for future in admin.create_topics([NewTopic(n, 1, 1) for n in topics], operation_timeout=60,
                                      request_timeout=120).values():
        future.result()
    deadline = time.monotonic() + 120
    while True:
        listed = admin.list_topics(timeout=30).topics
        if all(n in listed and all(p.leader >= 0 for p in listed[n].partitions.values()) for n in topics):
            break
        assert time.monotonic() < deadline, "the topics have no leaders after 120 s"
        time.sleep(0.2)
    producer = Producer({"bootstrap.servers": BOOTSTRAP, "linger.ms": 5})
    now_ms = int(time.time() * 1000)
    for name in topics:
        for i in range(RECORDS):
            producer.produce(name, value=b"x", partition=0, timestamp=now_ms - (300 - 60 * i) * 1000)
    assert producer.flush(60) == 0
    commit(admin, groups, 1)


def commit(admin: AdminClient, groups: dict[str, list[str]], offset: int) -> None:
    """Each group's committed offset on each of its topics."""
    for group, read in groups.items():
        request = ConsumerGroupTopicPartitions(group, [TopicPartition(t, 0, offset) for t in read])
        admin.alter_consumer_group_offsets([request])[group].result()


def by_hand(client: KafkaAdminClient, admin: AdminClient, groups: dict[str, list[str]]) -> dict[tuple[str, str], int]:
    """The baseline: lag per group and topic from one batched OffsetFetch and one ListOffsets."""
    committed = client.list_group_offsets(list(groups))
    partitions = [TopicPartition(t, 0) for read in groups.values() for t in read]
    ends = admin.list_offsets({tp: OffsetSpec.latest() for tp in partitions}, request_timeout=60)
    end = {(tp.topic, tp.partition): ends[tp].result().offset for tp in partitions}
    lag: dict[tuple[str, str], int] = {}
    for group, offsets in committed.items():
        for tp, meta in offsets.items():
            lag[(group, tp.topic)] = lag.get((group, tp.topic), 0) + end[(tp.topic, tp.partition)] - meta.offset
    return lag


def ours(reader: Reader) -> dict[tuple[str, str], float]:
    health = reader.read()
    assert not health.errors, health.errors
    return {(r.address.removeprefix("kafka/group/"), r.part): r.metrics["lag"] for r in health.readings}


def write_file(folder: str, topics: list[str], groups: dict[str, list[str]], limits: str) -> Path:
    path = Path(folder) / f"bench-{len(limits)}.topology.yaml"
    lines = ["version: 1", "targets:", f'  events: {{kind: kafka, bootstrap_servers: "{BOOTSTRAP}"}}', "kafka:",
             "  target: events", "  topics:"]
    lines += [f"    {name}: {{partitions: 1}}" for name in topics]
    lines += ["  consumer_groups:"]
    lines += [f"    {group}: {{topics: [{', '.join(read)}], monitor: {{{limits}}}}}"
              for group, read in groups.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def clean(admin: AdminClient, topics: list[str], groups: list[str]) -> None:
    for future in admin.delete_consumer_groups(groups, request_timeout=60).values():
        future.result()
    for future in admin.delete_topics(topics, operation_timeout=120).values():
        future.result()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--groups", type=int, default=50)
    parser.add_argument("--topics", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    run = uuid.uuid4().hex[:8]
    topics = [f"bench.{run}.status.t{i}" for i in range(args.topics)]
    groups = {f"bench.{run}.status.g{g}": topics[g::args.groups] for g in range(args.groups)}
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    client: Any = None
    figures: dict[str, tuple[float, float]] = {}
    try:
        make(admin, topics, groups)
        client = KafkaAdminClient(bootstrap_servers=BOOTSTRAP)
        with tempfile.TemporaryDirectory() as folder:
            topology = compile_topology([str(write_file(folder, topics, groups, "max_lag: 1000, max_lag_time: 10m"))])
            lag_only = compile_topology([str(write_file(folder, topics, groups, "max_lag: 1000"))])
            assert not topology.errors and not lag_only.errors, (topology.errors + lag_only.errors)[:3]
            with Reader(lag_only, environ={}) as reader:
                assert ours(reader) == by_hand(client, admin, groups)
                figures["behind, lag only"] = rounds(args.rounds, reader, client, admin, groups)
            with Reader(topology, environ={}) as reader:
                start = time.perf_counter()
                first = ours(reader)
                cold = time.perf_counter() - start
                expected = by_hand(client, admin, groups)  # also warms the baseline's clients
                assert first == expected == dict.fromkeys(expected, RECORDS - 1), "the two disagree"
                figures["behind, lag and lag time"] = rounds(args.rounds, reader, client, admin, groups)
                commit(admin, groups, RECORDS)  # every group caught up: no record to read
                assert set(by_hand(client, admin, groups).values()) == {0}
                figures["caught up"] = rounds(args.rounds, reader, client, admin, groups)
    finally:
        if client is not None:
            client.close()
        clean(admin, topics, list(groups))
    print(f"{args.groups} groups over {args.topics} topics (1 partition each); medians of {args.rounds} rounds")
    for case, (baseline, elapsed) in figures.items():
        print(f"{case + ':':27} baseline (batched OffsetFetch + one ListOffsets, by hand) {baseline:6.3f} s   "
              f"topology Reader.read() {elapsed:6.3f} s   ratio {elapsed / baseline:.2f}x")
    print(f"first read (every group behind), connecting included: {cold:6.3f} s")


def rounds(count: int, reader: Reader, client: KafkaAdminClient, admin: AdminClient,
           groups: dict[str, list[str]]) -> tuple[float, float]:
    """Medians of `count` rounds of each side, alternating which goes first so that neither always
    meets a busier broker."""
    ours_times: list[float] = []
    raw_times: list[float] = []
    for round_number in range(count):
        for side in (("raw", "ours") if round_number % 2 == 0 else ("ours", "raw")):
            start = time.perf_counter()
            if side == "raw":
                by_hand(client, admin, groups)
                raw_times.append(time.perf_counter() - start)
            else:
                ours(reader)
                ours_times.append(time.perf_counter() - start)
    return statistics.median(raw_times), statistics.median(ours_times)


if __name__ == "__main__":
    main()
