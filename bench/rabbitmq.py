"""topology apply against a real RabbitMQ, compared with one raw definitions import of the same objects,
over several rounds.

    eval "$(scripts/brokers env)"; .venv/bin/python bench/rabbitmq.py [--queues 2000] [--exchanges 100] [--rounds 3]

1. `topology apply` (compile, inspect, plan, apply) of 100 exchanges and 2,000 queues with one
   binding each into a fresh vhost, against the baseline measured in the same round: one
   `POST /api/definitions/{vhost}` of the same objects into another fresh vhost. Each round alternates
   which side goes first; prints the figures of each round, their medians and the ratio of the medians.
2. A no-op plan over about 5,000 resources already on the broker (applied once, planned each round).

Every vhost is named after the run (bench-*-<run>...) and deleted at the end; nothing else on the broker
is touched.
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
from urllib.parse import quote, urlsplit

import httpx

from topology.engine.session import Engine

RABBITMQ_URL = os.environ.get("RABBITMQ_URL", "http://guest:guest@127.0.0.1:15672")


def document(vhost: str, queues: int, exchanges: int) -> str:
    lines = ["version: 1", "targets:", f'  rabbit: {{kind: rabbitmq, url: "{RABBITMQ_URL}"}}', "rabbitmq:",
             "  target: rabbit", "  vhosts:", f"    {vhost}:", "      exchanges:"]
    lines += [f"        ex{i}: {{type: topic}}" for i in range(exchanges)]
    lines.append("      queues:")
    lines += [f'        q{i}: {{bindings: [{{exchange: ex{i % exchanges}, routing_key: "k.{i}.#"}}]}}'
              for i in range(queues)]
    return "\n".join(lines) + "\n"


def raw_definitions(queues: int, exchanges: int) -> dict[str, list[dict[str, object]]]:
    return {
        "exchanges": [{"name": f"ex{i}", "type": "topic", "durable": True, "auto_delete": False, "internal": False,
                       "arguments": {}} for i in range(exchanges)],
        "queues": [{"name": f"q{i}", "durable": True, "auto_delete": False, "arguments": {}} for i in range(queues)],
        "bindings": [{"source": f"ex{i % exchanges}", "destination": f"q{i}", "destination_type": "queue",
                      "routing_key": f"k.{i}.#", "arguments": {}} for i in range(queues)],
    }


def topology_apply(folder: Path, vhost: str, queues: int, exchanges: int) -> tuple[float, int]:
    """Seconds to compile, plan and apply the file of one vhost, and the number of changes."""
    path = folder / f"{vhost}.topology.yaml"
    path.write_text(document(vhost, queues, exchanges))
    start = time.perf_counter()
    with Engine([str(path)], state=folder / f"{vhost}.state.json") as engine:
        plan = engine.plan()
        report = engine.apply(plan)
    elapsed = time.perf_counter() - start
    assert report.ok, list(report.failed.items())[:3]
    return elapsed, len(plan.changes)


def raw_import(client: httpx.Client, vhost: str, queues: int, exchanges: int) -> float:
    start = time.perf_counter()
    client.put(f"/api/vhosts/{quote(vhost, safe='')}").raise_for_status()
    client.post(f"/api/definitions/{quote(vhost, safe='')}",
                json=raw_definitions(queues, exchanges)).raise_for_status()
    return time.perf_counter() - start


def noop_plan(folder: Path, vhost: str) -> tuple[float, int]:
    """Seconds to compile and plan an applied vhost again (the plan must be empty), and its resources."""
    start = time.perf_counter()
    with Engine([str(folder / f"{vhost}.topology.yaml")], state=folder / f"{vhost}.state.json") as engine:
        plan = engine.plan()
        resources = len(engine.topology.resources)
    elapsed = time.perf_counter() - start
    assert plan.is_empty, plan.summary()
    return elapsed, resources


def one_round(client: httpx.Client, folder: Path, run: str, number: int, args: argparse.Namespace,
              created: list[str]) -> dict[str, float]:
    ours, raw = f"bench-topology-{run}-r{number}", f"bench-raw-{run}-r{number}"
    created += [ours, raw]
    figures: dict[str, float] = {}

    def apply() -> None:
        figures["apply"], figures["changes"] = topology_apply(folder, ours, args.queues, args.exchanges)

    def baseline() -> None:
        figures["baseline"] = raw_import(client, raw, args.queues, args.exchanges)

    sides: list[Callable[[], None]] = [apply, baseline] if number % 2 == 0 else [baseline, apply]
    try:
        for side in sides:
            side()
    finally:
        for vhost in (ours, raw):
            client.delete(f"/api/vhosts/{quote(vhost, safe='')}")
    return figures


def show(label: str, values: list[float]) -> float:
    median = statistics.median(values)
    print(f"{label:40s} median {median:7.2f} s   rounds: " + "  ".join(f"{v:6.2f}" for v in values))
    return median


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queues", type=int, default=2000)
    parser.add_argument("--exchanges", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    parts = urlsplit(RABBITMQ_URL)
    client = httpx.Client(base_url=f"{parts.scheme}://{parts.hostname}:{parts.port}",
                          auth=(parts.username or "guest", parts.password or "guest"), timeout=300)
    run = uuid.uuid4().hex[:8]
    noop = f"bench-noop-{run}"
    created = [noop]
    try:
        with tempfile.TemporaryDirectory() as folder:
            rounds = [one_round(client, Path(folder), run, number, args, created)
                      for number in range(max(1, args.rounds))]
            topology_apply(Path(folder), noop, (5000 - 1 - args.exchanges) // 2, args.exchanges)
            planned = [noop_plan(Path(folder), noop) for _ in rounds]
        print(f"objects: {args.exchanges} exchanges, {args.queues} queues, {args.queues} bindings "
              f"({rounds[0]['changes']:.0f} changes with the vhost); {len(rounds)} rounds, alternating which "
              "side goes first (round 1: topology first)")
        baseline = show("baseline  one raw definitions import", [r["baseline"] for r in rounds])
        elapsed = show("topology  apply (compile+plan+apply)", [r["apply"] for r in rounds])
        print(f"ratio of the medians (topology / baseline): {elapsed / baseline:.2f}x")
        show(f"no-op plan over {planned[0][1]} resources", [p[0] for p in planned])
    finally:
        for vhost in created:
            client.delete(f"/api/vhosts/{quote(vhost, safe='')}")


if __name__ == "__main__":
    main()
