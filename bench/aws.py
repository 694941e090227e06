"""topology apply of 1,000 SQS queues with dead-letter queues, against a sequential boto3 loop; and
topology's no-op plan over the 2,000 queues.

    eval "$(scripts/brokers env)"; .venv/bin/python bench/aws.py [--queues 1000] [--rounds 3] [--latency-ms 20]

The baseline, measured in the same run against the same server, is what a hand-written script does:
for each queue, create its DLQ, read the DLQ's ARN, create the queue with its RedrivePolicy. Each round
runs both sides, the order alternating, on queues of its own, and deletes exactly the queues it made
(never a reset of the server, which other work may share); the medians are printed.

moto answers in about 2 ms of CPU on this machine's two cores, so parallel requests cannot go faster
than sequential ones there; `--latency-ms 20` adds AWS's network round trip to every request on
both sides, which is what parallelism saves against the real service: that is the headline figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3

from topology.engine.session import Engine

ENDPOINT = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")


def _delay_every_request(milliseconds: float) -> None:
    import botocore.endpoint

    send = botocore.endpoint.Endpoint._send

    def delayed(self: object, request: object) -> object:
        time.sleep(milliseconds / 1000)
        return send(self, request)

    botocore.endpoint.Endpoint._send = delayed


def _baseline(sqs: Any, prefix: str, queues: int) -> float:
    start = time.perf_counter()
    for i in range(queues):
        dlq = sqs.create_queue(QueueName=f"{prefix}-q{i}-dlq", Attributes={"MessageRetentionPeriod": "1209600"})
        arn = sqs.get_queue_attributes(QueueUrl=dlq["QueueUrl"], AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sqs.create_queue(QueueName=f"{prefix}-q{i}", Attributes={
            "VisibilityTimeout": "60", "RedrivePolicy": json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 5})})
    return time.perf_counter() - start


def _topology(prefix: str, queues: int, parallelism: int) -> tuple[float, float]:
    """(apply, then a no-op plan) of the same queues, in seconds."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.topology.yaml"
        lines = ["version: 1", "targets:", f'  aws: {{kind: aws, region: us-east-1, endpoint_url: "{ENDPOINT}"}}',
                 "sqs:", "  target: aws", "  queues:"]
        lines += [f"    {prefix}-q{i}: {{visibility_timeout: 60s, dead_letter: {{max_receives: 5}}}}"
                  for i in range(queues)]
        path.write_text("\n".join(lines) + "\n")
        start = time.perf_counter()
        with Engine([str(path)], state=Path(folder) / "s.json", parallelism=parallelism) as engine:
            report = engine.apply(engine.plan())
        applied = time.perf_counter() - start
        assert report.ok, list(report.failed.items())[:3]
        start = time.perf_counter()
        with Engine([str(path)], state=Path(folder) / "s.json", parallelism=parallelism) as engine:
            assert engine.plan().is_empty
        return applied, time.perf_counter() - start


def _delete(sqs: Any, prefix: str) -> None:
    """Every queue this round made (by its prefix), and no other."""
    for page in sqs.get_paginator("list_queues").paginate(QueueNamePrefix=prefix, MaxResults=1000):
        for url in page.get("QueueUrls", []):
            sqs.delete_queue(QueueUrl=url)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queues", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--parallelism", type=int, default=16)
    parser.add_argument("--latency-ms", type=float, default=0.0,
                        help="add this much to every request, both sides: AWS's round trip, which moto lacks")
    args = parser.parse_args()
    if args.latency_ms:
        _delay_every_request(args.latency_ms)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    sqs = boto3.client("sqs", endpoint_url=ENDPOINT, region_name="us-east-1")
    baselines: list[float] = []
    applies: list[float] = []
    plans: list[float] = []
    for round_number in range(args.rounds):
        run = uuid.uuid4().hex[:6]
        def baseline_side(run: str = run) -> None:
            baselines.append(_baseline(sqs, f"raw{run}", args.queues))

        def topology_side(run: str = run) -> None:
            _record(_topology(f"top{run}", args.queues, args.parallelism), applies, plans)

        sides: list[Callable[[], None]] = [baseline_side, topology_side]
        try:
            for side in sides if round_number % 2 == 0 else sides[::-1]:
                side()
        finally:
            _delete(sqs, f"raw{run}")
            _delete(sqs, f"top{run}")
    baseline, applied, planned = (statistics.median(x) for x in (baselines, applies, plans))
    latency = f", +{args.latency_ms:g} ms per request" if args.latency_ms else ""
    print(f"queues: {args.queues}, each with a dead-letter queue ({2 * args.queues} queues), on {ENDPOINT}{latency}; "
          f"medians of {args.rounds} rounds, the order alternating")
    print(f"baseline  sequential boto3 loop:              {baseline:6.2f} s")
    print(f"topology  apply (parallelism {args.parallelism}):            {applied:6.2f} s   "
          f"{baseline / applied:.2f}x faster")
    print(f"topology  no-op plan over {2 * args.queues} queues:      {planned:6.2f} s   "
          f"{applied / planned:.2f}x faster than the apply that made them")


def _record(times: tuple[float, float], applies: list[float], plans: list[float]) -> None:
    applies.append(times[0])
    plans.append(times[1])


if __name__ == "__main__":
    main()
