"""Load and validate a generated topology of about 10,000 resources, and print how long it takes.

    .venv/bin/python bench/validate_10k.py [--queues N]

Prints the time of each stage and, as the baseline measured in the same run, the time of a bare
`yaml.safe_load` of the same file (the least any YAML-based tool must spend), with the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import yaml

from topology.format.compile import compile_topology


def generate(queues: int) -> str:
    """RabbitMQ queues with a binding each (every 4th with a DLQ and 2 retry tiers), Kafka topics,
    SQS queues and Redis streams: about 10,000 resources for queues=2,400."""
    lines = ["version: 1", "rabbitmq:", "  vhosts:", "    shop:", "      exchanges:", "        orders: {type: topic}",
             "      queues:"]
    for i in range(queues):
        extra = ", dead_letter: {}, retry: {delays: [5s, 1m]}" if i % 4 == 0 else ""
        lines.append(f'        q{i}: {{type: quorum, bindings: [{{exchange: orders, routing_key: "k.{i}.*"}}]{extra}}}')
    lines += ["kafka:", "  topics:"]
    lines += [f"    shop.t{i}: {{partitions: 3, config: {{retention.ms: 7d}}}}" for i in range(queues // 2)]
    lines += ["sqs:", "  queues:"]
    lines += [f"    s{i}: {{visibility_timeout: 30s, dead_letter: {{max_receives: 5}}}}" for i in range(queues // 4)]
    lines += ["redis:", "  streams:"]
    lines += [f"    r{i}: {{groups: {{g: {{start: '$'}}}}}}" for i in range(queues // 4)]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queues", type=int, default=2400)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "big.topology.yaml"
        path.write_text(generate(args.queues))
        size_kib = path.stat().st_size // 1024
        baseline, full = [], []
        resources = 0
        for _ in range(args.repeat):
            start = time.perf_counter()
            yaml.load(path.read_text(), Loader=yaml.CSafeLoader)
            baseline.append(time.perf_counter() - start)
            start = time.perf_counter()
            topology = compile_topology([str(path)])
            full.append(time.perf_counter() - start)
            assert not topology.errors, topology.errors[:3]
            resources = len(topology.resources)
    base, total = statistics.median(baseline), statistics.median(full)
    print(f"resources: {resources} from {size_kib} KiB of YAML (median of {args.repeat} runs)")
    print(f"baseline  yaml.load (libyaml, no positions): {base * 1000:8.1f} ms")
    print(f"topology  load + expand + validate:          {total * 1000:8.1f} ms   ratio {total / base:.1f}x")


if __name__ == "__main__":
    main()
