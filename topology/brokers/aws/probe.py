"""Live SNS filter probes on a real SNS/SQS that never touch the real queues."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["SnsProbe"]


class SnsProbe:
    """Live SNS filter checks that never touch the real queues: a temporary topic, and one temporary
    queue per SQS subscription of the real topic with the same filter policy, scope and raw delivery."""

    def __init__(self, sqs: Any, sns: Any, topic: str, subscriptions: Sequence[Mapping[str, Any]], *,
                 wait_seconds: int = 1) -> None:
        self.sqs, self.sns = sqs, sns
        self.wait_seconds = wait_seconds  # SNS delivers to SQS asynchronously on AWS
        self.prefix = f"topology-probe-{uuid.uuid4().hex[:10]}"
        self.topic_arn = sns.create_topic(Name=f"{self.prefix}-{topic}"[:256])["TopicArn"]
        self.queues: dict[str, str] = {}  # probe queue URL -> declared queue
        for index, subscription in enumerate(subscriptions):
            url = sqs.create_queue(QueueName=f"{self.prefix}-{index}")["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            attributes = {"RawMessageDelivery": "true"}
            if subscription.get("FilterPolicy") is not None:
                attributes["FilterPolicy"] = json.dumps(subscription["FilterPolicy"])
                attributes["FilterPolicyScope"] = subscription.get("FilterPolicyScope", "MessageAttributes")
            sns.subscribe(TopicArn=self.topic_arn, Protocol="sqs", Endpoint=arn, Attributes=attributes)
            self.queues[url] = subscription["queue"]

    def __enter__(self) -> SnsProbe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def route(self, attributes: Mapping[str, Any] | None = None, body: Mapping[str, Any] | None = None) -> set[str]:
        marker = uuid.uuid4().hex
        message_attributes = {
            key: ({"DataType": "Number", "StringValue": str(value)} if isinstance(value, int | float)
                  and not isinstance(value, bool) else {"DataType": "String", "StringValue": str(value)})
            for key, value in (attributes or {}).items()}
        message = json.dumps({**(body or {}), "topology-probe": marker})
        self.sns.publish(TopicArn=self.topic_arn, Message=message, MessageAttributes=message_attributes)
        reached = set()
        for url, queue in self.queues.items():
            received = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                                WaitTimeSeconds=self.wait_seconds)
            for item in received.get("Messages", []):
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=item["ReceiptHandle"])
                if marker in item["Body"]:
                    reached.add(queue)
        return reached

    def close(self) -> None:
        for url in self.queues:
            self.sqs.delete_queue(QueueUrl=url)
        self.sns.delete_topic(TopicArn=self.topic_arn)
