"""The one differ: desired resources + live state -> ordered changes, for every broker alike.

Only attributes the topology declares are compared (a live default the file does not mention is
not a change), except the attributes a kind compares whole (Kafka topic configs: an override the
file leaves out is removed). A live object the files do not declare is deleted only inside
`manage:` with `prune: true`. Protected resources are never deleted or replaced.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from topology.brokers.base import Live, Selection
from topology.brokers.registry import rules_for
from topology.core.kinds import KindRules, plural
from topology.core.problems import Problem
from topology.core.resource import Resource, same
from topology.engine.order import order_changes
from topology.engine.plan import AttributeChange, Change

__all__ = ["Diff", "diff"]


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
         secret_matches: Callable[[Resource, Live], bool], *, target: str = "local",
         declared: Mapping[str, Resource] | None = None) -> Diff:
    """The changes that make `live` (one target's) match `desired` (what the files give that target, or
    a partial plan's part of it: then `declared` is all of it, and what hangs off a replaced object is
    re-created from there)."""
    result = Diff()
    for address, resource in desired.items():
        change = _desired_change(address, resource, live, secret_matches, result.problems)
        if change is not None:
            result.changes.append(change)
    result.changes += _recreated(desired if declared is None else declared, live, result.changes)
    result.changes += [_pruned(address, current, live, target) for address, current in live.items()
                       if address not in desired and selection.prunable(address, current.depends_on)]
    result.changes = order_changes(result.changes)
    return result


def _desired_change(address: str, resource: Resource, live: Mapping[str, Live],
                    secret_matches: Callable[[Resource, Live], bool], problems: list[Problem]) -> Change | None:
    """What one declared resource needs: a create when it is missing, else an update, a replace or nothing."""
    current = live.get(address)
    if current is not None:
        return _compare(resource, current, secret_matches, problems, live)
    discards = rules_for(resource.kind).discards
    discarded = discards(None, resource.attributes) if discards is not None else []
    if discarded:
        return _discarding_create(resource, discarded, live)
    return _created(address, resource)


def _created(address: str, resource: Resource) -> Change:
    """A plain create (a plan may hold 100,000+)."""
    return Change(
        address=address, kind=resource.kind, target=resource.target or "local", name=resource.name,
        scope=resource.scope, action="create", after=resource.attributes,
        attributes=tuple(AttributeChange(k, None, v) for k, v in resource.attributes.items()) +
        tuple(AttributeChange(k, sensitive=True) for k in sorted(resource.secrets)),
        depends_on=resource.depends_on)


def _recreated(desired: Mapping[str, Resource], live: Mapping[str, Live], changes: list[Change]) -> list[Change]:
    """A replaced queue or exchange loses what hangs off it (its bindings): bring back the unchanged ones."""
    replaced = {c.address for c in changes if c.action == "replace"}
    changed = {c.address for c in changes}
    recreated: list[Change] = []
    for address, resource in desired.items():
        gone = [d for d in resource.depends_on if d in replaced]
        if gone and address not in changed and address in live and rules_for(resource.kind).hangs_off:
            recreated.append(Change(
                address=address, kind=resource.kind, target=resource.target or "local", name=resource.name,
                scope=resource.scope, action="create", after=resource.attributes, depends_on=resource.depends_on,
                attributes=tuple(AttributeChange(name=k, after=v) for k, v in resource.attributes.items()),
                reasons=(f"re-created: `{gone[0]}` is replaced",)))
    return recreated


def _pruned(address: str, current: Live, live: Mapping[str, Live], target: str) -> Change:
    """The delete of a live object the files do not declare (inside `manage:` with `prune: true`)."""
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
    return Change(
        address=address, kind=current.kind, target=target, name=current.name, scope=current.scope,
        action="delete", before=current.attributes, depends_on=current.depends_on, messages=messages,
        loses_data=loses, needs_empty=needs_empty, reasons=reasons)


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


@dataclass
class _Stake:
    """What an update or a replace acts on: the count it puts at risk, whether it loses it, and why."""

    messages: int | None
    loses: bool = False
    needs_empty: bool = False
    reasons: list[str] = field(default_factory=list)


def _compare(resource: Resource, current: Live, secret_matches: Callable[[Resource, Live], bool],
             problems: list[Problem], live: Mapping[str, Live]) -> Change | None:
    """The update or replace that brings `current` to `resource`; None when they agree, or when the
    change cannot be planned (a problem says why)."""
    rules = rules_for(resource.kind)
    attributes, trimmed = _attribute_changes(resource, current, rules, problems)
    if resource.secrets and not secret_matches(resource, current):
        attributes.extend(AttributeChange(name=k, sensitive=True) for k in sorted(resource.secrets))
    if not attributes:
        return None
    replace = any(a.forces_replacement for a in attributes)
    if replace and resource.protect:
        problems.append(Problem(
            f"`{resource.address}` is protected, but changing "
            f"{', '.join(a.name for a in attributes if a.forces_replacement)} would replace it",
            resource.origin, "protect", "undo the change, or remove `protect: true` first"))
        return None
    stake = _replace_stake(current, rules) if replace else _update_stake(resource, current, rules, trimmed, live)
    return Change(
        address=resource.address, kind=resource.kind, target=resource.target or "local", name=resource.name,
        scope=resource.scope, action="replace" if replace else "update", before=current.attributes,
        after=resource.attributes,
        attributes=tuple(attributes), reasons=tuple(stake.reasons), depends_on=resource.depends_on,
        messages=stake.messages, loses_data=stake.loses, needs_empty=stake.needs_empty)


def _attribute_changes(resource: Resource, current: Live, rules: KindRules,
                       problems: list[Problem]) -> tuple[list[AttributeChange], list[int]]:
    """The declared attributes (and those the kind compares whole) that differ, and what each lowered
    at-most limit trims from what is held. A grow-only value asked to shrink is a problem, not a change."""
    attributes: list[AttributeChange] = []
    trimmed: list[int] = []
    keys = list(resource.attributes) + sorted(k for k in rules.whole if k not in resource.attributes)
    for key in keys:
        if key in rules.create_only:
            continue
        wanted = resource.attributes.get(key, {} if key in rules.whole else None)
        have = current.attributes.get(key, {} if key in rules.whole else None)
        if _agrees(key, wanted, have, rules):
            continue
        if key in rules.at_most and isinstance(have, int) and isinstance(wanted, int):
            trimmed.append(have - wanted)
        if key in rules.grow_only and isinstance(have, int) and isinstance(wanted, int) and wanted < have:
            problems.append(Problem(
                f"`{resource.address}`: {key} can only grow; live has {have}, the file asks for {wanted}",
                resource.origin, key, f"set {key}: {have} or more, or replace the topic by hand"))
            continue
        attributes.append(AttributeChange(name=key, before=have, after=wanted,
                                          forces_replacement=key in rules.immutable))
    return attributes, trimmed


def _agrees(key: str, wanted: Any, have: Any, rules: KindRules) -> bool:
    """The live value satisfies the declared one: equal, included (a subset attribute), or at or below
    it (an at-most limit)."""
    if same(wanted, have) or (key in rules.subset and _included(wanted, have)):
        return True
    return key in rules.at_most and isinstance(have, int) and isinstance(wanted, int) and have <= wanted


def _update_stake(resource: Resource, current: Live, rules: KindRules, trimmed: list[int],
                  live: Mapping[str, Live]) -> _Stake:
    """An update loses data when it trims (an at-most limit lowered) or lowers a limit the broker then
    enforces on what is held; lowering one on nothing held needs it to stay empty until applied."""
    stake = _Stake(messages=current.messages if rules.holds_data else None)
    if trimmed:
        stake.loses = True
        stake.messages = sum(trimmed)
        stake.reasons.append(
            f"loses data: {sum(trimmed):,} {plural(rules.unit, sum(trimmed))} (trimmed to max_length)")
    discarded = rules.discards(current.attributes, resource.attributes) if rules.discards else []
    if discarded and not stake.loses:
        held = _held(resource, current, live)
        stake.messages = held
        if held != 0:
            stake.loses = True
            stake.reasons.append(_messages_reason(held, rules.unit, "; ".join(discarded)))
        else:
            stake.needs_empty = True
    return stake


def _replace_stake(current: Live, rules: KindRules) -> _Stake:
    """A replace (delete, then create) loses whatever the object holds; when it holds nothing, it needs
    it to stay empty until applied."""
    stake = _Stake(messages=current.messages if rules.holds_data else None, reasons=["forces replacement"])
    if rules.holds_data and current.messages != 0:
        stake.loses = True
        stake.reasons.append(_messages_reason(current.messages, rules.unit))
    stake.needs_empty = rules.holds_data and not stake.loses
    return stake
