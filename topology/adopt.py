"""Live state back into a topology file (`topology export --format yaml`): adoption.

The document uses the broker's vocabulary as a person would write it (typed fields for the
x-arguments FORMAT names, defaults left out), and planning it against the same broker gives no
changes. Secrets are never exported: users come without passwords, which leaves them unmanaged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from topology.drivers.base import Live
from topology.spec.aws import SQS_PLAIN, SQS_SECONDS
from topology.spec.rabbitmq import QUEUE_ARGUMENTS

__all__ = ["aws_documents", "kafka_document", "rabbitmq_document", "redis_document"]

_TYPED = {argument: field for field, (argument, _) in QUEUE_ARGUMENTS.items()}


def rabbitmq_document(live: Mapping[str, Live], target: str) -> dict[str, Any]:
    vhosts: dict[str, dict[str, Any]] = {}
    users: dict[str, dict[str, Any]] = {}

    def vhost(name: str) -> dict[str, Any]:
        return vhosts.setdefault(name, {})

    for _address, item in sorted(live.items()):
        attributes = item.attributes
        if item.kind == "rabbitmq.vhost":
            vhost(item.name)
        elif item.kind == "rabbitmq.exchange":
            exchange: dict[str, Any] = {"type": attributes["type"]}
            arguments = dict(attributes["arguments"])
            if "alternate-exchange" in arguments:
                exchange["alternate_exchange"] = arguments.pop("alternate-exchange")
            for key, default in (("durable", True), ("auto_delete", False), ("internal", False)):
                if attributes[key] != default:
                    exchange[key] = attributes[key]
            if arguments:
                exchange["arguments"] = arguments
            vhost(item.scope).setdefault("exchanges", {})[item.name] = exchange
        elif item.kind == "rabbitmq.queue":
            queue = vhost(item.scope).setdefault("queues", {}).setdefault(item.name, {})
            if attributes["type"] != "classic":
                queue["type"] = attributes["type"]
            for key, default in (("durable", True), ("auto_delete", False)):
                if attributes[key] != default:
                    queue[key] = attributes[key]
            raw = {}
            for key, value in attributes["arguments"].items():
                if key in _TYPED:
                    queue[_TYPED[key]] = value
                else:
                    raw[key] = value
            if raw:
                queue["arguments"] = raw
        elif item.kind == "rabbitmq.binding":
            binding: dict[str, Any] = {"exchange": attributes["source"]}
            if attributes["routing_key"]:
                binding["routing_key"] = attributes["routing_key"]
            if attributes["arguments"]:
                binding["arguments"] = attributes["arguments"]
            queue = vhost(item.scope).setdefault("queues", {}).setdefault(attributes["destination"], {})
            queue.setdefault("bindings", []).append(binding)
        elif item.kind == "rabbitmq.exchange_binding":
            entry = {"source": attributes["source"], "destination": attributes["destination"]}
            if attributes["routing_key"]:
                entry["routing_key"] = attributes["routing_key"]
            if attributes["arguments"]:
                entry["arguments"] = attributes["arguments"]
            vhost(item.scope).setdefault("exchange_bindings", []).append(entry)
        elif item.kind in ("rabbitmq.policy", "rabbitmq.operator_policy"):
            kind = "policies" if item.kind == "rabbitmq.policy" else "operator_policies"
            vhost(item.scope).setdefault(kind, {})[item.name] = {
                "pattern": attributes["pattern"], "apply_to": attributes["apply-to"].replace("-", "_"),
                "priority": attributes["priority"], "definition": attributes["definition"]}
        elif item.kind == "rabbitmq.user":
            users.setdefault(item.name, {})["tags"] = attributes["tags"]
        elif item.kind == "rabbitmq.topic_permission":
            users.setdefault(item.name, {}).setdefault("topic_permissions", {}).setdefault(item.scope, {})[
                attributes["exchange"]] = {"write": attributes["write"], "read": attributes["read"]}
        elif item.kind == "rabbitmq.permission":
            users.setdefault(item.name, {}).setdefault("permissions", {})[item.scope] = {
                key: attributes[key] for key in ("configure", "write", "read")}
    section: dict[str, Any] = {"target": target, "vhosts": vhosts}
    if users:
        section["users"] = users
    return section


def kafka_document(live: Mapping[str, Live], target: str) -> dict[str, Any]:
    topics: dict[str, dict[str, Any]] = {}
    groups: dict[str, dict[str, Any]] = {}
    acls: dict[tuple[str, ...], list[str]] = {}
    for _address, item in sorted(live.items()):
        attributes = item.attributes
        if item.kind == "kafka.topic":
            topic: dict[str, Any] = {"partitions": attributes["partitions"],
                                     "replication_factor": attributes["replication_factor"]}
            if attributes["config"]:
                topic["config"] = dict(attributes["config"])
            topics[item.name] = topic
        elif item.kind == "kafka.group":
            groups[item.name] = {"topics": list(attributes["topics"])}
        elif item.kind == "kafka.acl":
            key = (attributes["principal"], attributes["resource_type"], attributes["resource_name"],
                   attributes["pattern_type"], attributes["permission"], attributes["host"])
            acls.setdefault(key, []).append(attributes["operation"])
    for group in groups.values():  # offsets of topics deleted since are not part of the group's topology
        group["topics"] = [t for t in group["topics"] if t in topics]
    section: dict[str, Any] = {"target": target, "topics": topics,
                               "consumer_groups": {g: v for g, v in groups.items() if v["topics"]}}
    section["acls"] = [{"principal": principal, "resource": {"type": kind, "name": name, "pattern": pattern},
                        "operations": sorted(operations), "permission": permission, "host": host}
                       for (principal, kind, name, pattern, permission, host), operations in sorted(acls.items())]
    return section


def _seconds(value: int) -> str:
    return f"{value}s"


def aws_documents(live: Mapping[str, Live], target: str) -> tuple[dict[str, Any], dict[str, Any]]:
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
    return {"target": target, "queues": queues}, {"target": target, "topics": topics}


def redis_document(live: Mapping[str, Live], target: str) -> dict[str, Any]:
    """Streams with their groups. A group's start id matters only at creation, so `$` is written."""
    streams: dict[str, dict[str, Any]] = {}
    for _address, item in sorted(live.items()):
        if item.kind == "redis.stream":
            streams.setdefault(item.name, {})
        elif item.kind == "redis.group":
            streams.setdefault(item.scope, {}).setdefault("groups", {})[item.name] = {"start": "$"}
    return {"target": target, "streams": streams}
