"""The `sqs:` and `sns:` sections as primitive resources: queues (with their dead-letter and retry
queues), topics and their subscriptions; an SNS subscription to a declared queue lets that topic send
to the queue (`link_subscriptions`, once every file is merged: the queue's `allow_sns_topics`).

What topology creates is tagged `managed-by: topology` (`tags_on_create`, used when creating and
never compared afterwards), so that adopting a queue or topic someone else made plans no change."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from topology.brokers.aws import policy
from topology.brokers.aws.alarms import alarm_name, check_settings
from topology.brokers.aws.spec import (
    FEEDBACK,
    FEEDBACK_FIELDS,
    SNS_DOCUMENTS,
    SNS_PLAIN,
    SQS_PLAIN,
    SQS_SECONDS,
    Sns,
    SnsTopic,
    Sqs,
    SqsQueue,
    Subscription,
)
from topology.core.problems import PathPart
from topology.core.resource import Resource
from topology.core.units import format_duration
from topology.format.expand import Expansion

__all__ = ["MANAGED_BY", "expand_sns", "expand_sqs", "link_subscriptions", "subscription_name"]


MANAGED_BY = {"managed-by": "topology"}


def _seconds(context: Expansion, milliseconds: int, path: tuple[PathPart, ...]) -> int:
    if milliseconds % 1000:
        context.problem(f"SQS counts in whole seconds; {milliseconds}ms is not one", path,
                        f"write {milliseconds // 1000}s or {milliseconds // 1000 + 1}s")
    return milliseconds // 1000


def _fifo_name(base: str, fifo: bool) -> str:
    return f"{base}.fifo" if fifo else base


def _warn_max_age(context: Expansion, section: Sqs, name: str, path: tuple[PathPart, ...]) -> None:
    """A limit the broker cannot measure is said so: SQS gives no age of the oldest message."""
    alarm = alarm_name(section.alarms.prefix, name, "max_age") if section.alarms is not None else None
    context.problem(
        "`topology status` and the exporter cannot read max_age of an SQS queue: the age of the oldest message is "
        "a CloudWatch metric (ApproximateAgeOfOldestMessage), not a queue attribute", (*path, "monitor", "max_age"),
        f"the CloudWatch alarm {alarm} that `sqs.alarms` makes watches it" if alarm else
        "add `sqs.alarms` to have a CloudWatch alarm on ApproximateAgeOfOldestMessage watch it",
        severity="warning")


def expand_sqs(context: Expansion, section: Sqs) -> None:
    target = section.target
    if section.alarms is not None:
        check_settings(context, section.alarms, ("sqs", "alarms"))
    for name, queue in section.queues.items():
        path: tuple[PathPart, ...] = ("sqs", "queues", name)
        address = f"sqs/queue/{name}"
        if queue.monitor is not None and queue.monitor.max_age is not None:
            _warn_max_age(context, section, name, path)
        base = name.removesuffix(".fifo")
        attributes = _sqs_attributes(context, queue, path)
        depends: list[str] = []
        redrive: dict[str, Any] | None = None
        if queue.dead_letter is not None:
            dlq = queue.dead_letter.queue or _fifo_name(
                context.name("sqs_dead_letter_queue", (*path, "dead_letter"), queue=base), queue.fifo)
            redrive = {"deadLetterQueue": dlq, "maxReceiveCount": queue.dead_letter.max_receives}
            attributes["RedrivePolicy"] = redrive
            dlq_attributes: dict[str, Any] = {"FifoQueue": queue.fifo, "MessageRetentionPeriod": 1_209_600,
                                              "tags_on_create": dict(MANAGED_BY)}
            context.add("sqs.queue", f"sqs/queue/{dlq}", target, dlq_attributes, (*path, "dead_letter"),
                        name=dlq, generated_by=address, role="dead_letter")
            depends.append(f"sqs/queue/{dlq}")
        context.add("sqs.queue", address, target, attributes, path, name=name, depends_on=tuple(depends),
                    protect=queue.protect, role="work", monitor=queue.monitor)
        if queue.retry is not None:
            for index, delay in enumerate(queue.retry.delays):
                delay_path = (*path, "retry", "delays", index)
                retry = _fifo_name(context.name("sqs_retry_queue", (*path, "retry"), queue=base,
                                                delay=format_duration(delay)), queue.fifo)
                retry_attributes: dict[str, Any] = {
                    "FifoQueue": queue.fifo, "DelaySeconds": _seconds(context, delay, delay_path),
                    "tags_on_create": dict(MANAGED_BY)}
                if redrive is not None:
                    retry_attributes["RedrivePolicy"] = dict(redrive)
                context.add("sqs.queue", f"sqs/queue/{retry}", target, retry_attributes, delay_path,
                            name=retry, depends_on=tuple(depends), generated_by=address, role="retry")


def _sqs_attributes(context: Expansion, queue: SqsQueue, path: tuple[PathPart, ...]) -> dict[str, Any]:
    attributes: dict[str, Any] = {"FifoQueue": queue.fifo}
    for field_name, attribute in SQS_SECONDS.items():
        value = getattr(queue, field_name)
        if value is not None:
            attributes[attribute] = _seconds(context, value, (*path, field_name))
    for field_name, attribute in SQS_PLAIN.items():
        value = getattr(queue, field_name)
        if value is not None:
            attributes[attribute] = value
    if queue.policy is not None:
        attributes["Policy"] = policy.canonical(queue.policy)
    if queue.redrive_allow is not None:
        attributes["RedriveAllowPolicy"] = {"redrivePermission": queue.redrive_allow.permission,
                                            "sourceQueues": sorted(queue.redrive_allow.source_queues)}
    if queue.tags:
        attributes["tags"] = dict(queue.tags)
    attributes["tags_on_create"] = dict(MANAGED_BY)
    return attributes


def _topic_attributes(topic: SnsTopic) -> dict[str, Any]:
    attributes: dict[str, Any] = {"FifoTopic": topic.fifo}
    for field_name, attribute in SNS_PLAIN.items():
        value = getattr(topic, field_name)
        if value is not None:
            attributes[attribute] = value
    for field_name, attribute in SNS_DOCUMENTS.items():
        value = getattr(topic, field_name)
        if value is not None:
            attributes[attribute] = policy.canonical(value) if attribute == "Policy" else value
    for protocol, logging in topic.delivery_status_logging.items():
        for field_name, suffix in FEEDBACK_FIELDS.items():
            value = getattr(logging, field_name)
            if value is not None:
                attributes[FEEDBACK[protocol] + suffix] = value
    if topic.tags:
        attributes["tags"] = dict(topic.tags)
    attributes["tags_on_create"] = dict(MANAGED_BY)
    return attributes


def subscription_name(topic: str, protocol: str, endpoint: str) -> str:
    """A subscription's name (the last part of its address): `topic->queue` for a queue (its name or
    ARN), `topic->protocol:endpoint` for any other endpoint, as an endpoint may take two protocols
    (email and email-json)."""
    return f"{topic}->{endpoint}" if protocol == "sqs" else f"{topic}->{protocol}:{endpoint}"


def _endpoint(subscription: Subscription) -> tuple[str, str]:
    """The subscription's protocol and endpoint; a queue (by name or ARN) is protocol sqs."""
    if subscription.queue is not None:
        return "sqs", subscription.queue
    return subscription.protocol or "sqs", subscription.endpoint or ""


def _check_shape(context: Expansion, subscription: Subscription, path: tuple[PathPart, ...]) -> None:
    """A subscription names a queue, or a protocol and an endpoint: not both, not half of either."""
    if subscription.queue is not None and (subscription.endpoint is not None or subscription.protocol
                                           not in (None, "sqs")):
        context.problem("a subscription names a `queue` or a `protocol` and an `endpoint`, not both", path,
                        "keep `queue:` for an SQS queue, or `protocol:` and `endpoint:` for anything else")
    elif subscription.queue is None and (subscription.protocol is None or subscription.endpoint is None):
        context.problem("a subscription names a `queue`, or a `protocol` and an `endpoint`", path,
                        "write `queue: NAME` for an SQS queue, else both `protocol:` and `endpoint:`")


def _subscription_attributes(topic: str, subscription: Subscription) -> dict[str, Any]:
    protocol, endpoint = _endpoint(subscription)
    attributes: dict[str, Any] = {"topic": topic}
    if protocol == "sqs":
        attributes["queue"] = endpoint
        attributes["RawMessageDelivery"] = bool(subscription.raw_message_delivery)
    else:
        attributes.update({"protocol": protocol, "endpoint": endpoint})
        if subscription.raw_message_delivery is not None:
            attributes["RawMessageDelivery"] = subscription.raw_message_delivery
    if subscription.filter_policy is not None:
        attributes["FilterPolicy"] = subscription.filter_policy
    if subscription.filter_policy_scope is not None:
        attributes["FilterPolicyScope"] = subscription.filter_policy_scope
    if subscription.dead_letter is not None:
        attributes["RedrivePolicy"] = {"deadLetterQueue": subscription.dead_letter.queue}
    if subscription.delivery_policy is not None:
        attributes["DeliveryPolicy"] = subscription.delivery_policy
    if subscription.subscription_role_arn is not None:
        attributes["SubscriptionRoleArn"] = subscription.subscription_role_arn
    return attributes


def expand_sns(context: Expansion, section: Sns) -> None:
    target = section.target
    for name, topic in section.topics.items():
        path: tuple[PathPart, ...] = ("sns", "topics", name)
        address = f"sns/topic/{name}"
        context.add("sns.topic", address, target, _topic_attributes(topic), path, name=name, protect=topic.protect)
        for index, subscription in enumerate(topic.subscriptions):
            _check_shape(context, subscription, (*path, "subscriptions", index))
            protocol, endpoint = _endpoint(subscription)
            depends: tuple[str, ...] = (address,)
            if protocol == "sqs" and not endpoint.startswith("arn:"):
                depends = (*depends, f"sqs/queue/{endpoint}")
            dlq = subscription.dead_letter.queue if subscription.dead_letter is not None else None
            if dlq is not None and not dlq.startswith("arn:"):
                depends = (*depends, f"sqs/queue/{dlq}")
            sub_name = subscription_name(name, protocol, endpoint)
            context.add("sns.subscription", f"sns/subscription/{sub_name}", target,
                        _subscription_attributes(name, subscription), (*path, "subscriptions", index),
                        name=sub_name, depends_on=depends, protect=subscription.protect)


def link_subscriptions(resources: dict[str, Resource]) -> dict[str, Resource]:
    """A queue subscribed to SNS topics lets those topics send to it (`allow_sns_topics`: the driver
    adds a statement to the queue's policy for each topic no statement there lets send already)."""
    senders: dict[str, list[str]] = {}
    for resource in resources.values():
        if resource.kind == "sns.subscription" and "queue" in resource.attributes:
            queue = resource.attributes["queue"]
            if f"sqs/queue/{queue}" in resources:
                senders.setdefault(queue, []).append(resource.attributes["topic"])
    for queue, topics in senders.items():
        address = f"sqs/queue/{queue}"
        queue_resource = resources[address]
        attributes = {**queue_resource.attributes, "allow_sns_topics": sorted(set(topics))}
        resources[address] = replace(queue_resource, attributes=attributes)
    return resources
