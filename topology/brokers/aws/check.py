"""SQS's and SNS's rules over the whole expanded topology: names, attribute ranges, FIFO on both
ends, dead-letter cycles, subscribed queues, expectations' topics."""

from __future__ import annotations

import re

from topology.brokers.aws.filter_policy import check_filter_policy, check_message
from topology.brokers.aws.spec import SQS_PLAIN, SQS_SECONDS
from topology.core.problems import PathPart, did_you_mean
from topology.core.resource import Resource
from topology.format.check import Checker
from topology.format.document import Publish
from topology.format.load import LoadedFile

__all__ = ["CHECKS", "check_dead_letter_cycles", "check_publish"]

_AWS_NAME = re.compile(r"^[A-Za-z0-9_-]+(\.fifo)?$")
# (attribute, lowest, highest, how to say it)
_SQS_LIMITS = (
    ("DelaySeconds", 0, 900, "0s to 15m"),
    ("VisibilityTimeout", 0, 43_200, "0s to 12h"),
    ("MessageRetentionPeriod", 60, 1_209_600, "60s to 14d"),
    ("MaximumMessageSize", 1024, 1_048_576, "1KiB to 1MiB"),
    ("ReceiveMessageWaitTimeSeconds", 0, 20, "0s to 20s"),
)
_SQS_FIELDS = {attribute: field for field, attribute in (SQS_SECONDS | SQS_PLAIN).items()}


def _check_aws_name(checker: Checker, resource: Resource, what: str, longest: int, fifo: bool) -> None:
    """SQS queue and SNS topic names: the same characters, `.fifo` exactly when FIFO."""
    name = resource.name
    if not _AWS_NAME.match(name) or len(name) > longest:
        checker.report(resource, f"`{name}` is not a legal SQS {what} name" if what == "queue" else
                       f"`{name}` is not a legal SNS {what} name",
                       hint=f"use at most {longest} letters, digits, `-` and `_` (and the `.fifo` suffix)")
    if fifo != name.endswith(".fifo"):
        checker.report(resource, f"a FIFO {what}'s name ends in `.fifo`, and only a FIFO {what}'s" if fifo else
                       f"a {what} named `.fifo` must be a FIFO {what}",
                       hint=f"rename it to `{name}.fifo`" if fifo else "add `fifo: true`")


def _check_sqs_queue(checker: Checker, resource: Resource) -> None:
    attributes = resource.attributes
    fifo = attributes.get("FifoQueue", False)
    _check_aws_name(checker, resource, "queue", 80, fifo)
    for attribute, low, high, words in _SQS_LIMITS:
        value = attributes.get(attribute)
        if isinstance(value, int) and not low <= value <= high:
            what = "retry delay" if resource.generated_by and attribute == "DelaySeconds" else _SQS_FIELDS[attribute]
            checker.report(resource, f"{what} must be {words} in SQS", _SQS_FIELDS[attribute],
                           hint="SQS cannot delay a message longer than 15 minutes; use a scheduler for longer"
                           if attribute == "DelaySeconds" else None)
    if not fifo:
        for attribute in ("ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit"):
            if attribute in attributes:
                checker.report(resource, f"{_SQS_FIELDS[attribute]} applies to FIFO queues only",
                               _SQS_FIELDS[attribute], hint="add `fifo: true` or remove it")
    allow = attributes.get("RedriveAllowPolicy")
    if isinstance(allow, dict) and (allow["redrivePermission"] == "byQueue") != bool(allow["sourceQueues"]):
        checker.report(resource, "redrive_allow lists source_queues exactly when its permission is byQueue",
                       "redrive_allow", hint="use byQueue with 1 to 10 source_queues, or allowAll/denyAll without")
    redrive = attributes.get("RedrivePolicy")
    if isinstance(redrive, dict) and resource.generated_by is None:
        dlq = checker.resources.get(f"sqs/queue/{redrive['deadLetterQueue']}")
        if dlq is not None and dlq.attributes.get("FifoQueue", False) != fifo:
            checker.report(resource, "a queue and its dead-letter queue must both be FIFO or both standard",
                           "dead_letter", "queue")


def check_dead_letter_cycles(checker: Checker) -> None:
    """Queues that redrive to each other in a ring (a queue to itself included) can never be created:
    SQS needs a queue's dead-letter queue to exist first. Each queue of the ring is reported, naming it all."""
    redrives: dict[str, str] = {}
    for resource in checker.resources.values():
        redrive = resource.attributes.get("RedrivePolicy") if resource.kind == "sqs.queue" else None
        if isinstance(redrive, dict) and isinstance(redrive.get("deadLetterQueue"), str):
            redrives[resource.name] = redrive["deadLetterQueue"]
    reported: set[str] = set()
    for start in sorted(redrives):
        path: list[str] = []
        name: str | None = start
        while name is not None and name not in path and name not in reported:
            path.append(name)
            name = redrives.get(name)
        if name is None or name in reported:
            continue
        ring = path[path.index(name):]
        reported.update(ring)
        for index, queue in enumerate(ring):
            order = ring[index:] + ring[:index] + [queue]
            if len(ring) == 1:
                message = (f"queue `{queue}` is its own dead-letter queue; SQS creates a queue only after its "
                           "dead-letter queue, so it can never be created")
                hint = "name another queue as its dead-letter queue, or remove `dead_letter`"
            else:
                message = ("dead-letter queues form a cycle: " + " -> ".join(f"`{q}`" for q in order) +
                           "; SQS creates a queue only after its dead-letter queue, so they can never be created")
                hint = "a dead-letter queue should not redrive further: remove `dead_letter` from one of them"
            checker.report(checker.resources[f"sqs/queue/{queue}"], message, "dead_letter", "queue", hint=hint)


def _check_sns_topic(checker: Checker, resource: Resource) -> None:
    _check_aws_name(checker, resource, "topic", 256, resource.attributes.get("FifoTopic", False))


def _check_subscription(checker: Checker, resource: Resource) -> None:
    check_filter_policy(checker, resource)
    queue_name, topic_name = resource.attributes["queue"], resource.attributes["topic"]
    if queue_name.startswith("arn:"):
        return
    queue = checker.resources.get(f"sqs/queue/{queue_name}")
    if queue is None:
        checker.report(resource, f"queue `{queue_name}` is not declared under sqs.queues", "queue",
                       hint=did_you_mean(queue_name, checker.names("sqs/queue/")) or
                       "declare it, or give the queue's ARN")
        return
    topic = checker.resources.get(f"sns/topic/{topic_name}")
    topic_fifo = bool(topic and topic.attributes.get("FifoTopic"))
    queue_fifo = bool(queue.attributes.get("FifoQueue"))
    if topic_fifo and not queue_fifo:
        checker.report(resource, f"a FIFO topic delivers only to FIFO queues; `{queue_name}` is standard", "queue")
    elif queue_fifo and not topic_fifo:
        checker.report(resource, f"a standard topic cannot deliver to FIFO queue `{queue_name}`", "queue",
                       hint="make the topic FIFO (`fifo: true`, name ending in .fifo)")


def check_publish(checker: Checker, loaded: LoadedFile, path: tuple[PathPart, ...], publish: Publish) -> str:
    """An expectation's SNS topic must be declared; its queues are SQS queues."""
    if f"sns/topic/{publish.sns_topic}" not in checker.resources:
        checker.report_at(loaded, (*path, "publish", "sns_topic"), f"SNS topic `{publish.sns_topic}` is not declared",
                          did_you_mean(str(publish.sns_topic), checker.names("sns/topic/")))
    check_message(checker, loaded, (*path, "publish"), publish)
    return "sqs/queue/"


CHECKS = {
    "sqs.queue": _check_sqs_queue,
    "sns.topic": _check_sns_topic,
    "sns.subscription": _check_subscription,
}
