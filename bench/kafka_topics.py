"""topology apply of 1,000 Kafka topics, compared with one raw batched CreateTopics of the same topics.

    eval "$(scripts/brokers env)"; .venv/bin/python bench/kafka_topics.py [--topics 1000]

Both sides wait until the cluster metadata lists every topic (what "created" means to the next
step), and both start by connecting. Rounds alternate which side goes first and delete everything
in between; medians are printed, with the time of a no-op plan over the same 1,000 topics.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from confluent_kafka.admin import AdminClient, NewTopic

from topology.engine.session import Engine

BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")


def wait_listed(admin: AdminClient, names: set[str]) -> None:
    """Until every topic is listed and each partition has a leader: the same wait topology does."""
    while True:
        topics = admin.list_topics(timeout=30).topics
        if all(n in topics and all(p.leader >= 0 for p in topics[n].partitions.values()) for n in names):
            return
        time.sleep(0.05)


def topology_apply(names: list[str]) -> float:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.topology.yaml"
        lines = ["version: 1", "targets:", f'  events: {{kind: kafka, bootstrap_servers: "{BOOTSTRAP}"}}',
                 "kafka:", "  target: events", "  topics:"]
        lines += [f"    {name}: {{partitions: 1, config: {{retention.ms: 1d}}}}" for name in names]
        path.write_text("\n".join(lines) + "\n")
        start = time.perf_counter()
        with Engine([str(path)], state=Path(folder) / "state.json") as engine:
            report = engine.apply(engine.plan())
        elapsed = time.perf_counter() - start
        assert report.ok, list(report.failed.items())[:3]
        start = time.perf_counter()
        with Engine([str(path)], state=Path(folder) / "state.json") as engine:
            assert engine.plan().is_empty
        NOOP.append(time.perf_counter() - start)
    return elapsed


def raw_create(names: list[str]) -> float:
    """The baseline: what a hand-written script does, from connecting to seeing every leader."""
    start = time.perf_counter()
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    futures = admin.create_topics([NewTopic(n, num_partitions=1, replication_factor=1,
                                            config={"retention.ms": "86400000"}) for n in names],
                                  operation_timeout=60, request_timeout=120)
    for future in futures.values():
        future.result()
    wait_listed(admin, set(names))
    return time.perf_counter() - start


def delete_all(admin: AdminClient, names: list[str]) -> None:
    for future in admin.delete_topics(names, operation_timeout=120).values():
        future.result()
    while set(names) & set(admin.list_topics(timeout=30).topics):
        time.sleep(0.2)
    time.sleep(2)  # let the broker finish removing the logs before the next round is timed


NOOP: list[float] = []


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--topics", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    ours_times, raw_times = [], []
    for round_number in range(args.rounds):
        run = uuid.uuid4().hex[:8]
        ours = [f"bench.{run}.topology.t{i}" for i in range(args.topics)]
        raw = [f"bench.{run}.raw.t{i}" for i in range(args.topics)]
        # Alternate which goes first, so neither always meets a busier broker.
        for first in ((raw, ours) if round_number % 2 == 0 else (ours, raw)):
            if first is raw:
                raw_times.append(raw_create(raw))
            else:
                ours_times.append(topology_apply(ours))
            delete_all(admin, first)
    baseline, elapsed = statistics.median(raw_times), statistics.median(ours_times)
    print(f"topics: {args.topics}, 1 partition each, one config override; medians of {args.rounds} rounds")
    print(f"baseline  one raw CreateTopics (+ wait for leaders):  {baseline:6.2f} s")
    print(f"topology  apply (compile + plan + apply + wait):      {elapsed:6.2f} s   ratio {elapsed / baseline:.2f}x")
    print(f"no-op plan over {args.topics} topics:                     {statistics.median(NOOP):6.2f} s")


if __name__ == "__main__":
    main()
