"""topology's no-op plan over 1,000 Kafka topics, compared with `topicctl check` of the same topics.

    eval "$(scripts/brokers env)"; .venv/bin/python bench/topicctl.py [--topics 1000] [--rounds 5]

topicctl (segmentio's topic manager, a Go binary) is found as $TOPICCTL, on PATH, or in /tmp/gobin; the Go
module proxy serves github.com/segmentio/topicctl v1.17.0 (not its version list, so `@latest` fails), and a
throwaway module that requires it builds it:

    mkdir /tmp/tctl && cd /tmp/tctl
    printf 'module t\\ngo 1.24\\nrequire github.com/segmentio/topicctl v1.17.0\\n' > go.mod
    printf '//go:build tools\\npackage t\\nimport _ "github.com/segmentio/topicctl/cmd/topicctl"\\n' > tools.go
    go mod tidy && GOBIN=/tmp/gobin go install github.com/segmentio/topicctl/cmd/topicctl

The topics are made once (one partition, retention.ms of a day), then described to both in their own
formats: a topology file, and topicctl's cluster file with one topic document each in one file (topicctl
counts the cluster's dynamic default configs as the topic's settings, so they are written there too).
Both must report no difference before anything is timed. Each round times topicctl check (a process, as
it is used), topology's no-op plan through the Engine API (in this process, as bench/kafka_topics.py
does) and `topology plan` as a process; rounds alternate which goes first; medians are printed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic, ResourceType

from topology.engine.session import Engine

BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")
TOPOLOGY = Path(sys.executable).with_name("topology")
_CLUSTER_DEFAULTS = (2, 3)  # DYNAMIC_BROKER_CONFIG, DYNAMIC_DEFAULT_BROKER_CONFIG: topicctl reads them as the topic's


def find_topicctl() -> str | None:
    for candidate in (os.environ.get("TOPICCTL"), shutil.which("topicctl"), "/tmp/gobin/topicctl"):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def create(admin: AdminClient, names: list[str]) -> None:
    futures = admin.create_topics([NewTopic(n, num_partitions=1, replication_factor=1,
                                            config={"retention.ms": "86400000"}) for n in names],
                                  operation_timeout=60, request_timeout=120)
    for future in futures.values():
        future.result()
    while True:
        topics = admin.list_topics(timeout=30).topics
        if all(n in topics and all(p.leader >= 0 for p in topics[n].partitions.values()) for n in names):
            return
        time.sleep(0.1)


def delete(admin: AdminClient, names: list[str]) -> None:
    for future in admin.delete_topics(names, operation_timeout=120).values():
        future.result()


def cluster_defaults(admin: AdminClient, topic: str) -> dict[str, str]:
    """The cluster-wide dynamic configs topicctl sees on every topic (min.insync.replicas on KRaft)."""
    (future,) = admin.describe_configs([ConfigResource(ResourceType.TOPIC, topic)], request_timeout=60).values()
    return {key: entry.value for key, entry in future.result().items()
            if entry.source in _CLUSTER_DEFAULTS and entry.value is not None}


def write_files(folder: Path, names: list[str], defaults: dict[str, str]) -> tuple[Path, Path, Path]:
    ours = folder / "bench.topology.yaml"
    lines = ["version: 1", "targets:", f'  events: {{kind: kafka, bootstrap_servers: "{BOOTSTRAP}"}}',
             "kafka:", "  target: events", "  topics:"]
    lines += [f"    {name}: {{partitions: 1, config: {{retention.ms: 1d}}}}" for name in names]
    ours.write_text("\n".join(lines) + "\n")
    cluster = folder / "cluster.yaml"
    cluster.write_text("meta:\n  name: bench\n  environment: bench\n  region: local\n  description: bench\n"
                       f"spec:\n  bootstrapAddrs:\n    - {BOOTSTRAP}\n")
    settings = "".join(f"    {key}: {value!r}\n" for key, value in sorted(defaults.items()))
    documents = [f"meta:\n  name: {name}\n  cluster: bench\n  environment: bench\n  region: local\n"
                 f"  description: bench\nspec:\n  partitions: 1\n  replicationFactor: 1\n  retentionMinutes: 1440\n"
                 f"  placement:\n    strategy: any\n" + (f"  settings:\n{settings}" if settings else "")
                 for name in names]
    theirs = folder / "topics.yaml"
    theirs.write_text("---\n".join(documents))
    return ours, cluster, theirs


def run(command: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{command[0]} exited {done.returncode}:\n{(done.stdout + done.stderr)[-1500:]}")
    return elapsed


def engine_plan(ours: Path, state: Path) -> float:
    start = time.perf_counter()
    with Engine([str(ours)], state=state) as engine:
        plan = engine.plan()
    elapsed = time.perf_counter() - start
    assert plan.is_empty, [c.address for c in plan.changes][:3]
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--topics", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    topicctl = find_topicctl()
    if topicctl is None:
        raise SystemExit("topicctl not found: set TOPICCTL, or build it as this file's docstring says")
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    names = [f"bench.{uuid.uuid4().hex[:8]}.topicctl.t{i}" for i in range(args.topics)]
    create(admin, names)
    try:
        with tempfile.TemporaryDirectory() as folder:
            ours, cluster, theirs = write_files(Path(folder), names, cluster_defaults(admin, names[0]))
            state = Path(folder) / "state.json"
            sides: dict[str, Callable[[], float]] = {
                "topicctl check": lambda: run([topicctl, "check", "--no-spinner", "--cluster-config", str(cluster),
                                               str(theirs)]),
                "topology no-op plan (Engine)": lambda: engine_plan(ours, state),
                "topology plan (process)": lambda: run([str(TOPOLOGY), "plan", "--detailed-exitcode", "--state",
                                                        str(state), str(ours)])}
            for side in sides.values():  # warm-up, and the proof that each sees no difference
                side()
            times: dict[str, list[float]] = {name: [] for name in sides}
            for round_number in range(args.rounds):
                order = list(sides) if round_number % 2 == 0 else list(reversed(sides))
                for name in order:
                    times[name].append(sides[name]())
    finally:
        delete(admin, names)
    baseline = statistics.median(times["topicctl check"])
    print(f"topics: {args.topics}, 1 partition, retention.ms overridden; medians of {args.rounds} rounds, order "
          "alternating; each side first checked to report no difference")
    for name, values in times.items():
        median = statistics.median(values)
        ratio = "" if name == "topicctl check" else f"   ratio {median / baseline:.2f}x topicctl"
        print(f"{name:<30} {median:6.2f} s  {median * 1000 / args.topics:6.3f} ms/topic{ratio}")


if __name__ == "__main__":
    main()
