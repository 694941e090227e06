"""Checks that need the whole expanded topology, no broker: references, name rules, broker limits.

Each check reads the merged resources (declared and generated alike, so a generated retry queue
obeys the same rules as one written by hand) and reports a located Problem.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from topology.load import LoadedFile
from topology.problems import PathPart, Problem, did_you_mean, dotted
from topology.resources import Resource
from topology.spec.aws import SQS_PLAIN, SQS_SECONDS

__all__ = ["check"]

_KAFKA_TOPIC = re.compile(r"^[a-zA-Z0-9._-]+$")
_AWS_NAME = re.compile(r"^[A-Za-z0-9_-]+(\.fifo)?$")
_STREAM_ID = re.compile(r"^(\$|0|\d+(-\d+)?)$")
_MAX_TTL = 2**32 - 1

# (attribute, lowest, highest, how to say it)
_SQS_LIMITS = (
    ("DelaySeconds", 0, 900, "0s to 15m"),
    ("VisibilityTimeout", 0, 43_200, "0s to 12h"),
    ("MessageRetentionPeriod", 60, 1_209_600, "60s to 14d"),
    ("MaximumMessageSize", 1024, 1_048_576, "1KiB to 1MiB"),
    ("ReceiveMessageWaitTimeSeconds", 0, 20, "0s to 20s"),
)
_SQS_FIELDS = {attribute: field for field, attribute in (SQS_SECONDS | SQS_PLAIN).items()}
_TARGET_KINDS = {"rabbitmq": "rabbitmq", "kafka": "kafka", "sqs": "aws", "sns": "aws", "redis": "redis"}


class _Checker:
    def __init__(self, files: list[LoadedFile], resources: Mapping[str, Resource]) -> None:
        self.files = {f.path: f for f in files}
        self.resources = resources
        self.problems: list[Problem] = []

    def report(self, resource: Resource, message: str, *sub: PathPart, hint: str | None = None,
               warning: bool = False) -> None:
        path = resource.path if resource.generated_by is not None else (*resource.path, *sub)
        loaded = self.files.get(resource.origin.file) if resource.origin else None
        location = loaded.positions.at(path, key=True) if loaded else resource.origin
        if resource.generated_by is not None:
            message = f"{message} (in `{resource.name}`, generated here)"
        self.problems.append(Problem(message, location, dotted(path), hint, "warning" if warning else "error"))

    def report_at(self, loaded: LoadedFile, path: tuple[PathPart, ...], message: str, hint: str | None = None) -> None:
        self.problems.append(Problem(message, loaded.positions.at(path, key=True), dotted(path), hint))

    def names(self, prefix: str) -> list[str]:
        return [a.removeprefix(prefix) for a in self.resources if a.startswith(prefix)]


def check(files: list[LoadedFile], resources: Mapping[str, Resource]) -> list[Problem]:
    """Every problem the merged topology has, in no particular order."""
    checker = _Checker(files, resources)
    for resource in resources.values():
        handler = _HANDLERS.get(resource.kind)
        if handler is not None:
            handler(checker, resource)
    _check_kafka_collisions(checker)
    _check_sqs_dead_letter_cycles(checker)
    for loaded in files:
        if loaded.document is not None:
            _check_targets(checker, loaded)
            _check_expectations(checker, loaded)
    return checker.problems


# --------------------------------------------------------------------------------------- RabbitMQ


def _vhost_of(resource: Resource) -> str:
    return resource.scope


def _rabbit_name(checker: _Checker, resource: Resource, what: str) -> None:
    if resource.name.startswith("amq."):
        checker.report(resource, f"{what} names starting with `amq.` are reserved by RabbitMQ",
                       hint="choose another name")
    if len(resource.name.encode()) > 255:
        checker.report(resource, f"{what} names are at most 255 bytes", hint="shorten the name")


def _exchange_known(checker: _Checker, vhost: str, name: str) -> bool:
    return name.startswith("amq.") or f"rabbitmq/{vhost}/exchange/{name}" in checker.resources


def _unknown_exchange(checker: _Checker, resource: Resource, vhost: str, name: str, *sub: PathPart) -> None:
    declared = checker.names(f"rabbitmq/{vhost}/exchange/")
    hint = did_you_mean(name, declared) or f"declare it under rabbitmq.vhosts.{vhost}.exchanges"
    checker.report(resource, f"exchange `{name}` is not declared in vhost `{vhost}`", *sub, hint=hint)


def _check_exchange(checker: _Checker, resource: Resource) -> None:
    _rabbit_name(checker, resource, "exchange")
    alternate = resource.attributes["arguments"].get("alternate-exchange")
    if isinstance(alternate, str) and not _exchange_known(checker, _vhost_of(resource), alternate):
        _unknown_exchange(checker, resource, _vhost_of(resource), alternate, "alternate_exchange")


def _check_queue(checker: _Checker, resource: Resource) -> None:
    _rabbit_name(checker, resource, "queue")
    attributes = resource.attributes
    arguments: dict[str, Any] = attributes["arguments"]
    queue_type = attributes["type"]
    vhost = _vhost_of(resource)
    ttl = arguments.get("x-message-ttl")
    if isinstance(ttl, int) and ttl > _MAX_TTL:
        checker.report(resource, "RabbitMQ's message TTL is at most 4294967295ms (about 49 days)", "message_ttl")
    exchange = arguments.get("x-dead-letter-exchange")
    if exchange and resource.generated_by is None and not _exchange_known(checker, vhost, exchange):
        _unknown_exchange(checker, resource, vhost, exchange, "dead_letter", "exchange")
    if "x-delivery-limit" in arguments and queue_type != "quorum":
        checker.report(resource, "delivery_limit works on quorum queues only", "delivery_limit",
                       hint="set `type: quorum`, or remove delivery_limit")
    if queue_type == "classic":
        return
    if not attributes["durable"]:
        checker.report(resource, f"{queue_type} queues are always durable", "durable", hint="remove `durable: false`")
    if attributes["auto_delete"]:
        checker.report(resource, f"{queue_type} queues cannot be auto-delete", "auto_delete",
                       hint="remove `auto_delete: true`")
    if "x-max-priority" in arguments:
        checker.report(resource, f"{queue_type} queues do not support priorities", "max_priority",
                       hint="use a classic queue, or remove max_priority")
    if queue_type == "quorum" and arguments.get("x-overflow") == "reject-publish-dlx":
        checker.report(resource, "quorum queues do not support overflow reject-publish-dlx", "overflow",
                       hint="use drop-head or reject-publish")
    if queue_type == "stream":
        for argument, field_name in (("x-message-ttl", "message_ttl"), ("x-expires", "expires"),
                                     ("x-dead-letter-exchange", "dead_letter"), ("x-max-length", "max_length"),
                                     ("x-overflow", "overflow"),
                                     ("x-single-active-consumer", "single_active_consumer")):
            if argument in arguments:
                checker.report(resource, f"stream queues do not support `{field_name}`", field_name,
                               hint="streams keep messages by size and age (max_length_bytes, x-max-age)")
        generated = [r for r in checker.resources.values() if r.generated_by == resource.address]
        if generated:
            checker.report(resource, "stream queues cannot have retry tiers", "retry",
                           hint="use a quorum queue for retries and dead-lettering")


def _check_binding(checker: _Checker, resource: Resource) -> None:
    vhost = _vhost_of(resource)
    source = resource.attributes["source"]
    if source == "":
        checker.report(resource, "the default exchange cannot be bound explicitly", "exchange",
                       hint="every queue is already reachable through it by its name")
    elif not _exchange_known(checker, vhost, source):
        _unknown_exchange(checker, resource, vhost, source, "exchange")


def _check_exchange_binding(checker: _Checker, resource: Resource) -> None:
    vhost = _vhost_of(resource)
    for field_name in ("source", "destination"):
        name = resource.attributes[field_name]
        if name == "" or not _exchange_known(checker, vhost, name):
            _unknown_exchange(checker, resource, vhost, name, field_name)


def _check_permission(checker: _Checker, resource: Resource) -> None:
    vhost = _vhost_of(resource)
    if vhost != "/" and f"rabbitmq/vhost/{vhost}" not in checker.resources:
        checker.report(resource, f"vhost `{vhost}` is not declared; the permission needs it to exist on the broker",
                       hint=did_you_mean(vhost, checker.names("rabbitmq/vhost/")), warning=True)


# ------------------------------------------------------------------------------------------ Kafka


def _check_topic(checker: _Checker, resource: Resource) -> None:
    name = resource.name
    if not _KAFKA_TOPIC.match(name) or name in (".", ".."):
        checker.report(resource, f"`{name}` is not a legal Kafka topic name",
                       hint="use letters, digits, `.`, `_` and `-` only")
    if len(name) > 249:
        checker.report(resource, f"Kafka topic names are at most 249 characters; this one has {len(name)}")


def _check_kafka_collisions(checker: _Checker) -> None:
    seen: dict[str, Resource] = {}
    for resource in checker.resources.values():
        if resource.kind != "kafka.topic":
            continue
        folded = resource.name.replace(".", "_")
        other = seen.setdefault(folded, resource)
        if other is not resource:
            checker.report(resource, f"topics `{resource.name}` and `{other.name}` differ only in `.` and `_`, "
                           "which collide in Kafka's metric names", hint="rename one of them", warning=True)


def _check_group(checker: _Checker, resource: Resource) -> None:
    declared = checker.names("kafka/topic/")
    listed = [t for t in resource.attributes["topics"]
              if (found := checker.resources.get(f"kafka/topic/{t}")) is None or found.generated_by is None]
    for index, topic in enumerate(listed):
        if f"kafka/topic/{topic}" not in checker.resources:
            checker.report(resource, f"topic `{topic}` is not declared", "topics", index,
                           hint=did_you_mean(topic, declared) or "declare it under kafka.topics")


def _check_acl(checker: _Checker, resource: Resource) -> None:
    attributes = resource.attributes
    if attributes["resource_type"] == "cluster" and (
            attributes["resource_name"] != "kafka-cluster" or attributes["pattern_type"] != "literal"):
        checker.report(resource, "a cluster ACL names the literal resource `kafka-cluster`", "resource",
                       hint="write resource: {type: cluster, name: kafka-cluster}")


# ------------------------------------------------------------------------------------ SQS and SNS


def _check_aws_name(checker: _Checker, resource: Resource, what: str, longest: int, fifo: bool) -> None:
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


def _check_sqs_queue(checker: _Checker, resource: Resource) -> None:
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


def _check_sqs_dead_letter_cycles(checker: _Checker) -> None:
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


def _check_sns_topic(checker: _Checker, resource: Resource) -> None:
    _check_aws_name(checker, resource, "topic", 256, resource.attributes.get("FifoTopic", False))


def _check_subscription(checker: _Checker, resource: Resource) -> None:
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


# ------------------------------------------------------------------------------------------ Redis


def _check_group_start(checker: _Checker, resource: Resource) -> None:
    start = resource.attributes["start"]
    if resource.generated_by is None and not _STREAM_ID.match(str(start)):
        checker.report(resource, f"{start!r} is not a stream id", "start",
                       hint='use "$" for new entries only, "0" for all, or an id such as 1700000000000-0')


# -------------------------------------------------------------------------- targets, expectations


def _check_targets(checker: _Checker, loaded: LoadedFile) -> None:
    document = loaded.document
    assert document is not None
    for section_name, kind in _TARGET_KINDS.items():
        section = getattr(document, section_name)
        if section is None or section.target is None:
            continue
        target = document.targets.get(section.target)
        if target is None:
            checker.report_at(loaded, (section_name, "target"), f"target `{section.target}` is not declared",
                              did_you_mean(section.target, document.targets) or "declare it under `targets:`")
        elif target.kind not in (kind, "local"):
            checker.report_at(loaded, (section_name, "target"),
                              f"target `{section.target}` is a {target.kind} target, not {kind}",
                              f"point `{section_name}` at a target of kind {kind}")


def _check_expectations(checker: _Checker, loaded: LoadedFile) -> None:
    document = loaded.document
    assert document is not None
    for index, expectation in enumerate(document.expectations):
        path: tuple[PathPart, ...] = ("expectations", index)
        publish = expectation.publish
        if publish.sns_topic is not None:
            if f"sns/topic/{publish.sns_topic}" not in checker.resources:
                checker.report_at(loaded, (*path, "publish", "sns_topic"),
                                  f"SNS topic `{publish.sns_topic}` is not declared",
                                  did_you_mean(publish.sns_topic, checker.names("sns/topic/")))
            prefix = "sqs/queue/"
        else:
            vhost = publish.vhost or "/"
            if publish.exchange and not _exchange_known(checker, vhost, publish.exchange):
                checker.report_at(loaded, (*path, "publish", "exchange"),
                                  f"exchange `{publish.exchange}` is not declared in vhost `{vhost}`",
                                  did_you_mean(publish.exchange, checker.names(f"rabbitmq/{vhost}/exchange/")))
            prefix = f"rabbitmq/{vhost}/queue/"
        for queue_index, queue in enumerate(expectation.delivered_to):
            if f"{prefix}{queue}" not in checker.resources:
                checker.report_at(loaded, (*path, "delivered_to", queue_index), f"queue `{queue}` is not declared",
                                  did_you_mean(queue, checker.names(prefix)))


_HANDLERS = {
    "rabbitmq.exchange": _check_exchange,
    "rabbitmq.queue": _check_queue,
    "rabbitmq.binding": _check_binding,
    "rabbitmq.exchange_binding": _check_exchange_binding,
    "rabbitmq.permission": _check_permission,
    "rabbitmq.topic_permission": _check_permission,
    "kafka.topic": _check_topic,
    "kafka.group": _check_group,
    "kafka.acl": _check_acl,
    "sqs.queue": _check_sqs_queue,
    "sns.topic": _check_sns_topic,
    "sns.subscription": _check_subscription,
    "redis.group": _check_group_start,
}
