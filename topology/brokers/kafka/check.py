"""Kafka's rules over the whole expanded topology: legal topic names, names that collide in metrics,
declared topics for groups, cluster ACLs."""

from __future__ import annotations

import re

from topology.core.problems import did_you_mean
from topology.core.resource import Resource
from topology.format.check import Checker

__all__ = ["CHECKS", "check_collisions"]

_KAFKA_TOPIC = re.compile(r"^[a-zA-Z0-9._-]+$")


def _check_topic(checker: Checker, resource: Resource) -> None:
    name = resource.name
    if not _KAFKA_TOPIC.match(name) or name in (".", ".."):
        checker.report(resource, f"`{name}` is not a legal Kafka topic name",
                       hint="use letters, digits, `.`, `_` and `-` only")
    if len(name) > 249:
        checker.report(resource, f"Kafka topic names are at most 249 characters; this one has {len(name)}")


def check_collisions(checker: Checker) -> None:
    seen: dict[str, Resource] = {}
    for resource in checker.resources.values():
        if resource.kind != "kafka.topic":
            continue
        folded = resource.name.replace(".", "_")
        other = seen.setdefault(folded, resource)
        if other is not resource:
            checker.report(resource, f"topics `{resource.name}` and `{other.name}` differ only in `.` and `_`, "
                           "which collide in Kafka's metric names", hint="rename one of them", warning=True)


def _check_group(checker: Checker, resource: Resource) -> None:
    declared = checker.names("kafka/topic/")
    listed = [t for t in resource.attributes["topics"]
              if (found := checker.resources.get(f"kafka/topic/{t}")) is None or found.generated_by is None]
    for index, topic in enumerate(listed):
        if f"kafka/topic/{topic}" not in checker.resources:
            checker.report(resource, f"topic `{topic}` is not declared", "topics", index,
                           hint=did_you_mean(topic, declared) or "declare it under kafka.topics")


def _check_acl(checker: Checker, resource: Resource) -> None:
    attributes = resource.attributes
    # Kafka: "The only valid name for the CLUSTER resource is kafka-cluster" (literal or prefixed alike).
    if attributes["resource_type"] == "cluster" and attributes["resource_name"] != "kafka-cluster":
        checker.report(resource, "a cluster ACL names the resource `kafka-cluster`", "resource",
                       hint="write resource: {type: cluster, name: kafka-cluster}")


CHECKS = {
    "kafka.topic": _check_topic,
    "kafka.group": _check_group,
    "kafka.acl": _check_acl,
}
