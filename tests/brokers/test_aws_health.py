"""SQS health for `topology status` and the exporter, on moto's server: real visible, in-flight and
delayed messages made with boto3, read back by the driver's concurrent GetQueueAttributes; a queue
that does not exist is `missing`; the age of the oldest message is said to be CloudWatch's. The tests
use their own queue names and leave moto's other state alone."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli import with_file
from tests.conftest import AWS_ENDPOINT_URL, START_HINT, unique
from topology.brokers.aws.driver import AwsDriver
from topology.core.monitor import Declared, Reading, Watch
from topology.format.compile import compile_topology
from topology.monitor.read import Reader

pytestmark = pytest.mark.aws

_AGE_NOTE = ("the age of the oldest message is a CloudWatch metric (ApproximateAgeOfOldestMessage), not a queue "
             "attribute")


@pytest.fixture(name="sqs")
def sqs_fixture(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A boto3 SQS client on moto's server (not reset: the tests' names are their own); the queues the
    test makes are deleted after it."""
    import boto3
    import botocore.exceptions

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    client = boto3.client("sqs", endpoint_url=AWS_ENDPOINT_URL, region_name="us-east-1")
    try:
        client.list_queues(MaxResults=1)
    except botocore.exceptions.EndpointConnectionError as exc:
        pytest.fail(f"moto's server (SQS) is not reachable at {AWS_ENDPOINT_URL} ({exc}); {START_HINT}", pytrace=False)
    made: list[str] = []
    original = client.create_queue

    def create_queue(**kwargs: Any) -> Any:
        answer = original(**kwargs)
        made.append(answer["QueueUrl"])
        return answer

    client.create_queue = create_queue
    yield client
    for url in made:
        with contextlib.suppress(botocore.exceptions.ClientError):
            client.delete_queue(QueueUrl=url)


def _watch(name: str, **limits: int) -> Watch:
    return Watch(f"sqs/queue/{name}", "sqs.queue", name, "", "aws", "work",
                 {k: Declared(v) for k, v in limits.items()})


def _until(read: Callable[[], Reading], wanted: dict[str, float], seconds: float = 15.0) -> Reading:
    """Read until the counts are `wanted` (SQS's counts are approximate and settle), for at most `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        reading = read()
        if dict(reading.metrics) == wanted or time.monotonic() > deadline:
            return reading
        time.sleep(0.2)


def _driver() -> AwsDriver:
    return AwsDriver(region="us-east-1", endpoint_url=AWS_ENDPOINT_URL, parallelism=4)


def test_visible_in_flight_and_delayed_are_read(sqs: Any) -> None:
    name = unique("health")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    for index in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{index}")
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=600)["Messages"]
    assert len(received) == 1  # received and not deleted: in flight
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=600)

    watch = _watch(name, max_depth=1, max_in_flight=5)
    with _driver() as driver:
        reading = _until(lambda: driver.health([watch])[0], {"depth": 2.0, "in_flight": 1.0, "delayed": 1.0})
    assert reading.address == f"sqs/queue/{name}" and not reading.missing
    assert dict(reading.metrics) == {"depth": 2.0, "in_flight": 1.0, "delayed": 1.0}
    assert reading.notes == ()  # no max_age declared: nothing to explain


def test_many_queues_are_read_concurrently_and_a_missing_one_is_missing(sqs: Any) -> None:
    names = [unique(f"many{i}") for i in range(12)]
    for count, name in enumerate(names):
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        for index in range(count % 4):
            sqs.send_message(QueueUrl=url, MessageBody=str(index))
    gone = unique("gone")
    watches = [_watch(n, max_depth=10) for n in names] + [_watch(gone, max_depth=10, max_age=300_000)]
    with _driver() as driver:
        readings = driver.health(watches)
    assert [r.address for r in readings] == [w.address for w in watches]
    assert [r.metrics.get("depth") for r in readings[:-1]] == [float(i % 4) for i in range(len(names))]
    assert readings[-1].missing and readings[-1].metrics == {}
    assert readings[-1].notes == (_AGE_NOTE,)


def test_a_queue_deleted_after_it_was_read_is_missing_next_time(sqs: Any) -> None:
    name = unique("deleted")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    with _driver() as driver:
        [first] = driver.health([_watch(name, max_depth=0)])
        assert not first.missing and first.metrics["depth"] == 0.0
        sqs.delete_queue(QueueUrl=url)
        [second] = driver.health([_watch(name, max_depth=0)])
    assert second.missing


def test_status_reads_a_file_and_finds_the_breach(sqs: Any, tmp_path: Path) -> None:
    name = unique("status")
    text = f"""version: 1
targets:
  aws: {{kind: aws, region: us-east-1, endpoint_url: "{AWS_ENDPOINT_URL}"}}
sqs:
  target: aws
  queues:
    {name}: {{monitor: {{max_depth: 1, max_in_flight: 10, max_age: 5m}}}}
"""
    path = tmp_path / "t.topology.yaml"
    path.write_text(text)
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    for index in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=str(index))
    topology = compile_topology([str(path)])
    assert not topology.errors
    with Reader(topology) as reader:
        rows = reader.read().rows()
    [row] = rows
    assert row.state == "breach"
    assert [(b.limit, b.measured, b.value) for b in row.breaches] == [("max_depth", 3.0, 1)]
    assert row.unknown == ("max_age",) and _AGE_NOTE in row.notes
    assert row.breaches[0].where is not None and row.breaches[0].where.line == 7

    validated = with_file(tmp_path, text, "validate")  # the limit it cannot read is a warning, not an error
    assert validated.returncode == 0, validated.stderr
    assert "warning" in validated.stderr and "ApproximateAgeOfOldestMessage" in validated.stderr
