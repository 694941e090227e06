"""Live Kafka topics, groups and ACLs back into a `kafka:` section (`topology export --format yaml`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from topology.brokers.base import Driver
from topology.core.resource import Live

__all__ = ["export_kafka", "export_target"]

def export_kafka(live: Mapping[str, Live], target: str) -> dict[str, Any]:
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
    return {"kafka": section}


def export_target(driver: Driver, reference: str) -> dict[str, Any]:
    return {"kind": "kafka", "bootstrap_servers": reference}
