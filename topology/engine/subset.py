"""A partial plan (`--only GLOB`, `--exclude GLOB`): which of the declared resources it covers.

Like Terraform's `-target`, a resource covered brings every resource it depends on (a binding its
exchange and queue), so what is planned can be applied; like its `-exclude`, a resource excluded takes
every resource that depends on it out too. Pruning, inside `manage:`, deletes only what the globs cover.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from topology.brokers.base import Subset, may_reach, selects
from topology.brokers.registry import rules_for
from topology.core.resource import Resource

__all__ = ["covered", "hanging_off", "may_touch", "unmatched"]


def covered(resources: Mapping[str, Resource], subset: Subset) -> dict[str, Resource]:
    """The resources a partial plan covers, in their order: those the globs select and what they depend on,
    less those excluded and what depends on them."""
    dependents: dict[str, set[str]] = {}
    for address, resource in resources.items():
        for needed in resource.depends_on:
            dependents.setdefault(needed, set()).add(address)
    excluded = _closure((a for a in resources if subset.excludes(a)), dependents)
    selected = (a for a in resources if a not in excluded and subset.covers(a))
    needs = {a: set(r.depends_on) for a, r in resources.items()}
    kept = _closure(selected, needs)
    return {a: r for a, r in resources.items() if a in kept}


def hanging_off(declared: Mapping[str, Resource], kept: Mapping[str, Resource]) -> set[str]:
    """What the files declare outside a partial plan that the broker deletes with an object in it (an
    exchange's bindings): read too, so a replace in the plan re-creates them."""
    return {a for a, r in declared.items()
            if a not in kept and rules_for(r.kind).hangs_off and any(d in kept for d in r.depends_on)}


def may_touch(subset: Subset, broker: str) -> bool:
    """Whether an `--only` glob may select something of `broker` (every one may, without `--only`)."""
    return not subset.only or any(may_reach(glob, f"{broker}/") for glob in subset.only)


def unmatched(subset: Subset, addresses: Iterable[str]) -> list[str]:
    """The `--only` and `--exclude` globs that select none of `addresses` (most likely misspelt)."""
    seen = list(addresses)
    return [g for g in (*subset.only, *subset.exclude) if not any(selects(g, a) for a in seen)]


def _closure(start: Iterable[str], edges: Mapping[str, set[str]]) -> set[str]:
    found: set[str] = set()
    stack = list(start)
    while stack:
        address = stack.pop()
        if address in found:
            continue
        found.add(address)
        stack.extend(edges.get(address, ()))
    return found
