"""The `kafka:` section as primitive resources: topics (with their retry and dead-letter topics),
consumer groups (reading the retry topics too) and one ACL binding per operation."""

from __future__ import annotations

from typing import Any

from topology.brokers.kafka.config import acl_address, normalise_topic_config
from topology.brokers.kafka.spec import Kafka
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
                        (*path, "dead_letter"), name=dlt, generated_by=address)

    for name, group in section.consumer_groups.items():
        topics = [t for topic in group.topics for t in (topic, *retry_topics.get(topic, []))]
        context.add("kafka.group", f"kafka/group/{name}", target, {
            "topics": topics, "initial_offset": group.initial_offset,
        }, ("kafka", "consumer_groups", name), name=name, depends_on=tuple(f"kafka/topic/{t}" for t in topics),
            protect=group.protect)

    for index, acl in enumerate(section.acls):
        resource = acl.resource
        for operation in acl.operations:
            binding = {"principal": acl.principal, "host": acl.host, "resource_type": resource.type,
                       "resource_name": resource.name, "pattern_type": resource.pattern, "operation": operation,
                       "permission": acl.permission}
            context.add("kafka.acl", acl_address(binding), target, binding, ("kafka", "acls", index),
                        name=f"{acl.principal}/{operation}", protect=acl.protect)


def _with_config(context: Expansion, attributes: dict[str, Any], extra: dict[str, Any],
                 path: tuple[PathPart, ...]) -> dict[str, Any]:
    """A generated topic's attributes: the topic's, with `extra` config over its config."""
    config, problems = normalise_topic_config(dict(extra))
    for key, message in problems.items():
        context.problem(message, (*path, key))
    return {**attributes, "config": {**attributes["config"], **config}}
