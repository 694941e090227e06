"""What Redis's kinds of object are like: a stream's MAXLEN trims entries, a group's pending entries
are data, a group belongs to one stream for good and its position is set only when it is created, and
an ACL user is set whole by one ACL SETUSER."""

from __future__ import annotations

from topology.core.kinds import KindRules
from topology.format.monitoring import REDIS_GROUP_LIMITS, STREAM_LIMITS

__all__ = ["KINDS"]

KINDS: dict[str, KindRules] = {
    "redis.stream": KindRules(
        limits=STREAM_LIMITS, at_most=frozenset({"max_length"}), holds_data=True, unit="entry"),
    "redis.group": KindRules(
        limits=REDIS_GROUP_LIMITS, immutable=frozenset({"stream"}), create_only=frozenset({"start", "entries_read"}),
        holds_data=True, hangs_off=True, unit="pending entry"),
    "redis.user": KindRules(),
}
