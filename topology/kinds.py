"""What each kind of resource is like on its broker: the facts the one differ needs.

Every driver, the embedded local one included, follows these rules, so a plan made against the
local state file says what a real broker would do.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from topology.drivers.base import Live

__all__ = ["KIND_RULES", "KindRules", "held_now", "plural", "quantity", "rules_for"]

Attributes = Mapping[str, Any]
# What a change makes the broker discard from what it holds now: one phrase per cause ("retention.ms
# 604800000 -> 3600000"); empty when nothing is discarded. `before` is None for a create, `after` None
# for a delete.
Discards = Callable[[Attributes | None, Attributes | None], list[str]]
# How much such a change acts on now (None: unknown), from the whole live state of the target, when
# that is not the changed object's own count (a policy acts on the queues it matches):
# (address, scope, before, after, live) -> count.
Held = Callable[[str, str, Attributes | None, Attributes | None, Mapping[str, "Live"]], int | None]


def _number(value: Any) -> float | None:
    """A limit as a number; None is "no limit" (unset, or -1 where the broker says unlimited)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if number < 0 else number


def _at(data: Attributes | None, path: tuple[str, ...]) -> Any:
    value: Any = data or {}
    for part in path:
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def _lowered(*paths: tuple[str, ...], creates: bool = False, removals: bool = False,
             changed: tuple[tuple[str, ...], ...] = ()) -> Discards:
    """Discards when a limit at one of `paths` goes down or appears; `removals`: also when it is removed so
    the broker default applies (only where a removal is sent: Kafka's whole topic config; SQS leaves an
    attribute the file does not mention alone); `changed`: values whose every change discards (Kafka's
    cleanup.policy: compaction drops older records of a key, deletion drops old segments);
    `creates`: a new object acts on data already there (a policy)."""

    def discards(before: Attributes | None, after: Attributes | None) -> list[str]:
        if after is None or (before is None and not creates):
            return []
        found: list[str] = []
        for path in paths:
            old, new = _at(before, path), _at(after, path)
            was, now = _number(old), _number(new)
            if new is not None and now is None and old != new and isinstance(new, str) and new.strip():
                found.append(f"{path[-1]} {old if old is not None else 'unset'} -> {new}")  # e.g. max-age: 7D
            elif now is not None and (was is None or now < was):
                found.append(f"{path[-1]} {old if old is not None else 'unset'} -> {new}")
            elif removals and new is None and old is not None and before is not None:  # -1 (unlimited) too
                found.append(f"{path[-1]} {old} -> the broker default")
        for path in changed:
            old, new = _at(before, path), _at(after, path)
            if before is not None and old != new:
                found.append(f"{path[-1]} {old if old is not None else 'the broker default'} -> "
                             f"{new if new is not None else 'the broker default'}")
        return found

    return discards


# ------------------------------------------------------------------------------ RabbitMQ policies

_POLICY_LIMIT_PATHS = (("definition", "max-length"), ("definition", "max-length-bytes"),
                       ("definition", "message-ttl"), ("definition", "expires"), ("definition", "max-age"))
_POLICY_LIMITS = frozenset(path[-1] for path in _POLICY_LIMIT_PATHS)
_policy_lowered = _lowered(*_POLICY_LIMIT_PATHS, creates=True)
# Constructs PCRE (RabbitMQ's regex engine) reads differently from Python's `re`, or Python lacks:
# a pattern using one is matched "unknown" rather than guessed.
_PCRE_ONLY = ("[:", "\\p", "\\P", "\\X", "\\Q", "\\E", "\\h", "\\H", "\\R", "\\K", "\\v", "\\V",
              "\\N", "\\g", "\\o", "\\x{", "(*", "(?|", "(?R", "(?(", "(?+", "(?-", "(?&", "(?C")


def _limits(attributes: Attributes | None) -> bool:
    return bool(attributes) and bool(_POLICY_LIMITS & set((attributes or {}).get("definition") or {}))


def _policy_discards(before: Attributes | None, after: Attributes | None) -> list[str]:
    """A policy discards when it lowers a limit or brings its limits to other queues; and any change of
    which queues it matches (or its removal) may let another policy's limits apply where it ruled."""
    if after is None:
        return ["removing it lets other policies apply to its queues"]
    found = _policy_lowered(before, after)
    if before is not None and not found and any(before.get(k) != after.get(k) for k in ("pattern", "apply-to",
                                                                                         "priority")):
        found.append("it now rules other queues, and other policies may apply to the ones it leaves")
    return found


def _pattern(attributes: Attributes | None) -> re.Pattern[str] | None:
    """A policy's pattern for Python, or None when Python might match otherwise than RabbitMQ."""
    import warnings

    text = str((attributes or {}).get("pattern", ""))
    if any(construct in text for construct in _PCRE_ONLY):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            return re.compile(text)
        except (re.error, FutureWarning):
            return None


def _policy_held(address: str, scope: str, before: Attributes | None, after: Attributes | None,
                 live: Mapping[str, Live]) -> int | None:
    """Messages in the queues of vhost `scope` whose limits the policy change can lower: the ones its
    (new) pattern matches when it sets limits; and, when another policy in the vhost sets limits, the
    ones its old or new pattern matches (those may now fall under the other policy)."""
    vhost = live.get(f"rabbitmq/vhost/{scope}")
    if vhost is None:
        return 0  # a new vhost holds nothing yet
    others = any(item.kind in ("rabbitmq.policy", "rabbitmq.operator_policy") and other != address
                 and item.scope == scope and _limits(item.attributes) for other, item in live.items())
    sides = [side for side in ((after,) if _limits(after) else ()) + ((before, after) if others else ())
             if side is not None and side.get("apply-to") != "exchanges"]
    patterns = [_pattern(side) for side in sides]
    if not sides:
        return 0
    if None in patterns:  # a pattern Python cannot match as RabbitMQ does: unknown, unless nothing is held
        return 0 if all(messages == 0 for messages in vhost.contents.values()) else None
    total = 0
    for queue, messages in vhost.contents.items():
        if any(pattern is not None and pattern.search(queue) for pattern in patterns):
            if messages is None:
                return None
            total += messages
    return total


@dataclass(frozen=True)
class KindRules:
    immutable: frozenset[str] = frozenset()  # a change to one of these is a replace (delete + create)
    grow_only: frozenset[str] = frozenset()  # may only increase; a decrease cannot be planned
    create_only: frozenset[str] = frozenset()  # used when creating, never compared afterwards
    whole: frozenset[str] = frozenset()  # compared as a whole even when the file leaves it out
    subset: frozenset[str] = frozenset()  # lists or mappings the live object must include (it may have more)
    at_most: frozenset[str] = frozenset()  # a live value at or below the declared one agrees; above it, the
    #                                        change removes the difference (Redis MAXLEN: trimming entries)
    holds_data: bool = False  # deleting or replacing it loses what it holds (Live.messages counts it)
    unit: str = "message"  # what Live.messages counts, singular: "message", "entry", "committed offset"
    discards: Discards | None = None  # a create/update that lowers a limit makes the broker drop data
    held: Held | None = None  # what such a change acts on, when not the object's own Live.messages
    # The address of what an object lives in ("rabbitmq/vhost/{scope}"): while that does not exist, nothing
    # inside holds data, so a new object there needs no re-check (a saved plan that finds the container
    # created since is stale by its live digest).
    container: str | None = None
    hangs_off: bool = False  # the broker deletes it with what it depends on (a queue's bindings, say)


KIND_RULES: dict[str, KindRules] = {
    "rabbitmq.vhost": KindRules(holds_data=True),  # deleting a vhost deletes every queue in it
    "rabbitmq.exchange": KindRules(immutable=frozenset({"type", "durable", "auto_delete", "internal", "arguments"})),
    "rabbitmq.queue": KindRules(immutable=frozenset({"type", "durable", "auto_delete", "arguments"}), holds_data=True),
    "rabbitmq.binding": KindRules(immutable=frozenset({"source", "destination", "destination_type", "routing_key",
                                                       "arguments"}), hangs_off=True),
    "rabbitmq.exchange_binding": KindRules(immutable=frozenset({"source", "destination", "destination_type",
                                                                "routing_key", "arguments"}), hangs_off=True),
    "rabbitmq.policy": KindRules(discards=_policy_discards, held=_policy_held, container="rabbitmq/vhost/{scope}"),
    "rabbitmq.operator_policy": KindRules(discards=_policy_discards, held=_policy_held,
                                          container="rabbitmq/vhost/{scope}"),
    "rabbitmq.user": KindRules(),
    "rabbitmq.permission": KindRules(hangs_off=True),
    "rabbitmq.topic_permission": KindRules(immutable=frozenset({"user", "exchange"}), hangs_off=True),
    "kafka.topic": KindRules(grow_only=frozenset({"partitions"}), whole=frozenset({"config"}), holds_data=True,
                             discards=_lowered(("config", "retention.ms"), ("config", "retention.bytes"),
                                               removals=True, changed=(("config", "cleanup.policy"),))),
    # A group's committed offsets are where its consumers are: deleting them is a loss too.
    "kafka.group": KindRules(create_only=frozenset({"initial_offset"}), subset=frozenset({"topics"}),
                             holds_data=True, unit="committed offset"),
    "kafka.acl": KindRules(immutable=frozenset({"principal", "host", "resource_type", "resource_name", "pattern_type",
                                                "operation", "permission"})),
    "sqs.queue": KindRules(immutable=frozenset({"FifoQueue"}), subset=frozenset({"tags"}), holds_data=True,
                           discards=_lowered(("MessageRetentionPeriod",))),
    "sns.topic": KindRules(immutable=frozenset({"FifoTopic"}), subset=frozenset({"tags"})),
    "sns.subscription": KindRules(immutable=frozenset({"topic", "queue"}), hangs_off=True),
    "redis.stream": KindRules(at_most=frozenset({"max_length"}), holds_data=True, unit="entry"),
    "redis.group": KindRules(immutable=frozenset({"stream"}), create_only=frozenset({"start"}), holds_data=True,
                             hangs_off=True, unit="pending entry"),
}


def rules_for(kind: str) -> KindRules:
    return KIND_RULES.get(kind, KindRules())


def held_now(kind: str, address: str, scope: str, after: Attributes | None, live: Mapping[str, Live],
             before: Attributes | None = None) -> int | None:
    """What a destructive or limit-lowering change of `address` would lose, by `live` as read now:
    the kind's `held` rule (a policy: the queues it matches), else the object's own count."""
    rules = rules_for(kind)
    if rules.held is not None:
        if before is None and address in live:
            before = live[address].attributes
        return rules.held(address, scope, before, after, live)
    current = live.get(address)
    return 0 if current is None else current.messages


def plural(unit: str, count: int | None = None) -> str:
    """`unit` for `count` of them: "entry" -> "entries", "message" -> "messages"."""
    if count == 1:
        return unit
    return unit[:-1] + "ies" if unit.endswith("y") else unit + "s"


def quantity(kind: str, count: int | None) -> str:
    """What an object of `kind` holds, for people: "7 pending entries", "an unknown number of messages"."""
    unit = rules_for(kind).unit
    return f"an unknown number of {plural(unit)}" if count is None else f"{count:,} {plural(unit, count)}"
