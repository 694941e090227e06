"""10,000 Redis streams with two consumer groups each: topology apply against a naive loop, and a
no-op plan over them.

    eval "$(scripts/brokers env)"; .venv/bin/python bench/redis_streams.py [--streams 10000]

The baseline, in the same run against the same server, sends one command per round trip:
`XGROUP CREATE ... MKSTREAM` for each group of each stream. topology pipelines each wave.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from pathlib import Path

import redis

from topology.engine.session import Engine

URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--streams", type=int, default=10_000)
    args = parser.parse_args()
    client = redis.Redis.from_url(URL, decode_responses=True)
    run = uuid.uuid4().hex[:6]
    try:
        start = time.perf_counter()
        for i in range(args.streams):
            client.xgroup_create(f"bench-raw-{run}:s{i}", "billing", id="$", mkstream=True)
            client.xgroup_create(f"bench-raw-{run}:s{i}", "audit", id="0", mkstream=True)
        baseline = time.perf_counter() - start

        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "bench.topology.yaml"
            lines = ["version: 1", "targets:", f'  cache: {{kind: redis, url: "{URL}"}}', "redis:",
                     "  target: cache", "  streams:"]
            lines += [f"    bench-top-{run}:s{i}: {{groups: {{billing: {{}}, audit: {{start: '0'}}}}}}"
                      for i in range(args.streams)]
            path.write_text("\n".join(lines) + "\n")
            start = time.perf_counter()
            with Engine([str(path)], state=Path(folder) / "s.json") as engine:
                report = engine.apply(engine.plan())
            elapsed = time.perf_counter() - start
            assert report.ok, list(report.failed.items())[:3]
            start = time.perf_counter()
            with Engine([str(path)], state=Path(folder) / "s.json") as engine:
                plan = engine.plan()
            planned = time.perf_counter() - start
            assert plan.is_empty, plan.summary()
        print(f"streams: {args.streams}, two groups each ({3 * args.streams} resources)")
        print(f"baseline  one command per round trip:       {baseline:6.2f} s")
        print(f"topology  apply (compile + plan + apply):   {elapsed:6.2f} s   {baseline / elapsed:.2f}x faster")
        print(f"no-op plan over {args.streams} streams:            {planned:6.2f} s")
    finally:
        for pattern in (f"bench-raw-{run}:*", f"bench-top-{run}:*"):
            keys = list(client.scan_iter(match=pattern, count=5000))
            for index in range(0, len(keys), 5000):
                client.delete(*keys[index:index + 5000])


if __name__ == "__main__":
    main()
