"""A scrape of `topology exporter` over 10,000 watched objects on the real Redis: 5,000 streams with one
consumer group each (every stream holding entries the group has not read), once the cache is warm.

    eval "$(scripts/brokers env)"; .venv/bin/python bench/exporter.py [--streams 5000] [--scrapes 20] [--hanging]

The exporter runs as a user runs it (`topology exporter FILE --listen 127.0.0.1:0 --cache 1h`, its own
process) and is scraped over HTTP. The baseline, in the same run against the same server, is one raw
read of the same figures by hand: one pipeline of XLEN and XINFO GROUPS for every stream.

With --hanging, the file also declares a RabbitMQ target whose management API (a local port) takes every
connection and never answers, as a broker that hangs does: the Redis target is read, and served, as soon
as without it; the RabbitMQ target is `topology_up 0` until its read times out.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import redis

URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--streams", type=int, default=5_000)
    parser.add_argument("--scrapes", type=int, default=20)
    parser.add_argument("--hanging", action="store_true", help="declare a second target that never answers")
    args = parser.parse_args()
    client = redis.Redis.from_url(URL, decode_responses=True)
    prefix = f"bench-exp-{uuid.uuid4().hex[:6]}:"
    keys = [f"{prefix}s{i}" for i in range(args.streams)]
    process: subprocess.Popen[bytes] | None = None
    silent = socket.create_server(("127.0.0.1", 0))  # accepts (the kernel does) and never answers
    try:
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.xgroup_create(key, "billing", id="0", mkstream=True)
            pipe.xadd(key, {"n": "1"})
            pipe.xadd(key, {"n": "2"})
        pipe.execute()

        start = time.perf_counter()
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.xlen(key)
            pipe.xinfo_groups(key)
        pipe.execute()
        baseline = time.perf_counter() - start

        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "bench.topology.yaml"
            lines = ["version: 1", "targets:", f'  cache: {{kind: redis, url: "{URL}"}}', "redis:",
                     "  target: cache", "  streams:"]
            lines += [f"    {key}: {{monitor: {{max_length: 1000}}, groups: {{billing: {{start: '0', "
                      f"monitor: {{max_lag: 100, max_pending: 10, max_lag_time: 5m}}}}}}}}" for key in keys]
            if args.hanging:
                lines[2:2] = [f'  hangs: {{kind: rabbitmq, url: "http://guest:guest@127.0.0.1:'
                              f'{silent.getsockname()[1]}"}}']
                lines += ["rabbitmq:", "  target: hangs", "  vhosts:", "    bench:", "      queues:",
                          "        billing: {monitor: {max_depth: 10}}"]
            path.write_text("\n".join(lines) + "\n")
            log = Path(folder) / "exporter.err"
            environment = {**os.environ, "PYTHONPATH": str(ROOT)}
            started = time.perf_counter()
            with log.open("w") as err:
                process = subprocess.Popen([sys.executable, "-m", "topology", "exporter", str(path), "--listen",
                                            "127.0.0.1:0", "--cache", "1h"], stdout=subprocess.DEVNULL, stderr=err,
                                           env=environment, cwd=folder)
            url = None
            while url is None and process.poll() is None and time.perf_counter() - started < 300:
                found = re.search(r"serving (http://\S+/metrics)", log.read_text())
                url = found.group(1) if found else None
                time.sleep(0.05)
            assert url is not None, log.read_text()
            with httpx.Client(timeout=300) as http:
                first = time.perf_counter()
                page = http.get(url).text  # waits for the first read (the cache warming)
                while not re.search(r'topology_up\{broker="redis",target="cache"\} 1\.0', page):
                    assert time.perf_counter() - first < 300, "the exporter did not read the target in 300 s"
                    page = http.get(url).text
                cold = time.perf_counter() - first
                ready = time.perf_counter() - started
                warm = []
                for _ in range(args.scrapes):
                    begin = time.perf_counter()
                    page = http.get(url).text
                    warm.append(time.perf_counter() - begin)
            if args.hanging:
                assert re.search(r'topology_up\{broker="rabbitmq",target="hangs"\} 0\.0', page), "hangs is up"
            samples = sum(1 for line in page.splitlines() if line and not line.startswith("#"))
            read = re.search(r'topology_read_seconds\{target="cache"\} (\S+)', page)
            assert read is not None
            lags = page.count('topology_lag{')
            assert lags == args.streams, f"{lags} lag gauges for {args.streams} groups"
        median, worst = statistics.median(warm), max(warm)
        beside = "; beside a RabbitMQ target that never answers" if args.hanging else ""
        print(f"watched objects: {2 * args.streams} ({args.streams} Redis streams, one group each){beside}; "
              f"{samples} samples, {len(page) / 1e6:.1f} MB per scrape")
        print(f"baseline  one raw pipeline of XLEN + XINFO GROUPS:  {baseline:6.3f} s")
        print(f"exporter  read of the target (topology_read_seconds): {float(read.group(1)):6.3f} s   "
              f"{float(read.group(1)) / baseline:.2f}x the raw pipeline")
        print(f"exporter  start (compile) to first full scrape:     {ready:6.2f} s (first scrape {cold:.2f} s)")
        print(f"exporter  warm scrape, median of {args.scrapes}:              {median:6.3f} s   "
              f"{median / baseline:.2f}x the raw pipeline; worst {worst:.3f} s "
              f"({'under' if worst < 1 else 'NOT under'} one second)")
    finally:
        if process is not None and process.poll() is None:
            process.terminate()
            process.wait(30)
        silent.close()
        for index in range(0, len(keys), 5000):
            client.delete(*keys[index:index + 5000])


if __name__ == "__main__":
    main()
