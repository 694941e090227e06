"""Live routing probes on a real RabbitMQ that never touch the real queues.

The declared exchanges, queues and bindings of a vhost are mirrored under a unique prefix as
auto-delete exchanges and exclusive queues; a probe is published to the mirror and the mirrored
queues that receive it are the answer. Everything the probe declares disappears with its
connection (exchanges are also deleted explicitly).
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from topology.resources import Resource
from topology.routing import BUILTIN_EXCHANGES
from topology.secrets import BrokerURL, parse_url

__all__ = ["LiveProbe", "SnsProbe"]


class LiveProbe:
    """Use as a context manager; `route()` as often as needed."""

    def __init__(self, amqp_url: str | BrokerURL, vhost: str, resources: Mapping[str, Resource], *,
                 connect_timeout: float = 5.0, read_timeout: float = 30.0) -> None:
        import pika

        from topology.drivers.rabbitmq import amqp_connection_errors, amqp_parameters, amqp_unavailable

        url = parse_url(amqp_url, what="the amqp_url of the live probe's target", schemes=("amqp", "amqps"))
        where = dataclasses.replace(url, path="/" + quote(vhost, safe=""))
        try:
            self._connection = pika.BlockingConnection(amqp_parameters(
                url, vhost, connect_timeout=connect_timeout, read_timeout=read_timeout))
        except amqp_connection_errors() as exc:
            raise amqp_unavailable(exc, where, "for live probes", (connect_timeout, read_timeout)) from exc
        self._channel = self._connection.channel()
        self._channel.confirm_delivery()
        self.prefix = f"topology-probe-{uuid.uuid4().hex[:12]}."
        self._exchanges: list[str] = []
        self._queues: dict[str, str] = {}  # mirror -> declared name
        self._mirror(vhost, resources)

    def __enter__(self) -> LiveProbe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _name(self, exchange: str) -> str:
        return self.prefix + exchange

    def _mirror(self, vhost: str, resources: Mapping[str, Resource]) -> None:
        mine = [r for r in resources.values() if r.scope == vhost]
        exchanges = {r.name: r.attributes for r in mine if r.kind == "rabbitmq.exchange"}
        for name, kind in BUILTIN_EXCHANGES.items():
            exchanges.setdefault(name, {"type": kind, "internal": False, "arguments": {}})
        for name, attributes in sorted(exchanges.items()):
            arguments = dict(attributes.get("arguments", {}))
            if isinstance(arguments.get("alternate-exchange"), str):
                arguments["alternate-exchange"] = self._name(arguments["alternate-exchange"])
            self._channel.exchange_declare(self._name(name), attributes["type"], durable=False, auto_delete=False,
                                           internal=bool(attributes.get("internal")), arguments=arguments)
            self._exchanges.append(self._name(name))
        for resource in sorted((r for r in mine if r.kind == "rabbitmq.queue"), key=lambda r: r.name):
            mirror = self._name(resource.name)
            self._channel.queue_declare(mirror, exclusive=True, auto_delete=True)
            self._queues[mirror] = resource.name
        for resource in mine:
            if resource.kind not in ("rabbitmq.binding", "rabbitmq.exchange_binding"):
                continue
            binding = resource.attributes
            binding_arguments: dict[str, Any] | None = binding.get("arguments") or None
            if binding["destination_type"] == "queue":
                self._channel.queue_bind(self._name(binding["destination"]), self._name(binding["source"]),
                                         binding["routing_key"], binding_arguments)
            else:
                self._channel.exchange_bind(self._name(binding["destination"]), self._name(binding["source"]),
                                            binding["routing_key"], binding_arguments)

    def route(self, exchange: str, routing_key: str = "", headers: Mapping[str, Any] | None = None) -> set[str]:
        """The declared queues a message published to `exchange` reaches, as the broker routes it."""
        import pika

        marker = uuid.uuid4().hex
        if exchange == "":
            target, key = "", self._name(routing_key)
        else:
            target, key = self._name(exchange), routing_key
        properties = pika.BasicProperties(headers=dict(headers or {}), message_id=marker)
        self._channel.basic_publish(target, key, marker.encode(), properties)
        reached = set()
        for mirror, name in self._queues.items():
            while True:
                method, _properties, body = self._channel.basic_get(mirror, auto_ack=True)
                if method is None:
                    break
                if body == marker.encode():
                    reached.add(name)
        return reached

    def close(self) -> None:
        try:
            for exchange in self._exchanges:
                self._channel.exchange_delete(exchange)
        finally:
            self._connection.close()


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
