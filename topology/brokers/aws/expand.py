"""The `sqs:` and `sns:` sections as primitive resources: queues (with their dead-letter and retry
queues), topics and SQS subscriptions; an SNS subscription to a declared queue gives that queue a
policy letting the topic send (`link_subscriptions`, once every file is merged)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from topology.brokers.aws.spec import SQS_PLAIN, SQS_SECONDS, Sns, Sqs, SqsQueue
from topology.core.problems import PathPart
from topology.core.resource import Resource
from topology.core.units import format_duration
from topology.format.expand import Expansion

__all__ = ["MANAGED_BY", "expand_sns", "expand_sqs", "link_subscriptions"]


MANAGED_BY = {"managed-by": "topology"}


def _seconds(context: Expansion, milliseconds: int, path: tuple[PathPart, ...]) -> int:
    if milliseconds % 1000:
        context.problem(f"SQS counts in whole seconds; {milliseconds}ms is not one", path,
                        f"write {milliseconds // 1000}s or {milliseconds // 1000 + 1}s")
    return milliseconds // 1000


def _fifo_name(base: str, fifo: bool) -> str:
    return f"{base}.fifo" if fifo else base


def expand_sqs(context: Expansion, section: Sqs) -> None:
    target = section.target
    for name, queue in section.queues.items():
        path: tuple[PathPart, ...] = ("sqs", "queues", name)
        address = f"sqs/queue/{name}"
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
                                              "tags": dict(MANAGED_BY)}
            context.add("sqs.queue", f"sqs/queue/{dlq}", target, dlq_attributes, (*path, "dead_letter"),
                        name=dlq, generated_by=address)
            depends.append(f"sqs/queue/{dlq}")
        context.add("sqs.queue", address, target, attributes, path, name=name, depends_on=tuple(depends),
                    protect=queue.protect)
        if queue.retry is not None:
            for index, delay in enumerate(queue.retry.delays):
                delay_path = (*path, "retry", "delays", index)
                retry = _fifo_name(context.name("sqs_retry_queue", (*path, "retry"), queue=base,
                                                delay=format_duration(delay)), queue.fifo)
                retry_attributes: dict[str, Any] = {
                    "FifoQueue": queue.fifo, "DelaySeconds": _seconds(context, delay, delay_path),
                    "tags": dict(MANAGED_BY)}
                if redrive is not None:
                    retry_attributes["RedrivePolicy"] = dict(redrive)
                context.add("sqs.queue", f"sqs/queue/{retry}", target, retry_attributes, delay_path,
                            name=retry, depends_on=tuple(depends), generated_by=address)


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
    if queue.redrive_allow is not None:
        attributes["RedriveAllowPolicy"] = {"redrivePermission": queue.redrive_allow.permission,
                                            "sourceQueues": sorted(queue.redrive_allow.source_queues)}
    attributes["tags"] = {**queue.tags, **MANAGED_BY}
    return attributes


def expand_sns(context: Expansion, section: Sns) -> None:
    target = section.target
    for name, topic in section.topics.items():
        path: tuple[PathPart, ...] = ("sns", "topics", name)
        address = f"sns/topic/{name}"
        attributes: dict[str, Any] = {"FifoTopic": topic.fifo}
        if topic.content_based_deduplication is not None:
            attributes["ContentBasedDeduplication"] = topic.content_based_deduplication
        if topic.display_name is not None:
            attributes["DisplayName"] = topic.display_name
        attributes["tags"] = {**topic.tags, **MANAGED_BY}
        context.add("sns.topic", address, target, attributes, path, name=name, protect=topic.protect)
        for index, subscription in enumerate(topic.subscriptions):
            queue = subscription.queue
            depends = (address,) if queue.startswith("arn:") else (address, f"sqs/queue/{queue}")
            sub: dict[str, Any] = {"topic": name, "queue": queue,
                                   "RawMessageDelivery": subscription.raw_message_delivery}
            if subscription.filter_policy is not None:
                sub["FilterPolicy"] = subscription.filter_policy
            if subscription.filter_policy_scope is not None:
                sub["FilterPolicyScope"] = subscription.filter_policy_scope
            if subscription.dead_letter is not None:
                dlq = subscription.dead_letter.queue
                sub["RedrivePolicy"] = {"deadLetterQueue": dlq}
                if not dlq.startswith("arn:"):
                    depends = (*depends, f"sqs/queue/{dlq}")
            context.add("sns.subscription", f"sns/subscription/{name}->{queue}", target, sub,
                        (*path, "subscriptions", index), name=f"{name}->{queue}", depends_on=depends,
                        protect=subscription.protect)


def link_subscriptions(resources: dict[str, Resource]) -> dict[str, Resource]:
    """A queue subscribed to SNS topics gets a policy letting exactly those topics send to it."""
    senders: dict[str, list[str]] = {}
    for resource in resources.values():
        if resource.kind == "sns.subscription":
            queue = resource.attributes["queue"]
            if f"sqs/queue/{queue}" in resources:
                senders.setdefault(queue, []).append(resource.attributes["topic"])
    for queue, topics in senders.items():
        address = f"sqs/queue/{queue}"
        queue_resource = resources[address]
        attributes = {**queue_resource.attributes, "Policy": {"allow_sns_topics": sorted(set(topics))}}
        resources[address] = replace(queue_resource, attributes=attributes)
    return resources
