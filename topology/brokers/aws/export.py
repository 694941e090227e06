"""Live SQS queues, SNS topics and their subscriptions back into `sqs:` and `sns:` sections.

What topology adds by itself is left out, as the file would not declare it: the `managed-by: topology`
tag, the statements it writes into a queue's policy for subscribed topics, a topic's default policy,
and SNS's defaults. A subscription pending confirmation cannot be managed (SNS lists it without an ARN,
so it can be neither read nor removed, and re-creating it would send the endpoint a new confirmation
request): it is written as a comment naming it, never dropped."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from topology.brokers.aws.policy import canonical, default_topic_policy
from topology.brokers.aws.spec import FEEDBACK, FEEDBACK_FIELDS, SNS_DOCUMENTS, SNS_PLAIN, SQS_PLAIN, SQS_SECONDS
from topology.brokers.base import Driver
from topology.core.notes import Noted
from topology.core.resource import Live

__all__ = ["export_aws", "export_target"]

# What SNS reports for a topic nobody set these on: not written, as leaving them out means the same (AWS's
# GetTopicAttributes: no SignatureVersion means 1; TracingConfig is PassThrough by default).
_SNS_DEFAULTS: dict[str, Any] = {"SignatureVersion": 1, "TracingConfig": "PassThrough"}


@dataclass
class _Sections:
    """The `sqs:` queues and the `sns:` topics being filled, by name, and what cannot be managed."""

    queues: dict[str, dict[str, Any]] = field(default_factory=dict)
    topics: dict[str, dict[str, Any]] = field(default_factory=dict)
    pending: dict[str, list[str]] = field(default_factory=dict)  # topic -> its subscriptions pending confirmation
    granted: dict[str, set[str]] = field(default_factory=dict)  # queue -> the topics its policy lets send
    subscribed: dict[str, set[str]] = field(default_factory=dict)  # queue (of this account) -> its topics


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


def _subscription(sections: _Sections, item: Live) -> None:
    attributes = item.attributes
    if attributes.get("PendingConfirmation"):
        sections.pending.setdefault(attributes["topic"], []).append(f"sns/subscription/{item.name}")
        return
    subscription: dict[str, Any]
    if "queue" in attributes:
        subscription = {"queue": attributes["queue"], "raw_message_delivery": attributes["RawMessageDelivery"]}
        sections.subscribed.setdefault(attributes["queue"], set()).add(attributes["topic"])
    else:
        subscription = {"protocol": attributes["protocol"], "endpoint": attributes["endpoint"]}
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


_EXPORTERS: dict[str, Callable[[_Sections, Live], None]] = {
    "sqs.queue": _queue,
    "sns.topic": _topic,
    "sns.subscription": _subscription,
}


def export_aws(live: Mapping[str, Live], target: str) -> dict[str, Any]:
    """The `sns:` and `sqs:` sections for live topics, their subscriptions and queues; subscriptions
    pending confirmation are named in a comment after their topic's name."""
    sections = _Sections()
    for _address, item in sorted(live.items()):
        exporter = _EXPORTERS.get(item.kind)
        if exporter is not None:
            exporter(sections, item)
    for entry in sections.topics.values():  # subscriptions last, after the topic's own attributes
        if "subscriptions" in entry:
            entry["subscriptions"] = entry.pop("subscriptions")
    notes: dict[str, str] = {}
    for queue, topics in sections.subscribed.items():
        ungranted = sorted(topics - sections.granted.get(queue, topics))
        if ungranted:  # SNS cannot deliver: the file's subscription makes topology add the grant
            notes[queue] = (f"no statement of queue {queue}'s policy lets {', '.join(ungranted)} send to it, so SNS "
                            "delivers nothing there: `topology plan` adds the statement (allow_sns_topics)")
    sections.queues = {Noted(name, notes[name]) if name in notes else name: queue
                       for name, queue in sections.queues.items()}
    for topic, pending in sections.pending.items():
        entry = sections.topics.pop(topic, {})
        entry.setdefault("subscriptions", [])
        note = ("not managed, so not written here: " + ", ".join(pending) + " (pending confirmation: SNS gives no "
                "ARN to read or remove a subscription until its endpoint confirms it, and re-creating one sends the "
                "endpoint a new confirmation request)")
        sections.topics[Noted(topic, note)] = entry
    return {"sns": {"target": target, "topics": dict(sorted(sections.topics.items()))},
            "sqs": {"target": target, "queues": sections.queues}}


def export_target(driver: Driver, reference: str) -> dict[str, Any]:
    """An aws target in the region the driver read, its endpoint from the environment (none on AWS)."""
    return {"kind": "aws", "region": getattr(driver, "region", "us-east-1"),
            "endpoint_url": reference.replace("}", ":-}")}
