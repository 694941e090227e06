"""A plan reads what it compares: an SQS queue's or SNS topic's tags only when the file declares tags for
it (one ListQueueTags per such queue, none for the rest), so a no-op plan of 2,000 queues makes half the
requests; export, which writes everything, still reads every tag. On moto's server; the operations are
counted by a pass-through wrapper (tests/aws_clients.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.aws_clients import AwsDrivers, Faulty, aws_driver_fixture  # noqa: F401 - the aws_driver fixture
from tests.conftest import unique
from topology.brokers.base import Selection

pytestmark = pytest.mark.aws


def _counted(aws_driver: AwsDrivers) -> tuple[Any, list[str]]:
    calls: list[str] = []
    return aws_driver(sqs=Faulty(before=calls.append), sns=Faulty(before=calls.append)), calls


def test_tags_are_read_only_where_the_file_declares_them(aws_clients: tuple[Any, Any], aws_driver: AwsDrivers) -> None:
    sqs, sns = aws_clients
    names = [unique("reads") for _ in range(3)]
    for name in names:
        sqs.create_queue(QueueName=name, tags={"team": "shop"})
    topic = unique("reads-topic")
    sns.create_topic(Name=topic, Tags=[{"Key": "team", "Value": "shop"}])
    addresses = frozenset([*(f"sqs/queue/{n}" for n in names), f"sns/topic/{topic}"])
    declared: dict[str, dict[str, Any]] = {f"sqs/queue/{names[0]}": {"VisibilityTimeout": 60, "tags": {"team": "shop"}},
                                           f"sqs/queue/{names[1]}": {"VisibilityTimeout": 60}, f"sns/topic/{topic}": {}}
    driver, calls = _counted(aws_driver)
    with driver:
        live = driver.inspect(Selection(addresses, declared=declared))
    assert calls.count("list_queue_tags") == 1 and calls.count("list_tags_for_resource") == 0
    assert live[f"sqs/queue/{names[0]}"].attributes["tags"] == {"team": "shop"}  # declared: read and compared
    assert "tags" not in live[f"sqs/queue/{names[1]}"].attributes
    driver, calls = _counted(aws_driver)
    with driver:  # nothing declared: everything, as export reads it
        live = driver.inspect(Selection(addresses))
    assert calls.count("list_queue_tags") == 3 and calls.count("list_tags_for_resource") == 1
    assert all(live[f"sqs/queue/{n}"].attributes["tags"] == {"team": "shop"} for n in names)
