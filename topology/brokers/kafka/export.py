"""Live Kafka topics, groups, ACLs, SCRAM credentials and client quotas back into a `kafka:` section
(`topology export --format yaml`).

Topic configs are written typed, in Kafka's units (`retention.ms: -1`, `preallocate: true`), so each
reads back to the string Kafka stores. A SCRAM password cannot be read from Kafka: each credential's
password is a `${VAR}` placeholder, with a comment naming the variable to set. (Free-text names holding
`$` are written as the file must say them by `topology export` itself, for every broker.)"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from topology.brokers.base import Driver
from topology.brokers.kafka.config import QUOTA_ENTITY_TYPES, written_config
from topology.core.notes import Noted
from topology.core.resource import Live

__all__ = ["export_kafka", "export_target"]


def export_kafka(live: Mapping[str, Live], target: str) -> dict[str, Any]:
    items = sorted(live.items())
    topics = {item.name: _topic(item) for _, item in items if item.kind == "kafka.topic"}
    groups = {item.name: {"topics": [t for t in item.attributes["topics"] if t in topics]}
              for _, item in items if item.kind == "kafka.group"}  # offsets of topics deleted since are no topology
    section: dict[str, Any] = {"target": target, "topics": topics,
                               "consumer_groups": {g: v for g, v in groups.items() if v["topics"]},
                               "acls": _acls([item for _, item in items if item.kind == "kafka.acl"])}
    users = _users([item for _, item in items if item.kind == "kafka.scram_credential"])
    if users:
        section["users"] = users
    quotas = [_quota(item) for _, item in items if item.kind == "kafka.quota"]
    if quotas:
        section["quotas"] = quotas
    return {"kafka": section}


def _topic(item: Live) -> dict[str, Any]:
    attributes = item.attributes
    topic: dict[str, Any] = {"partitions": attributes["partitions"],
                             "replication_factor": attributes["replication_factor"]}
    if attributes["config"]:
        topic["config"] = written_config(attributes["config"])
    return topic


def _acls(bindings: list[Live]) -> list[dict[str, Any]]:
    """Bindings that differ only in their operation as one entry; every other field keeps them apart."""
    grouped: dict[tuple[str, ...], list[str]] = {}
    for item in bindings:
        a = item.attributes
        key = (a["principal"], a["resource_type"], a["resource_name"], a["pattern_type"], a["permission"], a["host"])
        grouped.setdefault(key, []).append(a["operation"])
    return [{"principal": principal, "resource": {"type": kind, "name": name, "pattern": pattern},
             "operations": sorted(operations), "permission": permission, "host": host}
            for (principal, kind, name, pattern, permission, host), operations in sorted(grouped.items())]


def _users(credentials: list[Live]) -> dict[str, dict[str, Any]]:
    """Each user's credentials, their passwords placeholders (one variable per credential)."""
    users: dict[str, dict[str, Any]] = {}
    taken: set[str] = set()
    for item in credentials:
        user, mechanism = item.attributes["user"], item.attributes["mechanism"]
        variable = _variable(user, mechanism, taken)
        note = (f"Kafka never gives a SCRAM password back: set {variable} to this credential's password. Plan "
                "cannot compare it; apply writes it when it creates the credential or changes its iterations")
        users.setdefault(user, {})[mechanism] = {"password": Noted(f"${{{variable}}}", note),
                                                 "iterations": item.attributes["iterations"]}
    return users


def _variable(user: str, mechanism: str, taken: set[str]) -> str:
    """KAFKA_SCRAM_SHA_256_ALICE: an environment variable name for a credential's password, unique in the file."""
    base = re.sub(r"[^A-Z0-9]+", "_", f"KAFKA_{mechanism}_{user}".upper()).rstrip("_")
    variable, count = base, 1
    while variable in taken:
        count += 1
        variable = f"{base}_{count}"
    taken.add(variable)
    return variable


def _quota(item: Live) -> dict[str, Any]:
    entity = item.attributes["entity"]
    return {"entity": {kind: entity[kind] for kind in QUOTA_ENTITY_TYPES if kind in entity},
            **dict(sorted(item.attributes["quotas"].items()))}


def export_target(driver: Driver, reference: str) -> dict[str, Any]:
    return {"kind": "kafka", "bootstrap_servers": reference}
