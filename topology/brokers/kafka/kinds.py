"""What Kafka's kinds of object are like: partitions only grow, retention and cleanup changes discard
records, a group's committed offsets are data too, an ACL binding is all identity, a SCRAM credential
changes its iterations in place, and a quota entity's values are compared whole."""

from __future__ import annotations

from topology.core.kinds import KindRules, lowered
from topology.format.monitoring import GROUP_LIMITS, KAFKA_TOPIC_LIMITS

__all__ = ["KINDS"]

KINDS: dict[str, KindRules] = {
    # Only a dead-letter topic is watched (role dead_letter): other topics are measured by the groups reading them.
    "kafka.topic": KindRules(limits=KAFKA_TOPIC_LIMITS, grow_only=frozenset({"partitions"}),
                             whole=frozenset({"config"}), holds_data=True,
                             discards=lowered(("config", "retention.ms"), ("config", "retention.bytes"),
                                              removals=True, changed=(("config", "cleanup.policy"),))),
    # A group's committed offsets are where its consumers are: deleting them is a loss too.
    "kafka.group": KindRules(
        limits=GROUP_LIMITS, create_only=frozenset({"initial_offset"}), subset=frozenset({"topics"}),
        holds_data=True, unit="committed offset"),
    "kafka.acl": KindRules(immutable=frozenset({"principal", "host", "resource_type", "resource_name", "pattern_type",
                                                "operation", "permission"})),
    "kafka.scram_credential": KindRules(immutable=frozenset({"user", "mechanism"})),
    # The values a quota entry leaves out are removed, as a topic's config keys are.
    "kafka.quota": KindRules(immutable=frozenset({"entity"}), whole=frozenset({"quotas"})),
}
