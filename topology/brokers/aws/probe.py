"""Live SNS filter probes on a real SNS/SQS that never touch the real queues."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from topology.brokers.aws.driver import translated
from topology.brokers.aws.filter_policy import wire_attributes
from topology.errors import BrokerError, InputError

__all__ = ["SnsProbe"]


class SnsProbe:
    """Live SNS filter checks that never touch the real queues: a temporary topic, and one temporary
    queue per SQS subscription of the real topic with the same filter policy, scope and raw delivery (SNS
    discards a message of more than 10 attributes for a raw subscriber only).

    Every request goes through the AWS driver's error translation, so a failure is one of topology's
    errors; what the probe made is removed again if making the rest fails, and on close."""

    def __init__(self, sqs: Any, sns: Any, topic: str, subscriptions: Sequence[Mapping[str, Any]], *,
                 wait_seconds: int = 1) -> None:
        self.sqs, self.sns = translated(sqs), translated(sns)
        self.wait_seconds = wait_seconds  # SNS delivers to SQS asynchronously on AWS
        self.prefix = f"topology-probe-{uuid.uuid4().hex[:10]}"
        self.topic_arn: str | None = None
        self.queues: dict[str, str] = {}  # probe queue URL -> declared queue
        try:
            self.topic_arn = str(self.sns.create_topic(Name=f"{self.prefix}-{topic}"[:256])["TopicArn"])
            for index, subscription in enumerate(subscriptions):
                self._subscribe(index, subscription)
        except BrokerError:
            self._remove()
            raise

    def _subscribe(self, index: int, subscription: Mapping[str, Any]) -> None:
        url = str(self.sqs.create_queue(QueueName=f"{self.prefix}-{index}")["QueueUrl"])
        self.queues[url] = subscription["queue"]
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        attributes = {"RawMessageDelivery": "true" if subscription.get("RawMessageDelivery") else "false"}
        if subscription.get("FilterPolicy") is not None:
            attributes["FilterPolicy"] = json.dumps(subscription["FilterPolicy"])
            attributes["FilterPolicyScope"] = subscription.get("FilterPolicyScope", "MessageAttributes")
        self.sns.subscribe(TopicArn=self.topic_arn, Protocol="sqs", Endpoint=arn, Attributes=attributes)

    def __enter__(self) -> SnsProbe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def route(self, attributes: Mapping[str, Any] | None = None, body: Mapping[str, Any] | None = None) -> set[str]:
        """The real subscriptions' queues the message reaches."""
        return self.route_many([(attributes, body)])[0]

    def route_many(self, messages: Sequence[tuple[Mapping[str, Any] | None, Mapping[str, Any] | None]]
                   ) -> list[set[str]]:
        """The real subscriptions' queues each (attributes, body) message reaches: all are published, each
        attribute typed as SNS types it (String, Number, String.Array as a JSON array, Binary) and the body as
        JSON, then each probe queue is drained once."""
        markers: dict[str, int] = {}
        for index, (attributes, body) in enumerate(messages):
            try:
                message_attributes = wire_attributes(attributes or {})
            except ValueError as exc:
                raise InputError(f"the message cannot be published to SNS: {exc}") from None
            marker = uuid.uuid4().hex
            markers[marker] = index
            message = json.dumps({**(body or {}), "topology-probe": marker})
            self.sns.publish(TopicArn=self.topic_arn, Message=message, MessageAttributes=message_attributes)
        reached: list[set[str]] = [set() for _ in messages]
        for url, queue in self.queues.items():
            for text in self._drain(url, len(messages)):
                index = markers.get(_marker(text), -1)
                if index >= 0:
                    reached[index].add(queue)
        return reached

    def _drain(self, url: str, most: int) -> Iterator[str]:
        """The bodies of the messages waiting in probe queue `url` (at most `most` receives), each deleted."""
        for _ in range(most):
            items = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                             WaitTimeSeconds=self.wait_seconds).get("Messages", [])
            if not items:
                return
            self.sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(number), "ReceiptHandle": item["ReceiptHandle"]} for number, item in enumerate(items)])
            yield from (str(item["Body"]) for item in items)

    def close(self) -> None:
        """Remove the probe's queues and topic; raises the first failure after trying every one."""
        failure = self._remove()
        if failure is not None:
            raise failure

    def _remove(self) -> BrokerError | None:
        """Remove what the probe made, each even when another fails; the first failure, or None."""
        failures: list[BrokerError] = []
        for url in list(self.queues):
            try:
                self.sqs.delete_queue(QueueUrl=url)
                del self.queues[url]
            except BrokerError as exc:
                failures.append(exc)
        if self.topic_arn is not None:
            try:
                self.sns.delete_topic(TopicArn=self.topic_arn)
                self.topic_arn = None
            except BrokerError as exc:
                failures.append(exc)
        if not failures:
            return None
        error = BrokerError(f"{failures[0]}; the probe's temporary queues and topic ({self.prefix}-*) may be left "
                            "behind: delete them by hand")
        error.__cause__ = failures[0]
        return error


def _marker(text: str) -> str:
    """The probe's marker in a delivered message body (raw, or inside SNS's envelope), or ""."""
    try:
        body = json.loads(text)
    except ValueError:
        return ""
    if isinstance(body, dict) and "topology-probe" not in body and body.get("Type") == "Notification" \
            and isinstance(body.get("Message"), str):
        return _marker(body["Message"])
    return str(body.get("topology-probe", "")) if isinstance(body, dict) else ""
