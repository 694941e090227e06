"""The order of a plan's changes: what they depend on first, deletes last, ties by address, so the same
inputs always give the same plan."""

from __future__ import annotations

import heapq
from collections.abc import Callable

from topology.engine.plan import Change

__all__ = ["order_changes"]


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
