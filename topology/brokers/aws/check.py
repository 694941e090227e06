"""SQS's and SNS's rules over the whole expanded topology: names, attribute ranges and combinations
(as AWS's API reference gives them: SetQueueAttributes, SetTopicAttributes, Subscribe), FIFO on both
ends, dead-letter cycles, subscriptions' endpoints, expectations' topics, CloudWatch alarms' names and
the SNS topics they tell."""

from __future__ import annotations

import re

from topology.brokers.aws import wire
from topology.brokers.aws.filter_policy import check_filter_policy, check_message
from topology.brokers.aws.policy import OWN_SID
from topology.brokers.aws.spec import SNS_DOCUMENTS, SNS_PLAIN, SQS_PLAIN, SQS_SECONDS
from topology.core.problems import PathPart, did_you_mean
from topology.core.resource import Resource
from topology.format.check import Checker
from topology.format.document import Publish
from topology.format.load import LoadedFile

__all__ = ["CHECKS", "check_all", "check_dead_letter_cycles", "check_publish"]

_AWS_NAME = re.compile(r"^[A-Za-z0-9_-]+(\.fifo)?$")
# (attribute, lowest, highest, how to say it)
_SQS_LIMITS = (
    ("DelaySeconds", 0, 900, "0s to 15m"),
    ("VisibilityTimeout", 0, 43_200, "0s to 12h"),
    ("MessageRetentionPeriod", 60, 1_209_600, "60s to 14d"),
    ("MaximumMessageSize", 1024, 1_048_576, "1KiB to 1MiB"),
    ("ReceiveMessageWaitTimeSeconds", 0, 20, "0s to 20s"),
    ("KmsDataKeyReusePeriodSeconds", 60, 86_400, "60s to 24h"),
)
_SQS_FIELDS = {attribute: field for field, attribute in (SQS_SECONDS | SQS_PLAIN).items()}
_SNS_FIELDS = {attribute: field for field, attribute in (SNS_PLAIN | SNS_DOCUMENTS).items()}
_SNS_MESSAGE_SIZE = (1024, 1_048_576)  # SetTopicAttributes: MaximumMessageSize, 1024 to 1048576 bytes
_SNS_LARGE_MESSAGE = 262_144  # above it: at most 100 subscriptions, each sqs, firehose or lambda
_LARGE_MESSAGE_PROTOCOLS = ("sqs", "firehose", "lambda")


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
    if attributes.get("FifoThroughputLimit") == "perMessageGroupId" and \
            attributes.get("DeduplicationScope") != "messageGroup":
        checker.report(resource, "fifo_throughput_limit perMessageGroupId is allowed only with deduplication_scope "
                       "messageGroup", "fifo_throughput_limit", hint="add `deduplication_scope: messageGroup`")
    if attributes.get("SqsManagedSseEnabled") is True and attributes.get("KmsMasterKeyId"):
        checker.report(resource, "a queue has one server-side encryption: sqs_managed_sse_enabled (SSE-SQS) or "
                       "kms_master_key_id (SSE-KMS), not both", "sqs_managed_sse_enabled",
                       hint="remove one of them")
    _check_policy(checker, resource, queue=True)
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


def _check_policy(checker: Checker, resource: Resource, *, queue: bool) -> None:
    """A declared access policy: an IAM document with statements; in a queue's, none named like the ones
    topology writes there."""
    document = resource.attributes.get("Policy")
    if document is None:
        return
    statements = document.get("Statement")
    if not statements:
        checker.report(resource, "policy needs a `Statement`: it is an IAM policy document", "policy",
                       hint="write `{Version: '2012-10-17', Statement: [...]}`")
        return
    for statement in statements if isinstance(statements, list) else [statements]:
        sid = str(statement.get("Sid", "")) if isinstance(statement, dict) else ""
        if queue and sid.startswith(OWN_SID):
            checker.report(resource, f"statement `{sid}`: Sids starting with `{OWN_SID}` are topology's own (it "
                           "writes one for each subscribed topic); another Sid is needed", "policy")


def _check_sns_topic(checker: Checker, resource: Resource) -> None:
    attributes = resource.attributes
    fifo = attributes.get("FifoTopic", False)
    _check_aws_name(checker, resource, "topic", 256, fifo)
    for attribute in ("ContentBasedDeduplication", "FifoThroughputScope", "ArchivePolicy"):
        if attribute in attributes and not fifo:
            checker.report(resource, f"{_SNS_FIELDS[attribute]} applies to FIFO topics only", _SNS_FIELDS[attribute],
                           hint="add `fifo: true` or remove it")
    if "TracingConfig" in attributes and fifo:
        checker.report(resource, "tracing_config applies to standard topics only", "tracing_config")
    _check_policy(checker, resource, queue=False)
    size = attributes.get("MaximumMessageSize")
    if isinstance(size, int):
        _check_topic_message_size(checker, resource, size)


def _check_topic_message_size(checker: Checker, resource: Resource, size: int) -> None:
    low, high = _SNS_MESSAGE_SIZE
    if not low <= size <= high:
        checker.report(resource, "maximum_message_size must be 1KiB to 1MiB in SNS", "maximum_message_size")
    elif size > _SNS_LARGE_MESSAGE:
        subscriptions = [r for r in checker.resources.values()
                         if r.kind == "sns.subscription" and r.attributes["topic"] == resource.name]
        others = sorted({_protocol(r) for r in subscriptions} - set(_LARGE_MESSAGE_PROTOCOLS))
        if len(subscriptions) > 100 or others:
            checker.report(resource, "a topic whose maximum_message_size is above 256KiB may have at most 100 "
                           "subscriptions, each sqs, firehose or lambda" +
                           (f"; it has {', '.join(others)}" if others else f"; it has {len(subscriptions)}"),
                           "maximum_message_size", hint="lower maximum_message_size to 256KiB")


def _protocol(resource: Resource) -> str:
    return "sqs" if "queue" in resource.attributes else str(resource.attributes.get("protocol"))


# What an endpoint of each protocol looks like (Subscribe's `Endpoint`), and how to say it.
_ENDPOINTS: dict[str, tuple[re.Pattern[str], str]] = {
    "http": (re.compile(r"^http://\S+$"), "a URL beginning with http://"),
    "https": (re.compile(r"^https://\S+$"), "a URL beginning with https://"),
    "email": (re.compile(r"^[^@\s]+@[^@\s]+$"), "an email address"),
    "email-json": (re.compile(r"^[^@\s]+@[^@\s]+$"), "an email address"),
    "sms": (re.compile(r"^\+?[0-9][0-9 ()-]{3,}$"), "a phone number, e.g. +15555550123"),
    "lambda": (re.compile(r"^arn:[^:]+:lambda:"), "a Lambda function's ARN"),
    "firehose": (re.compile(r"^arn:[^:]+:firehose:"), "a Firehose delivery stream's ARN"),
    "application": (re.compile(r"^arn:[^:]+:sns:[^:]*:[^:]*:endpoint/"), "a platform application endpoint's ARN"),
    "sqs": (re.compile(r"^arn:[^:]+:sqs:"), "an SQS queue's ARN (or write `queue:`)"),
}
_RAW_DELIVERY = ("sqs", "http", "https", "firehose")  # Subscribe: RawMessageDelivery applies to these


def _check_subscription(checker: Checker, resource: Resource) -> None:
    check_filter_policy(checker, resource)
    attributes = resource.attributes
    topic = checker.resources.get(f"sns/topic/{attributes['topic']}")
    if "queue" not in attributes:
        _check_endpoint(checker, resource, bool(topic and topic.attributes.get("FifoTopic")))
        return
    queue_name, topic_name = attributes["queue"], attributes["topic"]
    if queue_name.startswith("arn:"):
        return
    queue = checker.resources.get(f"sqs/queue/{queue_name}")
    if queue is None:
        checker.report(resource, f"queue `{queue_name}` is not declared under sqs.queues", "queue",
                       hint=did_you_mean(queue_name, checker.names("sqs/queue/")) or
                       "declare it, or give the queue's ARN")
        return
    topic_fifo = bool(topic and topic.attributes.get("FifoTopic"))
    if bool(queue.attributes.get("FifoQueue")) and not topic_fifo:
        # AWS delivers from a FIFO topic to FIFO and standard queues alike, but never from a standard topic to
        # a FIFO queue (SNS's "Message delivery for FIFO topics").
        checker.report(resource, f"a standard topic cannot deliver to FIFO queue `{queue_name}`", "queue",
                       hint=f"make `{topic_name}` FIFO (`fifo: true`, name ending in .fifo)")
    for attribute, field in (("DeliveryPolicy", "delivery_policy"), ("SubscriptionRoleArn", "subscription_role_arn")):
        if attribute in attributes:
            checker.report(resource, f"{field} does not apply to a queue's subscription", field)


def _check_endpoint(checker: Checker, resource: Resource, topic_fifo: bool) -> None:
    """A subscription to an endpoint other than a queue of this document: its protocol and endpoint, and the
    attributes that protocol takes."""
    attributes = resource.attributes
    protocol, endpoint = attributes["protocol"], attributes["endpoint"]
    if not endpoint:
        return  # said by expansion: a subscription names a queue, or a protocol and an endpoint
    if wire.credentialed(endpoint):
        checker.report(resource, f"the {protocol} endpoint `{wire.masked(endpoint)}` holds a password, which would "
                       "be printed in every plan (it is part of the subscription's address); manage this subscription "
                       "outside topology, or give the endpoint its credentials another way", "endpoint")
        return
    pattern, words = _ENDPOINTS[protocol]
    if not pattern.match(endpoint):
        article = "an" if protocol[0] in "aeiou" else "a"
        checker.report(resource, f"{article} {protocol} endpoint is {words}; `{endpoint}` is not", "endpoint")
    if topic_fifo and protocol != "sqs":
        checker.report(resource, f"a FIFO topic delivers only to SQS queues, not to {protocol} endpoints",
                       "protocol")
    if "RawMessageDelivery" in attributes and protocol not in _RAW_DELIVERY:
        checker.report(resource, f"raw_message_delivery applies to sqs, http, https and firehose, not {protocol}",
                       "raw_message_delivery")
    if "DeliveryPolicy" in attributes and protocol not in ("http", "https"):
        checker.report(resource, f"delivery_policy applies to http and https endpoints, not {protocol}",
                       "delivery_policy")
    if (protocol == "firehose") != ("SubscriptionRoleArn" in attributes):
        checker.report(resource, "a firehose subscription needs subscription_role_arn" if protocol == "firehose" else
                       f"subscription_role_arn applies to firehose subscriptions, not {protocol}",
                       "subscription_role_arn" if protocol != "firehose" else "endpoint",
                       hint="the role SNS writes to the delivery stream with" if protocol == "firehose" else None)


def check_publish(checker: Checker, loaded: LoadedFile, path: tuple[PathPart, ...], publish: Publish) -> str:
    """An expectation's SNS topic must be declared; its queues are SQS queues."""
    if f"sns/topic/{publish.sns_topic}" not in checker.resources:
        checker.report_at(loaded, (*path, "publish", "sns_topic"), f"SNS topic `{publish.sns_topic}` is not declared",
                          did_you_mean(str(publish.sns_topic), checker.names("sns/topic/")))
    check_message(checker, loaded, (*path, "publish"), publish)
    return "sqs/queue/"


_ALARM_NAME_LONGEST = 255  # PutMetricAlarm: AlarmName, 1 to 255 characters


def _check_alarm(checker: Checker, resource: Resource) -> None:
    name = resource.name
    if len(name) > _ALARM_NAME_LONGEST or not name.isascii() or not name.isprintable():
        checker.report(resource, f"`{name}` is not a legal CloudWatch alarm name",
                       hint=f"at most {_ALARM_NAME_LONGEST} printable ASCII characters: shorten `sqs.alarms.prefix`")


def check_alarm_actions(checker: Checker) -> None:
    """The SNS topics `sqs.alarms` names by name are declared (once per file, not once per alarm)."""
    seen: set[tuple[str, str]] = set()
    for resource in checker.resources.values():
        if resource.kind != "sqs.alarm":
            continue
        for key, field in (("AlarmActions", "actions"), ("OKActions", "ok_actions")):
            for action in resource.attributes.get(key, []):
                where = resource.origin.file if resource.origin else ""
                if action.startswith("arn:") or f"sns/topic/{action}" in checker.resources or \
                        (where, action) in seen:
                    continue
                seen.add((where, action))
                loaded = checker.files.get(where)
                message = f"SNS topic `{action}` in sqs.alarms.{field} is not declared under sns.topics"
                hint = did_you_mean(action, checker.names("sns/topic/")) or "declare it, or give the topic's ARN"
                if loaded is not None:
                    checker.report_at(loaded, ("sqs", "alarms", field), message, hint)
                else:
                    checker.report(resource, message, hint=hint)


def check_all(checker: Checker) -> None:
    check_dead_letter_cycles(checker)
    check_alarm_actions(checker)


CHECKS = {
    "sqs.queue": _check_sqs_queue,
    "sns.topic": _check_sns_topic,
    "sns.subscription": _check_subscription,
    "sqs.alarm": _check_alarm,
}
