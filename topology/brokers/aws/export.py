"""Live SQS queues, SNS topics and their SQS subscriptions back into `sqs:` and `sns:` sections."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from topology.brokers.aws.spec import SQS_PLAIN, SQS_SECONDS
from topology.brokers.base import Driver
from topology.core.resource import Live

__all__ = ["export_aws", "export_target"]


@dataclass
class _Sections:
    """The `sqs:` queues and the `sns:` topics being filled, by name."""

    queues: dict[str, dict[str, Any]] = field(default_factory=dict)
    topics: dict[str, dict[str, Any]] = field(default_factory=dict)


def _seconds(value: int) -> str:
    return f"{value}s"


def _tags(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """The tags the file would declare: all but the one topology sets itself."""
    return {k: v for k, v in attributes.get("tags", {}).items() if k != "managed-by"}


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
    queue.update(_redrive(attributes))
    tags = _tags(attributes)
    if tags:
        queue["tags"] = tags
    sections.queues[item.name] = queue


def _topic(sections: _Sections, item: Live) -> None:
    attributes = item.attributes
    topic = sections.topics.setdefault(item.name, {})
    if attributes.get("FifoTopic"):
        topic["fifo"] = True
    if "ContentBasedDeduplication" in attributes:
        topic["content_based_deduplication"] = attributes["ContentBasedDeduplication"]
    if "DisplayName" in attributes:
        topic["display_name"] = attributes["DisplayName"]
    tags = _tags(attributes)
    if tags:
        topic["tags"] = tags


def _subscription(sections: _Sections, item: Live) -> None:
    attributes = item.attributes
    subscription: dict[str, Any] = {"queue": attributes["queue"],
                                    "raw_message_delivery": attributes["RawMessageDelivery"]}
    if "FilterPolicy" in attributes:
        subscription["filter_policy"] = attributes["FilterPolicy"]
        subscription["filter_policy_scope"] = attributes.get("FilterPolicyScope", "MessageAttributes")
    if "RedrivePolicy" in attributes:
        subscription["dead_letter"] = {"queue": attributes["RedrivePolicy"]["deadLetterQueue"]}
    sections.topics.setdefault(attributes["topic"], {}).setdefault("subscriptions", []).append(subscription)


_EXPORTERS: dict[str, Callable[[_Sections, Live], None]] = {
    "sqs.queue": _queue,
    "sns.topic": _topic,
    "sns.subscription": _subscription,
}


def export_aws(live: Mapping[str, Live], target: str) -> dict[str, Any]:
    """The `sqs:` and `sns:` sections for live queues, topics and their SQS subscriptions."""
    sections = _Sections()
    for _address, item in sorted(live.items()):
        exporter = _EXPORTERS.get(item.kind)
        if exporter is not None:
            exporter(sections, item)
    return {"sqs": {"target": target, "queues": sections.queues},
            "sns": {"target": target, "topics": sections.topics}}


def export_target(driver: Driver, reference: str) -> dict[str, Any]:
    """An aws target in the region the driver read, its endpoint from the environment (none on AWS)."""
    return {"kind": "aws", "region": getattr(driver, "region", "us-east-1"),
            "endpoint_url": reference.replace("}", ":-}")}
