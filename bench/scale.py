"""How plan and apply grow with the size of the topology, on the embedded local target: generated
topologies of about 10,000 to 100,000 resources (the mix of bench/validate_10k.py, one file of about
10,000 resources per "chunk", as a file holds at most 500,000 values), each size run in a fresh
process, which reports its times and its peak memory.

    .venv/bin/python bench/scale.py [--chunks 1,3,10]
    eval "$(scripts/brokers env)"; .venv/bin/python bench/scale.py --rabbitmq [--chunks 1,2,5]

For each size: the first plan (all creates), the apply of it into a state file, and a no-op plan
against that state. The log-log slope of time against resources is printed for each (1.0 is linear),
with each size's peak resident memory (the aim: linear, and under 1 GiB at 100,000 resources).

With --rabbitmq, the same on the RabbitMQ broker of RABBITMQ_URL: a chunk is a vhost of its own with
one topic exchange and 2,000 queues bound to it (4,002 resources), so 5 chunks are about 20,000
objects. Only the vhosts the run made are deleted afterwards (one DELETE each).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))

from validate_10k import generate

from topology.engine.session import Engine

QUEUES = 2400  # a chunk: about 10,000 resources


def chunk(k: int) -> str:
    """The k-th file: bench/validate_10k.py's mix in vhost `v<k>`, every name of its own."""
    return generate(QUEUES, vhost=f"v{k}", topics=f"c{k}.", names=f"c{k}-")


RABBITMQ_URL = os.environ.get("RABBITMQ_URL", "http://guest:guest@127.0.0.1:15672")
RABBITMQ_QUEUES = 2000  # a RabbitMQ chunk: a vhost, an exchange, 2,000 queues and their bindings


def rabbitmq_chunk(k: int, run: str) -> str:
    """The k-th RabbitMQ file: vhost `<run>-v<k>` on the broker of RABBITMQ_URL."""
    lines = ["version: 1", "targets:", f'  rabbit: {{kind: rabbitmq, url: "{RABBITMQ_URL}"}}']
    lines += ["rabbitmq:", "  target: rabbit", "  vhosts:", f"    {run}-v{k}:", "      exchanges:",
              "        orders: {type: topic}", "      queues:"]
    lines += [f'        q{i}: {{bindings: [{{exchange: orders, routing_key: "k.{i}.*"}}]}}'
              for i in range(RABBITMQ_QUEUES)]
    return "\n".join(lines) + "\n"


def _delete_vhosts(run: str, chunks: int) -> None:
    """The run's own vhosts, deleted on the broker (nothing else is touched)."""
    parts = httpx.URL(RABBITMQ_URL)
    with httpx.Client(base_url=f"{parts.scheme}://{parts.host}:{parts.port}", timeout=120,
                      auth=(parts.username or "guest", parts.password or "guest")) as client:
        for k in range(chunks):
            client.delete(f"/api/vhosts/{run}-v{k}")


def _one(chunks: int, rabbitmq: bool = False) -> dict[str, float]:
    """Run in its own process: the times of one size, and the process's peak memory."""
    run = f"scale-{uuid.uuid4().hex[:8]}"
    try:
        return _measured(chunks, (lambda k: rabbitmq_chunk(k, run)) if rabbitmq else chunk)
    finally:
        if rabbitmq:
            _delete_vhosts(run, chunks)


def _measured(chunks: int, text: Callable[[int], str]) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for k in range(chunks):
            paths.append(Path(folder) / f"c{k:03}.topology.yaml")
            paths[-1].write_text(text(k))
        files = [str(p) for p in paths]
        state = Path(folder) / "state.json"
        start = time.perf_counter()
        with Engine(files, state=state) as engine:
            plan = engine.plan()
            planned = time.perf_counter()
            report = engine.apply(plan)
        applied = time.perf_counter()
        assert report.ok, list(report.failed.items())[:3]
        with Engine(files, state=state) as engine:
            again = engine.plan()
        noop = time.perf_counter()
        assert again.is_empty, again.summary()
        resources = len(engine.topology.resources)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"resources": resources, "plan": planned - start, "apply": applied - planned, "noop": noop - applied,
            "peak_mib": peak_kib / 1024}


def _slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of log(time) against log(resources)."""
    xs = [math.log(x) for x, _ in points]
    ys = [math.log(y) for _, y in points]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sum((x - mean_x) ** 2 for x in xs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", help="files per run: about 10,000 resources each on the local target "
                        "(default 1,3,10), 4,002 on RabbitMQ (default 1,2,5)")
    parser.add_argument("--rabbitmq", action="store_true", help="on the RabbitMQ broker of RABBITMQ_URL")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(_one(args.one, args.rabbitmq)))
        return
    rows = []
    for chunks in (int(size) for size in (args.chunks or ("1,2,5" if args.rabbitmq else "1,3,10")).split(",")):
        done = subprocess.run([sys.executable, __file__, "--one", str(chunks), *(["--rabbitmq"] * args.rabbitmq)],
                              check=True, capture_output=True, text=True)
        rows.append(json.loads(done.stdout))
    print(f"{'resources':>10} {'plan':>8} {'apply':>8} {'no-op':>8} {'peak memory':>12}")
    for row in rows:
        print(f"{row['resources']:>10,} {row['plan']:7.2f}s {row['apply']:7.2f}s {row['noop']:7.2f}s "
              f"{row['peak_mib']:9.0f} MiB")
    if len({row["resources"] for row in rows}) < 2:
        return  # a slope needs two sizes
    for step in ("plan", "apply", "noop"):
        slope = _slope([(row["resources"], row[step]) for row in rows])
        print(f"log-log slope of {step:5}: {slope:.2f} (1.00 is linear)")


if __name__ == "__main__":
    main()
