"""The one differ: desired resources + live state -> ordered changes, for every broker alike.

Only attributes the topology declares are compared (a live default the file does not mention is
not a change), except the attributes a kind compares whole (Kafka topic configs: an override the
file leaves out is removed). A live object the files do not declare is deleted only inside
`manage:` with `prune: true`. Protected resources are never deleted or replaced.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from topology.brokers.base import Live, Selection
from topology.brokers.registry import rules_for
from topology.core.kinds import plural
from topology.core.problems import Problem
from topology.core.resource import Resource, same
from topology.engine.plan import AttributeChange, Change

__all__ = ["Diff", "diff", "order_changes"]


@dataclass
class Diff:
    changes: list[Change] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def _included(wanted: Any, have: Any) -> bool:
    """Every item of `wanted` (a list or a mapping) is in `have`."""
    if isinstance(wanted, list) and isinstance(have, list):
        return set(map(str, wanted)) <= set(map(str, have))
    if isinstance(wanted, dict) and isinstance(have, dict):
        return all(key in have and same(value, have[key]) for key, value in wanted.items())
    return False


def _messages_reason(messages: int | None, unit: str = "message", why: str = "") -> str:
    """`loses data: 25 messages`; with `why` (a limit lowered), what is held is what is at stake, so
    `loses data: up to 25 messages (retention.ms ... -> ...)`."""
    suffix = f" ({why})" if why else ""
    if messages is None:
        return f"loses data: an unknown number of {plural(unit)}{suffix}"
    return f"loses data: {'up to ' if why else ''}{messages:,} {plural(unit, messages)}{suffix}"


def _held(resource: Resource, current: Live | None, live: Mapping[str, Live]) -> int | None:
    """What a limit-lowering change acts on now: the kind's own rule, else the object's count."""
    rules = rules_for(resource.kind)
    if rules.held is not None:
        return rules.held(resource.address, resource.scope, current.attributes if current else None,
                          resource.attributes, live)
    if current is None:
        return 0
    return current.messages


def diff(desired: Mapping[str, Resource], live: Mapping[str, Live], selection: Selection,
         secret_matches: Callable[[Resource, Live], bool], *, target: str = "local") -> Diff:
    """The changes that make `live` (one target's) match `desired` (what the files give that target)."""
    result = Diff()
    replaced: set[str] = set()
    for address, resource in desired.items():
        target = resource.target or "local"
        current = live.get(address)
        discards = rules_for(resource.kind).discards
        if current is None and discards is not None and discards(None, resource.attributes):
            result.changes.append(_discarding_create(resource, discards(None, resource.attributes), live))
            continue
        if current is None:
            # Built without validation: these are topology's own values, and a plan may hold 10,000+.
            result.changes.append(Change.model_construct(
                address=address, kind=resource.kind, target=target, name=resource.name, scope=resource.scope,
                action="create", before=None, after=resource.attributes, reasons=(), messages=None,
                loses_data=False,
                attributes=tuple(AttributeChange.model_construct(
                    name=k, before=None, after=v, forces_replacement=False, sensitive=False)
                    for k, v in resource.attributes.items()) +
                tuple(AttributeChange.model_construct(name=k, before=None, after=None, forces_replacement=False,
                                                      sensitive=True) for k in sorted(resource.secrets)),
                depends_on=resource.depends_on))
            continue
        change = _compare(resource, current, secret_matches, result.problems, live)
        if change is not None:
            result.changes.append(change)
            if change.action == "replace":
                replaced.add(address)

    # A replaced queue or exchange loses what hangs off it (its bindings): bring back the unchanged ones.
    changed = {c.address for c in result.changes}
    for address, resource in desired.items():
        gone = [d for d in resource.depends_on if d in replaced]
        if gone and address not in changed and address in live and rules_for(resource.kind).hangs_off:
            result.changes.append(Change(
                address=address, kind=resource.kind, target=resource.target or "local", name=resource.name,
                scope=resource.scope, action="create", after=resource.attributes, depends_on=resource.depends_on,
                attributes=tuple(AttributeChange(name=k, after=v) for k, v in resource.attributes.items()),
                reasons=(f"re-created: `{gone[0]}` is replaced",)))

    for address, current in live.items():
        if address in desired or not selection.prunable(address):
            continue
        rules = rules_for(current.kind)
        holds = rules.holds_data
        loses = holds and current.messages != 0
        reasons = ("not declared; manage.prune is on",) + ((_messages_reason(current.messages, rules.unit),)
                                                            if loses else ())
        messages = current.messages if holds else None
        needs_empty = holds and not loses
        discarded = rules.discards(current.attributes, None) if rules.discards and not holds else []
        if discarded and rules.held is not None:  # removing a policy can let another one's limits apply
            messages = rules.held(address, current.scope, current.attributes, None, live)
            loses, needs_empty = messages != 0, messages == 0
            if loses:
                reasons += (_messages_reason(messages, rules.unit, "; ".join(discarded)),)
        result.changes.append(Change(
            address=address, kind=current.kind, target=target, name=current.name, scope=current.scope,
            action="delete", before=current.attributes, depends_on=current.depends_on, messages=messages,
            loses_data=loses, needs_empty=needs_empty, reasons=reasons))
    result.changes = order_changes(result.changes)
    return result


def _discarding_create(resource: Resource, discarded: list[str], live: Mapping[str, Live]) -> Change:
    """A new object that makes the broker drop data already held elsewhere (a policy's max-length)."""
    held = _held(resource, None, live)
    loses = held != 0
    container = rules_for(resource.kind).container
    new_container = container is not None and container.format(scope=resource.scope) not in live
    return Change(
        address=resource.address, kind=resource.kind, target=resource.target or "local", name=resource.name,
        scope=resource.scope, action="create", after=resource.attributes, depends_on=resource.depends_on,
        attributes=tuple(AttributeChange(name=k, after=v) for k, v in resource.attributes.items()),
        reasons=(_messages_reason(held, rules_for(resource.kind).unit, "; ".join(discarded)),) if loses else (),
        messages=held, loses_data=loses, needs_empty=not loses and not new_container)


def _compare(resource: Resource, current: Live, secret_matches: Callable[[Resource, Live], bool],
             problems: list[Problem], live: Mapping[str, Live]) -> Change | None:
    rules = rules_for(resource.kind)
    attributes: list[AttributeChange] = []
    trimmed: list[int] = []
    keys = list(resource.attributes) + sorted(k for k in rules.whole if k not in resource.attributes)
    for key in keys:
        if key in rules.create_only:
            continue
        wanted = resource.attributes.get(key, {} if key in rules.whole else None)
        have = current.attributes.get(key, {} if key in rules.whole else None)
        if same(wanted, have) or (key in rules.subset and _included(wanted, have)):
            continue
        if key in rules.at_most and isinstance(have, int) and isinstance(wanted, int):
            if have <= wanted:
                continue
            trimmed.append(have - wanted)
        if key in rules.grow_only and isinstance(have, int) and isinstance(wanted, int) and wanted < have:
            problems.append(Problem(
                f"`{resource.address}`: {key} can only grow; live has {have}, the file asks for {wanted}",
                resource.origin, key, f"set {key}: {have} or more, or replace the topic by hand"))
            continue
        attributes.append(AttributeChange(name=key, before=have, after=wanted,
                                          forces_replacement=key in rules.immutable))
    if resource.secrets and not secret_matches(resource, current):
        attributes.extend(AttributeChange(name=k, sensitive=True) for k in sorted(resource.secrets))
    if not attributes:
        return None
    replace = any(a.forces_replacement for a in attributes)
    reasons: list[str] = []
    loses = needs_empty = False
    messages = current.messages if rules.holds_data else None
    if trimmed and not replace:
        loses = True
        messages = sum(trimmed)
        reasons.append(f"loses data: {sum(trimmed):,} {plural(rules.unit, sum(trimmed))} (trimmed to max_length)")
    discarded = rules.discards(current.attributes, resource.attributes) if rules.discards and not replace else []
    if discarded and not loses:
        held = _held(resource, current, live)
        messages = held
        if held != 0:
            loses = True
            reasons.append(_messages_reason(held, rules.unit, "; ".join(discarded)))
        else:
            needs_empty = True
    if replace:
        reasons.append("forces replacement")
        if resource.protect:
            problems.append(Problem(
                f"`{resource.address}` is protected, but changing "
                f"{', '.join(a.name for a in attributes if a.forces_replacement)} would replace it",
                resource.origin, "protect", "undo the change, or remove `protect: true` first"))
            return None
        if rules.holds_data and current.messages != 0:
            loses = True
            reasons.append(_messages_reason(current.messages, rules.unit))
        needs_empty = rules.holds_data and not loses
    return Change(
        address=resource.address, kind=resource.kind, target=resource.target or "local", name=resource.name,
        scope=resource.scope, action="replace" if replace else "update", before=current.attributes,
        after=resource.attributes,
        attributes=tuple(attributes), reasons=tuple(reasons), depends_on=resource.depends_on,
        messages=messages, loses_data=loses, needs_empty=needs_empty)


def order_changes(changes: list[Change]) -> list[Change]:
    """Dependencies first, ties by address; deletes last, dependents before what they hang off."""
    forward = [c for c in changes if c.action != "delete"]
    deletes = [c for c in changes if c.action == "delete"]
    ordered = _topological(forward, lambda c: c.depends_on)
    # A delete waits for the deletes of everything that depends on it: reverse the edges.
    dependents: dict[str, list[str]] = {}
    for change in deletes:
        for dependency in change.depends_on:
            dependents.setdefault(dependency, []).append(change.address)
    return ordered + _topological(deletes, lambda c: tuple(dependents.get(c.address, ())))


def _topological(changes: list[Change], edges: Callable[[Change], tuple[str, ...]]) -> list[Change]:
    by_address = {c.address: c for c in changes}
    waiting: dict[str, set[str]] = {c.address: {d for d in edges(c) if d in by_address and d != c.address}
                                    for c in changes}
    unlocks: dict[str, list[str]] = {}
    for address, needs in waiting.items():
        for need in needs:
            unlocks.setdefault(need, []).append(address)
    ready = [address for address, needs in waiting.items() if not needs]
    heapq.heapify(ready)
    ordered: list[Change] = []
    while ready:
        address = heapq.heappop(ready)
        ordered.append(by_address[address])
        for follower in unlocks.get(address, ()):
            waiting[follower].discard(address)
            if not waiting[follower]:
                heapq.heappush(ready, follower)
    if len(ordered) < len(changes):  # a cycle: keep the rest in address order rather than lose them
        done = {c.address for c in ordered}
        ordered += sorted((c for c in changes if c.address not in done), key=lambda c: c.address)
    return ordered
