"""topology apply against a real RabbitMQ, compared with one raw definitions import of the same objects.

    eval "$(scripts/brokers env)"; .venv/bin/python bench/rabbitmq.py [--queues 2000] [--exchanges 100]

1. `topology apply` (compile, inspect, plan, apply) of 100 exchanges and 2,000 queues with one
   binding each into a fresh vhost, against the baseline measured in the same run: one
   `POST /api/definitions/{vhost}` of the same objects into another fresh vhost. Prints the ratio.
2. A no-op plan over about 5,000 resources already on the broker.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
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
    path = folder / f"{vhost}.topology.yaml"
    path.write_text(document(vhost, queues, exchanges))
    start = time.perf_counter()
    with Engine([str(path)], state=folder / "state.json") as engine:
        plan = engine.plan()
        report = engine.apply(plan)
    elapsed = time.perf_counter() - start
    assert report.ok, list(report.failed.items())[:3]
    return elapsed, len(plan.changes)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queues", type=int, default=2000)
    parser.add_argument("--exchanges", type=int, default=100)
    args = parser.parse_args()
    parts = urlsplit(RABBITMQ_URL)
    client = httpx.Client(base_url=f"{parts.scheme}://{parts.hostname}:{parts.port}",
                          auth=(parts.username or "guest", parts.password or "guest"), timeout=300)
    run = uuid.uuid4().hex[:8]
    ours, raw, noop = f"bench-topology-{run}", f"bench-raw-{run}", f"bench-noop-{run}"
    try:
        with tempfile.TemporaryDirectory() as folder:
            elapsed, changes = topology_apply(Path(folder), ours, args.queues, args.exchanges)

            start = time.perf_counter()
            client.put(f"/api/vhosts/{raw}").raise_for_status()
            client.post(f"/api/definitions/{quote(raw, safe='')}",
                        json=raw_definitions(args.queues, args.exchanges)).raise_for_status()
            baseline = time.perf_counter() - start

            print(f"objects: {args.exchanges} exchanges, {args.queues} queues, {args.queues} bindings "
                  f"({changes} changes with the vhost)")
            print(f"baseline  one raw definitions import:  {baseline:7.2f} s")
            print(f"topology  apply (compile+plan+apply):  {elapsed:7.2f} s   ratio {elapsed / baseline:.2f}x")

            queues = (5000 - 1 - args.exchanges) // 2
            topology_apply(Path(folder), noop, queues, args.exchanges)
            path = Path(folder) / f"{noop}.topology.yaml"
            start = time.perf_counter()
            with Engine([str(path)], state=Path(folder) / "state.json") as engine:
                plan = engine.plan()
                resources = len(engine.topology.resources)
            planned = time.perf_counter() - start
            assert plan.is_empty, plan.summary()
            print(f"no-op plan over {resources} resources:      {planned:7.2f} s")
    finally:
        for vhost in (ours, raw, noop):
            client.delete(f"/api/vhosts/{vhost}")


if __name__ == "__main__":
    main()
