"""What Redis's kinds of object are like: a stream's MAXLEN trims entries, a group's pending entries
are data, a group belongs to one stream for good and its position is set only when it is created, and
an ACL user is set whole by one ACL SETUSER."""

from __future__ import annotations

from topology.core.kinds import Drawn, KindRules, Link, made_from
from topology.format.monitoring import REDIS_GROUP_LIMITS, STREAM_LIMITS

__all__ = ["KINDS"]


def _stream_links(drawn: Drawn) -> list[Link]:
    """A dead-letter or retry stream hangs off the stream whose `dead_letter`/`retry` made it."""
    return made_from(drawn, "redis/stream/", r"(?P<parent>.+):dlq", r"(?P<parent>.+):retry:(?P<delay>[^:]+)")


def _group_links(drawn: Drawn) -> list[Link]:
    """A group reads its stream."""
    stream = str(drawn.attributes.get("stream") or drawn.scope)
    return [Link(f"redis/stream/{stream}", drawn.address, source_name=stream)]

KINDS: dict[str, KindRules] = {
    "redis.stream": KindRules(
        limits=STREAM_LIMITS, at_most=frozenset({"max_length"}), holds_data=True, unit="entry", drawn="node",
        links=_stream_links),
    "redis.group": KindRules(
        limits=REDIS_GROUP_LIMITS, immutable=frozenset({"stream"}), create_only=frozenset({"start", "entries_read"}),
        holds_data=True, hangs_off=True, unit="pending entry", drawn="node", links=_group_links),
    "redis.user": KindRules(),
}
