"""moto's server answers as SQS and SNS: a queue and a topic made through boto3 exist, then are gone."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.aws


def test_sqs_queue_created_and_deleted(aws_clients: tuple[Any, Any]) -> None:
    sqs, _sns = aws_clients
    url = sqs.create_queue(QueueName="billing", Attributes={"VisibilityTimeout": "45"})["QueueUrl"]
    assert sqs.get_queue_url(QueueName="billing")["QueueUrl"] == url
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])["Attributes"]
    assert attributes == {"VisibilityTimeout": "45"}

    sqs.delete_queue(QueueUrl=url)
    assert sqs.list_queues().get("QueueUrls", []) == []
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.get_queue_url(QueueName="billing")


def test_sns_topic_created_and_deleted(aws_clients: tuple[Any, Any]) -> None:
    _sqs, sns = aws_clients
    arn = sns.create_topic(Name="order-events")["TopicArn"]
    assert arn.endswith(":order-events")
    assert [t["TopicArn"] for t in sns.list_topics()["Topics"]] == [arn]

    sns.delete_topic(TopicArn=arn)
    assert sns.list_topics()["Topics"] == []
