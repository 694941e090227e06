"""What each kind of resource is like on its broker: the facts the one differ needs.

Every driver, the embedded local one included, follows these rules, so a plan made against the
local state file says what a real broker would do.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["KIND_RULES", "KindRules", "rules_for"]


@dataclass(frozen=True)
class KindRules:
    immutable: frozenset[str] = frozenset()  # a change to one of these is a replace (delete + create)
    grow_only: frozenset[str] = frozenset()  # may only increase; a decrease cannot be planned
    create_only: frozenset[str] = frozenset()  # used when creating, never compared afterwards
    whole: frozenset[str] = frozenset()  # compared as a whole even when the file leaves it out
    subset: frozenset[str] = frozenset()  # lists or mappings the live object must include (it may have more)
    at_most: frozenset[str] = frozenset()  # a live value at or below the declared one agrees; above it, the
    #                                        change removes the difference (Redis MAXLEN: trimming entries)
    holds_data: bool = False  # deleting or replacing it loses messages
    hangs_off: bool = False  # the broker deletes it with what it depends on (a queue's bindings, say)


KIND_RULES: dict[str, KindRules] = {
    "rabbitmq.vhost": KindRules(),
    "rabbitmq.exchange": KindRules(immutable=frozenset({"type", "durable", "auto_delete", "internal", "arguments"})),
    "rabbitmq.queue": KindRules(immutable=frozenset({"type", "durable", "auto_delete", "arguments"}), holds_data=True),
    "rabbitmq.binding": KindRules(immutable=frozenset({"source", "destination", "destination_type", "routing_key",
                                                       "arguments"}), hangs_off=True),
    "rabbitmq.exchange_binding": KindRules(immutable=frozenset({"source", "destination", "destination_type",
                                                                "routing_key", "arguments"}), hangs_off=True),
    "rabbitmq.policy": KindRules(),
    "rabbitmq.operator_policy": KindRules(),
    "rabbitmq.user": KindRules(),
    "rabbitmq.permission": KindRules(hangs_off=True),
    "rabbitmq.topic_permission": KindRules(immutable=frozenset({"user", "exchange"}), hangs_off=True),
    "kafka.topic": KindRules(grow_only=frozenset({"partitions"}), whole=frozenset({"config"}), holds_data=True),
    "kafka.group": KindRules(create_only=frozenset({"initial_offset"}), subset=frozenset({"topics"})),
    "kafka.acl": KindRules(immutable=frozenset({"principal", "host", "resource_type", "resource_name", "pattern_type",
                                                "operation", "permission"})),
    "sqs.queue": KindRules(immutable=frozenset({"FifoQueue"}), subset=frozenset({"tags"}), holds_data=True),
    "sns.topic": KindRules(immutable=frozenset({"FifoTopic"}), subset=frozenset({"tags"})),
    "sns.subscription": KindRules(immutable=frozenset({"topic", "queue"}), hangs_off=True),
    "redis.stream": KindRules(at_most=frozenset({"max_length"}), holds_data=True),
    "redis.group": KindRules(immutable=frozenset({"stream"}), create_only=frozenset({"start"}), holds_data=True,
                             hangs_off=True),
}


def rules_for(kind: str) -> KindRules:
    return KIND_RULES.get(kind, KindRules())
