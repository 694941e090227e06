"""topology apply of 1,000 SQS queues with dead-letter queues, against a sequential boto3 loop.

    eval "$(scripts/brokers env)"; .venv/bin/python bench/aws.py [--queues 1000]

The baseline, measured in the same run against the same server, is what a hand-written script does:
for each queue, create its DLQ, read the DLQ's ARN, create the queue with its RedrivePolicy. Also
prints the time of a no-op plan over the 2,000 queues. Resets moto's state at the end.

moto answers in about 2 ms of CPU on this machine's two cores, so parallel requests cannot go faster
than sequential ones there; `--latency-ms 20` adds AWS's network round trip to every request on
both sides, which is what parallelism saves against the real service.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import uuid
from pathlib import Path

import boto3
import httpx

from topology.engine.session import Engine

ENDPOINT = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queues", type=int, default=1000)
    parser.add_argument("--parallelism", type=int, default=16)
    parser.add_argument("--latency-ms", type=float, default=0.0,
                        help="add this much to every request, both sides: AWS's round trip, which moto lacks")
    args = parser.parse_args()
    if args.latency_ms:
        import botocore.endpoint

        send = botocore.endpoint.Endpoint._send

        def delayed(self: object, request: object) -> object:
            time.sleep(args.latency_ms / 1000)
            return send(self, request)  # type: ignore[arg-type]

        botocore.endpoint.Endpoint._send = delayed  # type: ignore[method-assign]
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    sqs = boto3.client("sqs", endpoint_url=ENDPOINT, region_name="us-east-1")
    run = uuid.uuid4().hex[:6]
    try:
        start = time.perf_counter()
        for i in range(args.queues):
            dlq = sqs.create_queue(QueueName=f"raw{run}-q{i}-dlq", Attributes={"MessageRetentionPeriod": "1209600"})
            arn = sqs.get_queue_attributes(QueueUrl=dlq["QueueUrl"], AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"]
            sqs.create_queue(QueueName=f"raw{run}-q{i}", Attributes={
                "VisibilityTimeout": "60",
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 5})})
        baseline = time.perf_counter() - start

        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "bench.topology.yaml"
            lines = ["version: 1", "targets:", f'  aws: {{kind: aws, region: us-east-1, endpoint_url: "{ENDPOINT}"}}',
                     "sqs:", "  target: aws", "  queues:"]
            lines += [f"    top{run}-q{i}: {{visibility_timeout: 60s, dead_letter: {{max_receives: 5}}}}"
                      for i in range(args.queues)]
            path.write_text("\n".join(lines) + "\n")
            start = time.perf_counter()
            with Engine([str(path)], state=Path(folder) / "s.json", parallelism=args.parallelism) as engine:
                report = engine.apply(engine.plan())
            elapsed = time.perf_counter() - start
            assert report.ok, list(report.failed.items())[:3]
            start = time.perf_counter()
            with Engine([str(path)], state=Path(folder) / "s.json", parallelism=args.parallelism) as engine:
                assert engine.plan().is_empty
            planned = time.perf_counter() - start
        latency = f", +{args.latency_ms:g} ms per request" if args.latency_ms else ""
        print(f"queues: {args.queues}, each with a dead-letter queue ({2 * args.queues} queues), "
              f"on {ENDPOINT}{latency}")
        print(f"baseline  sequential boto3 loop:              {baseline:6.2f} s")
        print(f"topology  apply (parallelism {args.parallelism}):            {elapsed:6.2f} s   "
              f"{baseline / elapsed:.2f}x faster")
        print(f"no-op plan over {2 * args.queues} queues:                {planned:6.2f} s")
    finally:
        httpx.post(f"{ENDPOINT}/moto-api/reset")


if __name__ == "__main__":
    main()
