"""Live SQS queues, SNS topics and their subscriptions back into `sqs:` and `sns:` sections.

What topology adds by itself is left out, as the file would not declare it: the `managed-by: topology`
tag, the statements it writes into a queue's policy for subscribed topics, a topic's default policy,
and SNS's defaults. A subscription pending confirmation cannot be managed (SNS lists it without an ARN,
so it can be neither read nor removed, and re-creating it would send the endpoint a new confirmation
request): it is written as a comment naming it, never dropped. A CloudWatch alarm on an SQS metric is
written as a comment after its queue's name, saying the `monitor:` limit that, with `sqs.alarms`, makes
it again (the alarm's period and actions are the section's, so one alarm cannot declare them)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from topology.brokers.aws import wire
from topology.brokers.aws.alarms import LIMIT_OF
from topology.brokers.aws.policy import canonical, default_topic_policy
from topology.brokers.aws.spec import FEEDBACK, FEEDBACK_FIELDS, SNS_DOCUMENTS, SNS_PLAIN, SQS_PLAIN, SQS_SECONDS
from topology.brokers.aws.wire import UNMANAGED
from topology.brokers.base import Driver
from topology.core.notes import Noted
from topology.core.resource import Live
from topology.core.units import format_duration

__all__ = ["export_aws", "export_target"]

# What SNS reports for a topic nobody set these on: not written, as leaving them out means the same (AWS's
# GetTopicAttributes: no SignatureVersion means 1; TracingConfig is PassThrough by default).
_SNS_DEFAULTS: dict[str, Any] = {"SignatureVersion": 1, "TracingConfig": "PassThrough"}


@dataclass
class _Sections:
    """The `sqs:` queues and the `sns:` topics being filled, by name, and what cannot be managed."""

    queues: dict[str, dict[str, Any]] = field(default_factory=dict)
    topics: dict[str, dict[str, Any]] = field(default_factory=dict)
    granted: dict[str, set[str]] = field(default_factory=dict)  # queue -> the topics its policy lets send
    subscribed: dict[str, set[str]] = field(default_factory=dict)  # queue (of this account) -> its topics
    queue_notes: dict[str, list[str]] = field(default_factory=dict)  # comments after a queue's name
    topic_notes: dict[str, list[str]] = field(default_factory=dict)  # comments after a topic's name
    alarm_notes: dict[str, list[str]] = field(default_factory=dict)  # queue -> its alarms, said


def _unmanaged(attributes: Mapping[str, Any]) -> str | None:
    """What AWS reported of an object that topology does not manage, said so: never dropped silently."""
    others = attributes.get(UNMANAGED)
    if not others:
        return None
    return ("not managed, so not written here: " + ", ".join(f"{k}={v}" for k, v in others.items()) +
            " (an attribute topology does not know; set it by hand on a re-created object)")


def _seconds(value: int) -> str:
    return f"{value}s"


def _tags(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """The tags the file would declare: all but the one topology sets on what it creates."""
    return {k: v for k, v in attributes.get("tags", {}).items() if (k, v) != ("managed-by", "topology")}


def _redrive(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """A queue's dead-letter queue and the queues allowed to send to it as one, when set."""
    fields: dict[str, Any] = {}
    if "RedrivePolicy" in attributes:
        redrive = attributes["RedrivePolicy"]
        fields["dead_letter"] = {"queue": redrive["deadLetterQueue"], "max_receives": redrive["maxReceiveCount"]}
    if "RedriveAllowPolicy" in attributes:
        allow = attributes["RedriveAllowPolicy"]
        fields["redrive_allow"] = {"permission": allow["redrivePermission"], "source_queues": allow["sourceQueues"]}
    return fields


def _queue(sections: _Sections, item: Live) -> None:
    attributes = item.attributes
    queue: dict[str, Any] = {}
    if attributes.get("FifoQueue"):
        queue["fifo"] = True
    queue.update({name: _seconds(attributes[key]) for name, key in SQS_SECONDS.items() if key in attributes})
    queue.update({name: attributes[key] for name, key in SQS_PLAIN.items() if key in attributes})
    if "kms_master_key_id" in queue:
        queue.pop("sqs_managed_sse_enabled", None)  # SSE-KMS is the queue's one encryption
    if "Policy" in attributes:
        queue["policy"] = attributes["Policy"]
    queue.update(_redrive(attributes))
    tags = _tags(attributes)
    if tags:
        queue["tags"] = tags
    sections.queues[item.name] = queue
    sections.granted[item.name] = set(attributes.get("allow_sns_topics", []))
    unmanaged = _unmanaged(attributes)
    if unmanaged:
        sections.queue_notes.setdefault(item.name, []).append(unmanaged)


def _default_policy(document: Mapping[str, Any]) -> bool:
    """Whether a topic's policy is the one SNS gives every topic (its owner may do everything on it)."""
    statements = document.get("Statement", [])
    if len(statements) != 1 or not isinstance(statements[0], Mapping):
        return False
    resource = statements[0].get("Resource")
    owner = statements[0].get("Condition", {}).get("StringEquals", {}).get("AWS:SourceOwner")
    return isinstance(resource, str) and isinstance(owner, str) and \
        canonical(document) in default_topic_policy(resource, owner)


def _topic(sections: _Sections, item: Live) -> None:
    attributes = item.attributes
    topic = sections.topics.setdefault(item.name, {})
    if attributes.get("FifoTopic"):
        topic["fifo"] = True
    for name, key in (SNS_PLAIN | SNS_DOCUMENTS).items():
        if key in attributes and _SNS_DEFAULTS.get(key) != attributes[key] and \
                not (key == "Policy" and _default_policy(attributes[key])):
            topic[name] = attributes[key]
    logging: dict[str, dict[str, Any]] = {}
    for protocol, prefix in FEEDBACK.items():
        for name, suffix in FEEDBACK_FIELDS.items():
            if prefix + suffix in attributes:
                logging.setdefault(protocol, {})[name] = attributes[prefix + suffix]
    if logging:
        topic["delivery_status_logging"] = logging
    tags = _tags(attributes)
    if tags:
        topic["tags"] = tags
    unmanaged = _unmanaged(attributes)
    if unmanaged:
        sections.topic_notes.setdefault(item.name, []).append(unmanaged)


def _subscription(sections: _Sections, item: Live) -> None:
    attributes = item.attributes
    if attributes.get("PendingConfirmation"):
        sections.topic_notes.setdefault(attributes["topic"], []).append(
            f"not managed, so not written here: sns/subscription/{item.name} (pending confirmation: SNS gives no ARN "
            "to read or remove a subscription until its endpoint confirms it, and re-creating one sends the "
            "endpoint a new confirmation request)")
        return
    if attributes.get(wire.CREDENTIALED):
        sections.topic_notes.setdefault(attributes["topic"], []).append(
            f"not managed, so not written here: sns/subscription/{item.name} (its endpoint holds a password, "
            "which topology never writes into a file or a plan; manage it outside topology)")
        return
    subscription: dict[str, Any]
    unmanaged = _unmanaged(attributes)
    if "queue" in attributes:
        queue = Noted(attributes["queue"], unmanaged) if unmanaged else attributes["queue"]
        subscription = {"queue": queue, "raw_message_delivery": attributes["RawMessageDelivery"]}
        sections.subscribed.setdefault(attributes["queue"], set()).add(attributes["topic"])
    else:
        endpoint = Noted(attributes["endpoint"], unmanaged) if unmanaged else attributes["endpoint"]
        subscription = {"protocol": attributes["protocol"], "endpoint": endpoint}
        if attributes.get("RawMessageDelivery"):
            subscription["raw_message_delivery"] = True
    if "FilterPolicy" in attributes:
        subscription["filter_policy"] = attributes["FilterPolicy"]
        subscription["filter_policy_scope"] = attributes.get("FilterPolicyScope", "MessageAttributes")
    if "RedrivePolicy" in attributes:
        subscription["dead_letter"] = {"queue": attributes["RedrivePolicy"]["deadLetterQueue"]}
    if "DeliveryPolicy" in attributes:
        subscription["delivery_policy"] = attributes["DeliveryPolicy"]
    if "SubscriptionRoleArn" in attributes:
        subscription["subscription_role_arn"] = attributes["SubscriptionRoleArn"]
    sections.topics.setdefault(attributes["topic"], {}).setdefault("subscriptions", []).append(subscription)


def _alarm(sections: _Sections, item: Live) -> None:
    """An alarm on an SQS metric, said after its queue's name, with the limit that would declare it."""
    attributes = item.attributes
    queue = attributes.get("Dimensions", {}).get("QueueName", "")
    metric, threshold = attributes.get("MetricName", ""), attributes.get("Threshold", 0.0)
    compared = attributes.get("ComparisonOperator")
    said = f"CloudWatch alarm {item.name}: {attributes.get('Statistic')} {metric} {compared} {threshold:g} over " \
           f"{attributes.get('Period')} s"
    limit = LIMIT_OF.get(metric)
    if limit is not None and compared == "GreaterThanThreshold" and \
            float(threshold).is_integer():
        value = format_duration(int(threshold) * 1000) if limit == "max_age" else str(int(threshold))
        said += f"; `monitor: {{{limit}: {value}}}` with `sqs.alarms` manages it"
    sections.alarm_notes.setdefault(queue, []).append(said)


_EXPORTERS: dict[str, Callable[[_Sections, Live], None]] = {
    "sqs.queue": _queue,
    "sns.topic": _topic,
    "sns.subscription": _subscription,
    "sqs.alarm": _alarm,
}


def export_aws(live: Mapping[str, Live], target: str) -> dict[str, Any]:
    """The `sns:` and `sqs:` sections for live topics, their subscriptions and queues; what cannot be
    managed (a subscription pending confirmation, an attribute topology does not know) is named in a
    comment after its topic's or queue's name, or after its subscription's endpoint."""
    sections = _Sections()
    for _address, item in sorted(live.items()):
        exporter = _EXPORTERS.get(item.kind)
        if exporter is not None:
            exporter(sections, item)
    for entry in sections.topics.values():  # subscriptions last, after the topic's own attributes
        if "subscriptions" in entry:
            entry["subscriptions"] = entry.pop("subscriptions")
    for queue, subscribed in sections.subscribed.items():
        ungranted = sorted(subscribed - sections.granted.get(queue, subscribed))
        if ungranted:  # SNS cannot deliver: the file's subscription makes topology add the grant
            sections.queue_notes.setdefault(queue, []).append(
                f"no statement of queue {queue}'s policy lets {', '.join(ungranted)} send to it, so SNS delivers "
                "nothing there: `topology plan` adds the statement (allow_sns_topics)")
    for topic in sections.topic_notes:
        sections.topics.setdefault(topic, {})
    elsewhere: list[str] = []  # alarms on queues not exported here
    for queue, alarms in sorted(sections.alarm_notes.items()):
        if queue in sections.queues:
            sections.queue_notes.setdefault(queue, []).extend(alarms)
        else:
            elsewhere.extend(f"{alarm} (on queue {queue}, not here)" for alarm in alarms)
    topics = _noted(dict(sorted(sections.topics.items())), sections.topic_notes, {"subscriptions": []})
    queues_key = Noted("queues", "; ".join(elsewhere)) if elsewhere else "queues"
    return {"sns": {"target": target, "topics": topics},
            "sqs": {"target": target, queues_key: _noted(sections.queues, sections.queue_notes, {"fifo": False})}}


def _noted(entries: dict[str, dict[str, Any]], notes: Mapping[str, list[str]],
           filler: dict[str, Any]) -> dict[str, Any]:
    """`entries` with each name that has notes written with them as a comment; an entry that would be
    empty gets `filler` (what it means anyway), so that the name has a line of its own to carry it."""
    return {Noted(name, "; ".join(notes[name])) if name in notes else name: entry or (filler if name in notes else {})
            for name, entry in entries.items()}


def export_target(driver: Driver, reference: str) -> dict[str, Any]:
    """An aws target in the region the driver read, its endpoint from the environment (none on AWS)."""
    return {"kind": "aws", "region": getattr(driver, "region", "us-east-1"),
            "endpoint_url": reference.replace("}", ":-}")}
