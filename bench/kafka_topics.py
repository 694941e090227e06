"""topology apply of 1,000 Kafka topics, compared with one raw batched CreateTopics of the same topics.

    eval "$(scripts/brokers env)"; .venv/bin/python bench/kafka_topics.py [--topics 1000]

Both sides wait until the cluster metadata lists every topic (what "created" means to the next
step), and both start by connecting. Rounds alternate which side goes first and delete everything
in between; medians are printed, with the time of a no-op plan over the same 1,000 topics.

Then the no-op plan's cost per topic as the topic count grows: 3,000 topics are made once (as the
baseline makes them), and each round plans a file declaring the first 300 of them and one declaring
all 3,000 (the order alternating), every plan checked to be empty; the medians are printed in ms per
topic, with the slope between the two sizes (what one more topic costs). `--noop-sizes ''` skips it,
`--skip-apply` skips the apply comparison.
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


def topology_file(folder: Path, names: list[str]) -> Path:
    path = folder / f"noop-{len(names)}.topology.yaml"
    lines = ["version: 1", "targets:", f'  events: {{kind: kafka, bootstrap_servers: "{BOOTSTRAP}"}}',
             "kafka:", "  target: events", "  topics:"]
    lines += [f"    {name}: {{partitions: 1, config: {{retention.ms: 1d}}}}" for name in names]
    path.write_text("\n".join(lines) + "\n")
    return path


def noop_plan(path: Path) -> float:
    """A no-op plan from the file, as a fresh `topology plan` makes it: compile, connect, read, diff."""
    start = time.perf_counter()
    with Engine([str(path)], state=path.with_suffix(".state.json")) as engine:
        plan = engine.plan()
    elapsed = time.perf_counter() - start
    assert plan.is_empty, [c.address for c in plan.changes][:3]
    return elapsed


def noop_scaling(admin: AdminClient, sizes: list[int], rounds: int) -> dict[int, float]:
    """Median seconds of a no-op plan at each size, over the same topics (the largest size made once)."""
    names = [f"bench.{uuid.uuid4().hex[:8]}.noop.t{i}" for i in range(max(sizes))]
    raw_create(names)
    try:
        with tempfile.TemporaryDirectory() as folder:
            files = {size: topology_file(Path(folder), names[:size]) for size in sizes}
            for path in files.values():
                noop_plan(path)  # warm-up: the first connection of the process, imports
            times: dict[int, list[float]] = {size: [] for size in sizes}
            for round_number in range(rounds):
                for size in sizes if round_number % 2 == 0 else list(reversed(sizes)):
                    times[size].append(noop_plan(files[size]))
    finally:
        delete_all(admin, names)
    return {size: statistics.median(values) for size, values in times.items()}


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
    parser.add_argument("--noop-sizes", default="300,3000", help="topic counts of the no-op plan scaling; '' skips it")
    parser.add_argument("--skip-apply", action="store_true", help="only the no-op plan scaling")
    args = parser.parse_args()
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    if not args.skip_apply:
        apply_comparison(admin, args.topics, args.rounds)
    sizes = sorted({int(size) for size in args.noop_sizes.split(",") if size.strip()})
    if sizes:
        medians = noop_scaling(admin, sizes, args.rounds)
        print(f"no-op plan (compile + connect + read + diff), medians of {args.rounds} rounds, sizes alternating:")
        for size, median in medians.items():
            print(f"  {size:>6} topics: {median:6.2f} s   {median * 1000 / size:6.3f} ms/topic")
        if len(sizes) > 1:
            low, high = sizes[0], sizes[-1]
            slope = (medians[high] - medians[low]) * 1000 / (high - low)
            print(f"  slope {low} -> {high}: {slope:.3f} ms per added topic")


def apply_comparison(admin: AdminClient, topics: int, rounds: int) -> None:
    ours_times, raw_times = [], []
    for round_number in range(rounds):
        run = uuid.uuid4().hex[:8]
        ours = [f"bench.{run}.topology.t{i}" for i in range(topics)]
        raw = [f"bench.{run}.raw.t{i}" for i in range(topics)]
        # Alternate which goes first, so neither always meets a busier broker.
        for first in ((raw, ours) if round_number % 2 == 0 else (ours, raw)):
            if first is raw:
                raw_times.append(raw_create(raw))
            else:
                ours_times.append(topology_apply(ours))
            delete_all(admin, first)
    baseline, elapsed = statistics.median(raw_times), statistics.median(ours_times)
    print(f"topics: {topics}, 1 partition each, one config override; medians of {rounds} rounds")
    print(f"baseline  one raw CreateTopics (+ wait for leaders):  {baseline:6.2f} s")
    print(f"topology  apply (compile + plan + apply + wait):      {elapsed:6.2f} s   ratio {elapsed / baseline:.2f}x")
    print(f"no-op plan over {topics} topics:                     {statistics.median(NOOP):6.2f} s")


if __name__ == "__main__":
    main()
