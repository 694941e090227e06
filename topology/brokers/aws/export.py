"""Live SQS queues, SNS topics and their SQS subscriptions back into `sqs:` and `sns:` sections."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from topology.brokers.aws.spec import SQS_PLAIN, SQS_SECONDS
from topology.brokers.base import Driver
from topology.core.resource import Live

__all__ = ["export_aws", "export_target"]

def _seconds(value: int) -> str:
    return f"{value}s"


def export_aws(live: Mapping[str, Live], target: str) -> dict[str, Any]:
    """The `sqs:` and `sns:` sections for live queues, topics and their SQS subscriptions."""
    queues: dict[str, dict[str, Any]] = {}
    topics: dict[str, dict[str, Any]] = {}
    for _address, item in sorted(live.items()):
        attributes = item.attributes
        if item.kind == "sqs.queue":
            queue: dict[str, Any] = {}
            if attributes.get("FifoQueue"):
                queue["fifo"] = True
            for field, key in SQS_SECONDS.items():
                if key in attributes:
                    queue[field] = _seconds(attributes[key])
            for field, key in SQS_PLAIN.items():
                if key in attributes:
                    queue[field] = attributes[key]
            if "RedrivePolicy" in attributes:
                redrive = attributes["RedrivePolicy"]
                queue["dead_letter"] = {"queue": redrive["deadLetterQueue"], "max_receives": redrive["maxReceiveCount"]}
            if "RedriveAllowPolicy" in attributes:
                allow = attributes["RedriveAllowPolicy"]
                queue["redrive_allow"] = {"permission": allow["redrivePermission"],
                                          "source_queues": allow["sourceQueues"]}
            tags = {k: v for k, v in attributes.get("tags", {}).items() if k != "managed-by"}
            if tags:
                queue["tags"] = tags
            queues[item.name] = queue
        elif item.kind == "sns.topic":
            topic = topics.setdefault(item.name, {})
            if attributes.get("FifoTopic"):
                topic["fifo"] = True
            if "ContentBasedDeduplication" in attributes:
                topic["content_based_deduplication"] = attributes["ContentBasedDeduplication"]
            if "DisplayName" in attributes:
                topic["display_name"] = attributes["DisplayName"]
            tags = {k: v for k, v in attributes.get("tags", {}).items() if k != "managed-by"}
            if tags:
                topic["tags"] = tags
        elif item.kind == "sns.subscription":
            subscription: dict[str, Any] = {"queue": attributes["queue"],
                                            "raw_message_delivery": attributes["RawMessageDelivery"]}
            if "FilterPolicy" in attributes:
                subscription["filter_policy"] = attributes["FilterPolicy"]
                subscription["filter_policy_scope"] = attributes.get("FilterPolicyScope", "MessageAttributes")
            if "RedrivePolicy" in attributes:
                subscription["dead_letter"] = {"queue": attributes["RedrivePolicy"]["deadLetterQueue"]}
            topics.setdefault(attributes["topic"], {}).setdefault("subscriptions", []).append(subscription)
    return {"sqs": {"target": target, "queues": queues}, "sns": {"target": target, "topics": topics}}


def export_target(driver: Driver, reference: str) -> dict[str, Any]:
    """An aws target in the region the driver read, its endpoint from the environment (none on AWS)."""
    return {"kind": "aws", "region": getattr(driver, "region", "us-east-1"),
            "endpoint_url": reference.replace("}", ":-}")}
