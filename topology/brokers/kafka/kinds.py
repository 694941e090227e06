"""What Kafka's kinds of object are like: partitions only grow, retention and cleanup changes discard
records, a group's committed offsets are data too, an ACL binding is all identity, a SCRAM credential
changes its iterations in place, and a quota entity's values are compared whole."""

from __future__ import annotations

from topology.core.kinds import Drawn, KindRules, Link, lowered, made_from
from topology.format.monitoring import GROUP_LIMITS, KAFKA_TOPIC_LIMITS

__all__ = ["KINDS"]


def _topic_links(drawn: Drawn) -> list[Link]:
    """A dead-letter or retry topic hangs off the topic whose `dead_letter`/`retry` made it."""
    return made_from(drawn, "kafka/topic/", r"(?P<parent>.+)\.dlt", r"(?P<parent>.+)\.retry\.(?P<delay>[^.]+)")


def _group_links(drawn: Drawn) -> list[Link]:
    """A group reads its topics."""
    return [Link(f"kafka/topic/{topic}", drawn.address, target_name=drawn.name, source_name=str(topic))
            for topic in drawn.attributes.get("topics") or ()]

KINDS: dict[str, KindRules] = {
    # Only a dead-letter topic is watched (role dead_letter): other topics are measured by the groups reading them.
    "kafka.topic": KindRules(limits=KAFKA_TOPIC_LIMITS, grow_only=frozenset({"partitions"}),
                             whole=frozenset({"config"}), holds_data=True, drawn="node", links=_topic_links,
                             discards=lowered(("config", "retention.ms"), ("config", "retention.bytes"),
                                              removals=True, changed=(("config", "cleanup.policy"),))),
    # A group's committed offsets are where its consumers are: deleting them is a loss too.
    "kafka.group": KindRules(
        limits=GROUP_LIMITS, create_only=frozenset({"initial_offset"}), subset=frozenset({"topics"}),
        holds_data=True, unit="committed offset", drawn="node", links=_group_links),
    "kafka.acl": KindRules(immutable=frozenset({"principal", "host", "resource_type", "resource_name", "pattern_type",
                                                "operation", "permission"})),
    "kafka.scram_credential": KindRules(immutable=frozenset({"user", "mechanism"})),
    # The values a quota entry leaves out are removed, as a topic's config keys are.
    "kafka.quota": KindRules(immutable=frozenset({"entity"}), whole=frozenset({"quotas"})),
}
