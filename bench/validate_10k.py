"""Load and validate a generated topology of about 10,000 resources, and read a file of 10,000 Redis streams;
print how long each takes against a bare `yaml.load` of the same file.

    .venv/bin/python bench/validate_10k.py [--queues N] [--streams N] [--rounds N]

The baselines are measured in the same run, the order of the sides alternating from round to round, and
medians printed: `yaml.load` with libyaml's CSafeLoader (no positions: the least any YAML-based tool must
spend), and the same with Python's cyclic garbage collector paused, as topology pauses it while it reads.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from topology.format.compile import compile_topology
from topology.format.load import load_file


def generate(queues: int, *, vhost: str = "shop", topics: str = "shop.", names: str = "") -> str:
    """RabbitMQ queues with a binding each (every 4th with a DLQ and 2 retry tiers) in `vhost`, Kafka topics
    named `<topics>t<i>`, SQS queues and Redis streams named `<names>s<i>` and `<names>r<i>`: about 10,000
    resources for queues=2,400."""
    lines = ["version: 1", "rabbitmq:", "  vhosts:", f"    {vhost}:", "      exchanges:",
             "        orders: {type: topic}", "      queues:"]
    for i in range(queues):
        extra = ", dead_letter: {}, retry: {delays: [5s, 1m]}" if i % 4 == 0 else ""
        lines.append(f'        q{i}: {{type: quorum, bindings: [{{exchange: orders, routing_key: "k.{i}.*"}}]{extra}}}')
    lines += ["kafka:", "  topics:"]
    lines += [f"    {topics}t{i}: {{partitions: 3, config: {{retention.ms: 7d}}}}" for i in range(queues // 2)]
    lines += ["sqs:", "  queues:"]
    lines += [f"    {names}s{i}: {{visibility_timeout: 30s, dead_letter: {{max_receives: 5}}}}"
              for i in range(queues // 4)]
    lines += ["redis:", "  streams:"]
    lines += [f"    {names}r{i}: {{groups: {{g: {{start: '$'}}}}}}" for i in range(queues // 4)]
    return "\n".join(lines) + "\n"


def redis_streams(streams: int) -> str:
    """Redis streams with two consumer groups each, as bench/redis_streams.py writes them."""
    lines = ["version: 1", "targets:", '  cache: {kind: redis, url: "redis://127.0.0.1:6379/0"}', "redis:",
             "  target: cache", "  streams:"]
    lines += [f"    bench-top:s{i}: {{groups: {{billing: {{}}, audit: {{start: '0'}}}}}}" for i in range(streams)]
    return "\n".join(lines) + "\n"


def bare_load(path: Path) -> None:
    yaml.load(path.read_text(), Loader=yaml.CSafeLoader)


def bare_load_paused(path: Path) -> None:
    gc.disable()
    try:
        yaml.load(path.read_text(), Loader=yaml.CSafeLoader)
    finally:
        gc.enable()


def timed(sides: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """The median seconds of each side, the order of the sides reversed every other round."""
    times: dict[str, list[float]] = {name: [] for name in sides}
    names = list(sides)
    for turn in range(rounds):
        for name in names if turn % 2 == 0 else names[::-1]:
            gc.collect()  # what one side left behind is not collected while the next is timed
            start = time.perf_counter()
            sides[name]()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(seconds) for name, seconds in times.items()}


def compiled(path: Path) -> int:
    topology = compile_topology([str(path)])
    assert not topology.errors, topology.errors[:3]
    return len(topology.resources)


def loaded(path: Path) -> None:
    result = load_file(str(path))
    assert result.document is not None, result.problems[:3]


def report(title: str, medians: dict[str, float], rounds: int) -> None:
    base = medians["yaml.load"]
    print(f"{title} (median of {rounds} rounds, alternating order)")
    for name, seconds in medians.items():
        print(f"  {name:44s} {seconds * 1000:8.1f} ms   {seconds / base:5.2f}x yaml.load")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queues", type=int, default=2400)
    parser.add_argument("--streams", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "big.topology.yaml"
        path.write_text(generate(args.queues))
        resources = compiled(path)
        medians = timed({"yaml.load": lambda: bare_load(path),
                         "yaml.load, collector paused": lambda: bare_load_paused(path),
                         "topology load + expand + validate": lambda: compiled(path)}, args.rounds)
        report(f"{resources} resources from {path.stat().st_size // 1024} KiB of YAML", medians, args.rounds)

        streams = Path(folder) / "streams.topology.yaml"
        streams.write_text(redis_streams(args.streams))
        medians = timed({"yaml.load": lambda: bare_load(streams),
                         "yaml.load, collector paused": lambda: bare_load_paused(streams),
                         "topology load_file (positions, ${VAR}, model)": lambda: loaded(streams)}, args.rounds)
        report(f"{args.streams} Redis streams, {streams.stat().st_size // 1024} KiB of YAML", medians, args.rounds)


if __name__ == "__main__":
    main()
