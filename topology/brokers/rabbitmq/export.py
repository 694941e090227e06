"""Live RabbitMQ objects back into a `rabbitmq:` section (`topology export --format yaml`): adoption.

Typed fields for the x-arguments the format names (the same table expansion reads), defaults left
out. Users come without passwords, which leaves them unmanaged: secrets are never exported."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from topology.brokers.base import Driver
from topology.brokers.rabbitmq.spec import QUEUE_ARGUMENTS
from topology.core.resource import Live

__all__ = ["export_rabbitmq", "export_target"]

_TYPED = {argument: field for field, (argument, _) in QUEUE_ARGUMENTS.items()}


def export_rabbitmq(live: Mapping[str, Live], target: str) -> dict[str, Any]:
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
    return {"rabbitmq": section}


def export_target(driver: Driver, reference: str) -> dict[str, Any]:
    return {"kind": "rabbitmq", "url": reference}
