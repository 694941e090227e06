"""The `kafka:` section as primitive resources: topics (with their retry and dead-letter topics),
consumer groups (reading the retry topics too), one ACL binding per operation, one SCRAM credential
per user and mechanism, and one client-quota entity per quota entry."""

from __future__ import annotations

from typing import Any

from topology.brokers.kafka.config import (
    QUOTA_KEYS,
    acl_address,
    normalise_quota,
    normalise_topic_config,
    quota_address,
    quota_entity_problem,
    scram_address,
)
from topology.brokers.kafka.spec import Kafka, Quota, User
from topology.core.problems import PathPart
from topology.core.units import format_duration
from topology.format.expand import Expansion

__all__ = ["expand_kafka"]


def expand_kafka(context: Expansion, section: Kafka) -> None:
    target = section.target
    retry_topics: dict[str, list[str]] = {}
    for name, topic in section.topics.items():
        path: tuple[PathPart, ...] = ("kafka", "topics", name)
        config, config_problems = normalise_topic_config(dict(topic.config))
        for key, message in config_problems.items():
            context.problem(message, (*path, "config", key))
        attributes: dict[str, Any] = {"config": config}
        if topic.partitions is not None:
            attributes["partitions"] = topic.partitions
        if topic.replication_factor is not None:
            attributes["replication_factor"] = topic.replication_factor
        address = f"kafka/topic/{name}"
        context.add("kafka.topic", address, target, attributes, path, name=name, protect=topic.protect)
        if topic.retry is not None:
            retry_attributes = _with_config(context, attributes, topic.retry.config, (*path, "retry", "config"))
            for index, delay in enumerate(topic.retry.delays):
                retry = context.name("kafka_retry_topic", (*path, "retry"), topic=name, delay=format_duration(delay))
                retry_topics.setdefault(name, []).append(retry)
                context.add("kafka.topic", f"kafka/topic/{retry}", target, dict(retry_attributes),
                            (*path, "retry", "delays", index), name=retry, generated_by=address)
        if topic.dead_letter:
            extra = topic.dead_letter.config if not isinstance(topic.dead_letter, bool) else {}
            dlt = context.name("kafka_dead_letter_topic", (*path, "dead_letter"), topic=name)
            context.add("kafka.topic", f"kafka/topic/{dlt}", target,
                        _with_config(context, attributes, extra, (*path, "dead_letter", "config")),
                        (*path, "dead_letter"), name=dlt, generated_by=address, role="dead_letter")

    for name, group in section.consumer_groups.items():
        topics = [t for topic in group.topics for t in (topic, *retry_topics.get(topic, []))]
        context.add("kafka.group", f"kafka/group/{name}", target, {
            "topics": topics, "initial_offset": group.initial_offset,
        }, ("kafka", "consumer_groups", name), name=name, depends_on=tuple(f"kafka/topic/{t}" for t in topics),
            protect=group.protect, role="group", monitor=group.monitor)

    for index, acl in enumerate(section.acls):
        resource = acl.resource
        for operation in acl.operations:
            binding = {"principal": acl.principal, "host": acl.host, "resource_type": resource.type,
                       "resource_name": resource.name, "pattern_type": resource.pattern, "operation": operation,
                       "permission": acl.permission}
            context.add("kafka.acl", acl_address(binding), target, binding, ("kafka", "acls", index),
                        name=f"{acl.principal}/{operation}", protect=acl.protect)

    for user_name, user in section.users.items():
        _expand_user(context, target, user_name, user)
    for index, quota in enumerate(section.quotas):
        _expand_quota(context, target, index, quota)


def _expand_user(context: Expansion, target: str | None, name: str, user: User) -> None:
    """One resource per SCRAM credential, its password a secret."""
    path: tuple[PathPart, ...] = ("kafka", "users", name)
    credentials = {"SCRAM-SHA-256": user.scram_sha_256, "SCRAM-SHA-512": user.scram_sha_512}
    if not any(credentials.values()):
        context.problem(f"user `{name}` has no SCRAM credential", path, "give it SCRAM-SHA-256 or SCRAM-SHA-512")
    for mechanism, credential in credentials.items():
        if credential is not None:
            context.add("kafka.scram_credential", scram_address(name, mechanism), target,
                        {"user": name, "mechanism": mechanism, "iterations": credential.iterations},
                        (*path, mechanism), name=name, protect=user.protect,
                        secrets={"password": credential.password})


def _expand_quota(context: Expansion, target: str | None, index: int, quota: Quota) -> None:
    """One resource per quota entity: the values it sets, in Kafka's units."""
    path: tuple[PathPart, ...] = ("kafka", "quotas", index)
    entity = {kind: name for kind, name in (("user", quota.entity.user), ("client-id", quota.entity.client_id),
                                            ("ip", quota.entity.ip)) if name is not None}
    values: dict[str, float | int] = {}
    for key in QUOTA_KEYS:
        value = getattr(quota, key)
        if value is None:
            continue
        try:
            values[key] = normalise_quota(key, value)
        except ValueError as exc:
            context.problem(f"{key}: {exc}", (*path, key))
    problem = quota_entity_problem(entity, [k for k in QUOTA_KEYS if getattr(quota, k) is not None])
    if problem is not None:
        context.problem(problem, (*path, "entity"))
        return
    address = quota_address(entity)
    context.add("kafka.quota", address, target, {"entity": entity, "quotas": values}, path,
                name=address.removeprefix("kafka/quota/"), protect=quota.protect)


def _with_config(context: Expansion, attributes: dict[str, Any], extra: dict[str, Any],
                 path: tuple[PathPart, ...]) -> dict[str, Any]:
    """A generated topic's attributes: the topic's, with `extra` config over its config."""
    config, problems = normalise_topic_config(dict(extra))
    for key, message in problems.items():
        context.problem(message, (*path, key))
    return {**attributes, "config": {**attributes["config"], **config}}
