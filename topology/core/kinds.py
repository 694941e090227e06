"""What a kind of resource is like on its broker: the type of the facts the one differ needs.

Each broker folder fills a table of these in its `kinds.py`; the registry joins the tables. Every
driver, the embedded local one included, follows them, so a plan made against the local state file
says what a real broker would do.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from topology.core.resource import Live

__all__ = ["Attributes", "Discards", "Drawn", "Held", "KindRules", "Link", "Links", "at", "lowered", "made_from",
           "number", "plural"]

Attributes = Mapping[str, Any]
# What a change makes the broker discard from what it holds now: one phrase per cause ("retention.ms
# 604800000 -> 3600000"); empty when nothing is discarded. `before` is None for a create, `after` None
# for a delete.
Discards = Callable[[Attributes | None, Attributes | None], list[str]]
# How much such a change acts on now (None: unknown), from the whole live state of the target, when
# that is not the changed object's own count (a policy acts on the queues it matches):
# (address, scope, before, after, live) -> count.
Held = Callable[[str, str, Attributes | None, Attributes | None, Mapping[str, "Live"]], int | None]



@dataclass(frozen=True)
class Drawn:
    """An object as the topology's picture knows it: from the compiled files (`role` and `generated_by` known),
    or from a plan's change alone (both None: a plan does not keep them)."""

    address: str
    name: str
    scope: str
    attributes: Attributes
    role: str | None = None
    generated_by: str | None = None  # the object whose dead_letter/retry made this one
    from_files: bool = False  # role and generated_by are known (None there means: none)


@dataclass(frozen=True)
class Link:
    """An arrow of the picture: messages go from `source` to `target` (addresses). `path` says how: "flow"
    (a binding, a subscription, a group reading), "dead-letter", "retry" or "alternate". The names are what
    an end is labelled when the picture has no object of that address (an exchange topology does not declare)."""

    source: str
    target: str
    label: str = ""
    path: str = "flow"
    source_name: str = ""
    target_name: str = ""


# The arrows an object makes: a binding its one, a queue its dead-letter path, a group the topics it reads.
Links = Callable[[Drawn], list[Link]]


def _parent(match: re.Match[str]) -> str:
    return match.group("parent") + (match.groupdict().get("suffix") or "")


def made_from(drawn: Drawn, prefix: str, dead_letter: str, retry: str, delay: str | None = None) -> list[Link]:
    """The arrow to a dead-letter or retry object from the one whose `dead_letter`/`retry` made it (`prefix` +
    name is that one's address). The files say which it was; a plan alone does not, so there the broker's
    default names tell (`dead_letter`, `retry`: patterns with a `parent` group, and a `suffix` one the parent's
    name ends with too, `retry` with a `delay` one); a name of another naming template gets no arrow there."""
    parent, label = None, ""
    dead, wait = re.fullmatch(dead_letter, drawn.name), re.fullmatch(retry, drawn.name)
    if drawn.from_files:
        if drawn.generated_by is None or not drawn.generated_by.startswith(prefix):
            return []
        parent = drawn.generated_by
        is_dead = drawn.role == "dead_letter" or (drawn.role != "retry" and dead is not None)
        label = "dead-letter" if is_dead else "retry"
    elif dead is not None:
        parent, label = prefix + _parent(dead), "dead-letter"
    elif wait is not None:
        parent, label = prefix + _parent(wait), "retry"
    if parent is None:
        return []
    if label == "retry":
        when = delay or (wait.group("delay") if wait is not None else None)
        label = f"retry {when}" if when else label
    return [Link(parent, drawn.address, label, label.split(" ")[0], source_name=parent[len(prefix):])]


def number(value: Any) -> float | None:
    """A limit as a number; None is "no limit" (unset, or -1 where the broker says unlimited)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if number < 0 else number


def at(data: Attributes | None, path: tuple[str, ...]) -> Any:
    value: Any = data or {}
    for part in path:
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def lowered(*paths: tuple[str, ...], creates: bool = False, removals: bool = False,
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
            old, new = at(before, path), at(after, path)
            was, now = number(old), number(new)
            if new is not None and now is None and old != new and isinstance(new, str) and new.strip():
                found.append(f"{path[-1]} {old if old is not None else 'unset'} -> {new}")  # e.g. max-age: 7D
            elif now is not None and (was is None or now < was):
                found.append(f"{path[-1]} {old if old is not None else 'unset'} -> {new}")
            elif removals and new is None and old is not None and before is not None:  # -1 (unlimited) too
                found.append(f"{path[-1]} {old} -> the broker default")
        for path in changed:
            old, new = at(before, path), at(after, path)
            if before is not None and old != new:
                found.append(f"{path[-1]} {old if old is not None else 'the broker default'} -> "
                             f"{new if new is not None else 'the broker default'}")
        return found

    return discards


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
    limits: tuple[str, ...] = ()  # the `monitor:` limits it takes (core/monitor.py LIMITS); none: not watched
    alarm_only: frozenset[str] = frozenset()  # of those, what no live read can measure, only the broker's own
    #                                           alarms (an SQS queue's max_age: a CloudWatch metric)
    is_container: bool = False  # other objects live in it (a RabbitMQ vhost): the driver lists it by name
    in_container: bool = False  # its `scope` names the container it lives in (a RabbitMQ queue's vhost)
    # In the picture (`topology graph`): "node" a box, "link" only its arrows (a binding), None left out (a user).
    drawn: str | None = None
    links: Links | None = None  # its arrows, from its attributes




def plural(unit: str, count: int | None = None) -> str:
    """`unit` for `count` of them: "entry" -> "entries", "message" -> "messages"."""
    if count == 1:
        return unit
    return unit[:-1] + "ies" if unit.endswith("y") else unit + "s"
