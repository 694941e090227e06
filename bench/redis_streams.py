"""10,000 Redis streams with two consumer groups each: topology apply against a naive loop, and a
no-op plan over them, over several rounds.

    eval "$(scripts/brokers env)"; .venv/bin/python bench/redis_streams.py [--streams 10000] [--rounds 3]

The baseline, in the same run against the same server, sends one command per round trip:
`XGROUP CREATE ... MKSTREAM` for each group of each stream. topology apply (compile, plan, apply) of
the same streams and groups under other keys, then a no-op plan over them. Each round alternates which
side goes first; the medians are printed with the figures of each round. Every key is under a prefix
unique to the run and round, deleted at the end of its round; nothing else on the server is touched.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from topology.engine.session import Engine

URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
FIGURES = {  # figure -> its line's label
    "baseline": "baseline  one command per round trip",
    "apply": "topology  apply (compile + plan + apply)",
    "compile": "            of which compile (Engine())",
    "plan": "            of which plan (inspect + diff)",
    "write": "            of which apply (the writes)",
    "noop": "topology  no-op plan (compile + plan)",
}


def naive(client: Any, prefix: str, streams: int) -> dict[str, float]:
    start = time.perf_counter()
    for i in range(streams):
        client.xgroup_create(f"{prefix}:s{i}", "billing", id="$", mkstream=True)
        client.xgroup_create(f"{prefix}:s{i}", "audit", id="0", mkstream=True)
    return {"baseline": time.perf_counter() - start}


def document(prefix: str, streams: int) -> str:
    lines = ["version: 1", "targets:", f'  cache: {{kind: redis, url: "{URL}"}}', "redis:", "  target: cache",
             "  streams:"]
    lines += [f"    {prefix}:s{i}: {{groups: {{billing: {{}}, audit: {{start: '0'}}}}}}" for i in range(streams)]
    return "\n".join(lines) + "\n"


def topology(folder: Path, prefix: str, streams: int) -> dict[str, float]:
    """Apply the file of `streams` streams, then plan it again (which must be empty)."""
    path = folder / f"{prefix.replace(':', '-')}.topology.yaml"
    path.write_text(document(prefix, streams))
    state = folder / f"{prefix.replace(':', '-')}.state.json"
    start = time.perf_counter()
    with Engine([str(path)], state=state) as engine:
        compiled = time.perf_counter()
        plan = engine.plan()
        planned = time.perf_counter()
        report = engine.apply(plan)
    done = time.perf_counter()
    assert report.ok, list(report.failed.items())[:3]
    assert len(plan.changes) == 3 * streams, plan.summary()
    figures = {"apply": done - start, "compile": compiled - start, "plan": planned - compiled,
               "write": done - planned}
    start = time.perf_counter()
    with Engine([str(path)], state=state) as engine:
        again = engine.plan()
    figures["noop"] = time.perf_counter() - start
    assert again.is_empty, again.summary()
    return figures


def delete_under(client: Any, prefix: str) -> None:
    """Delete the keys this run created under `prefix` (unique to it), never anything else."""
    keys = list(client.scan_iter(match=f"{prefix}:*", count=5000))
    for index in range(0, len(keys), 5000):
        client.delete(*keys[index:index + 5000])


def one_round(client: Any, folder: Path, run: str, number: int, streams: int) -> dict[str, float]:
    raw, ours = f"bench-raw-{run}-r{number}", f"bench-top-{run}-r{number}"
    sides: list[Callable[[], dict[str, float]]] = [lambda: naive(client, raw, streams),
                                                   lambda: topology(folder, ours, streams)]
    if number % 2:
        sides.reverse()
    figures: dict[str, float] = {}
    try:
        for side in sides:
            figures.update(side())
    finally:
        delete_under(client, raw)
        delete_under(client, ours)
    return figures


def report(rounds: list[dict[str, float]], streams: int) -> None:
    print(f"streams: {streams}, two groups each ({3 * streams} resources); {len(rounds)} rounds, "
          "alternating which side goes first (round 1: baseline first)")
    medians = {name: statistics.median(r[name] for r in rounds) for name in FIGURES}
    for name, label in FIGURES.items():
        each = "  ".join(f"{r[name]:6.2f}" for r in rounds)
        print(f"{label:42s} median {medians[name]:6.2f} s   rounds: {each}")
    print(f"topology apply against the baseline (medians): {medians['baseline'] / medians['apply']:.2f}x as fast; "
          f"the writes alone: {medians['baseline'] / medians['write']:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--streams", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    client = redis.Redis.from_url(URL, decode_responses=True)
    run = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory() as folder:
        rounds = [one_round(client, Path(folder), run, number, args.streams) for number in range(max(1, args.rounds))]
    report(rounds, args.streams)


if __name__ == "__main__":
    main()
