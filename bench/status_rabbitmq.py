"""topology's health read of 2,000 RabbitMQ queues, compared with one raw listing of the same vhost's queues.

    eval "$(scripts/brokers env)"; .venv/bin/python bench/status_rabbitmq.py [--queues 2000] [--rounds 3]

One fresh vhost holds the queues (made by one definitions import, some with messages); the file declares
each of them, so each is watched (a work queue: min_consumers 1). Measured, alternating which side goes
first, medians of the rounds printed:
- the baseline: what a hand-written script does: connect with httpx, `GET /api/queues/{vhost}` with the
  columns status needs, parse the JSON;
- `Reader(topology).read()` with a fresh Reader (it connects and checks the API first, as `status` does),
  and a second read on the same Reader (as `--watch` and the exporter do), each against the baseline;
- for scale: the same listing without `columns` (every field of every queue).
The topology is compiled once, outside the timings (`status` compiles it before it reads).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx

from topology.brokers.rabbitmq.health import COLUMNS
from topology.format.compile import compile_topology
from topology.monitor.read import Reader

RABBITMQ_URL = os.environ.get("RABBITMQ_URL", "http://guest:guest@127.0.0.1:15672")
AMQP_URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


def document(vhost: str, queues: int) -> str:
    lines = ["version: 1", "targets:", '  rabbit: {kind: rabbitmq, url: "${RABBITMQ_URL}"}', "rabbitmq:",
             "  target: rabbit", "  vhosts:", f"    {vhost}:", "      queues:"]
    lines += [f"        q{i}: {{}}" for i in range(queues)]
    return "\n".join(lines) + "\n"


def fill(vhost: str, queues: int) -> None:
    """A message in every tenth queue, with a timestamp, so the listing carries figures and ages."""
    import pika

    parts = urlsplit(AMQP_URL)
    connection = pika.BlockingConnection(pika.URLParameters(f"{parts.scheme}://{parts.netloc}/{quote(vhost, safe='')}"))
    try:
        channel = connection.channel()
        for i in range(0, queues, 10):
            channel.basic_publish("", f"q{i}", b"x", pika.BasicProperties(timestamp=int(time.time()) - i))
    finally:
        connection.close()


def raw_listing(base: str, auth: tuple[str, str], vhost: str, columns: str | None) -> tuple[float, float]:
    """(connect and list, list again on the same connection)."""
    times: list[float] = []
    start = time.perf_counter()
    with httpx.Client(base_url=base, auth=auth, timeout=300) as client:
        for _ in range(2):
            response = client.get(f"/api/queues/{quote(vhost, safe='')}",
                                  params={"columns": columns} if columns else None)
            response.raise_for_status()
            assert len(response.json()) >= 1
            times.append(time.perf_counter() - start)
            start = time.perf_counter()
    return times[0], times[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queues", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    parts = urlsplit(RABBITMQ_URL)
    base = f"{parts.scheme}://{parts.hostname}:{parts.port}"
    auth = (parts.username or "guest", parts.password or "guest")
    vhost = f"bench-status-{uuid.uuid4().hex[:8]}"
    admin = httpx.Client(base_url=base, auth=auth, timeout=300)
    try:
        admin.put(f"/api/vhosts/{vhost}").raise_for_status()
        admin.put(f"/api/permissions/{vhost}/{auth[0]}",
                  json={"configure": ".*", "write": ".*", "read": ".*"}).raise_for_status()
        admin.post(f"/api/definitions/{vhost}", json={"queues": [
            {"name": f"q{i}", "durable": True, "auto_delete": False, "arguments": {}}
            for i in range(args.queues)]}).raise_for_status()
        fill(vhost, args.queues)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "bench.topology.yaml"
            path.write_text(document(vhost, args.queues))
            topology = compile_topology([str(path)], environ={"RABBITMQ_URL": RABBITMQ_URL})
            topology.raise_for_errors()
        watched = len(topology.watches())
        # until the broker has statistics for every queue (a new queue has none for a statistics interval)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            listed = admin.get(f"/api/queues/{vhost}", params={"columns": "name,messages_ready"}).json()
            if len(listed) == args.queues and all("messages_ready" in q for q in listed):
                break
            time.sleep(0.5)

        raw: list[float] = []
        raw_again: list[float] = []
        cold: list[float] = []
        warm: list[float] = []
        full: list[float] = []

        def ours() -> None:
            start = time.perf_counter()
            with Reader(topology, environ={"RABBITMQ_URL": RABBITMQ_URL}) as reader:
                health = reader.read()
                cold.append(time.perf_counter() - start)
                assert not health.errors, health.errors
                assert len(health.readings) == watched
                assert not any(r.missing or "consumers" not in r.metrics for r in health.readings)
                start = time.perf_counter()
                reader.read()
                warm.append(time.perf_counter() - start)

        def by_hand() -> None:
            first, again = raw_listing(base, auth, vhost, COLUMNS)
            raw.append(first)
            raw_again.append(again)

        for round_ in range(args.rounds):
            for side in ((by_hand, ours) if round_ % 2 == 0 else (ours, by_hand)):
                side()
            full.append(raw_listing(base, auth, vhost, None)[0])

        baseline, baseline_again = statistics.median(raw), statistics.median(raw_again)
        print(f"queues: {args.queues} in one vhost, {watched} watched; medians of {args.rounds} rounds")
        print(f"baseline  one raw listing (status columns), connecting:  {baseline:7.3f} s")
        print(f"baseline  the same listing again, connected:             {baseline_again:7.3f} s")
        for label, times, against in (
                ("status    Reader().read(), fresh (vs connecting):     ", cold, baseline),
                ("status    Reader.read() again (vs connected):          ", warm, baseline_again),
                ("(scale)   one raw listing, all fields (vs connecting): ", full, baseline)):
            median = statistics.median(times)
            print(f"{label}  {median:7.3f} s   ratio {median / against:.2f}x")
    finally:
        admin.delete(f"/api/vhosts/{vhost}")
        admin.close()


if __name__ == "__main__":
    main()
