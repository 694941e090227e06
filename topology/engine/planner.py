"""Inspecting and planning: read each target's live state, diff it against the files, and count
exactly what a destructive change would lose before the plan says so.

A plan never deletes or replaces, unless the files declare it, what the identity topology connects as needs
to keep working (its user, its permissions, the ACLs granting its principal: `Driver.own_access`): pruning it
would lock topology out halfway through the apply. Such a plan is refused, one problem per object. Apply of
a saved plan plans again (fresh.py), so the refusal holds there too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from topology.brokers.base import selects
from topology.core.collecting import cycles_collected_later
from topology.core.pool import reading_pool
from topology.core.problems import Location, Problem
from topology.engine.diff import Diff, diff
from topology.engine.digest import live_digest, secrets_digest, source_digest
from topology.engine.order import order_changes
from topology.engine.plan import Change, Plan
from topology.engine.targets import Target
from topology.errors import ProblemsError
from topology.format.compile import Topology

__all__ = ["inspect", "make_plan"]


def inspect(targets: Mapping[str, Target], inspected: Callable[[str], None] | None = None, *,
            parallelism: int = 10, counts: bool = True) -> dict[str, str]:
    """Read every target's live state (into the targets); returns the live digest per target. The targets
    are read at once, at most `parallelism` together (those kept in one state file share a driver, and
    are read one after another); `inspected` hears each target's name as its reading ends. A target that
    cannot be read ends it, the first in name order. Without `counts`, what objects hold may be left
    unknown (`Selection.counts`)."""
    by_driver: dict[int, list[Target]] = {}
    for target in targets.values():
        by_driver.setdefault(id(target.driver), []).append(target)

    def read(group: list[Target]) -> None:
        for target in group:
            target.live = target.driver.inspect(target.selection if counts else replace(target.selection, counts=False))
            if inspected is not None:
                inspected(target.name)

    with reading_pool(min(parallelism, len(by_driver))) as pool:
        for future in [pool.submit(read, group) for group in by_driver.values()]:
            future.result()
    return {name: live_digest(target.live) for name, target in targets.items()}


def make_plan(topology: Topology, targets: Mapping[str, Target], *, files: Sequence[str] = (),
              environment: str | None = None, variables: Sequence[str] = (),
              inspected: Callable[[str], None] | None = None, parallelism: int = 10) -> Plan:
    """Inspect the targets and diff each; raise ProblemsError for what the live state makes impossible.

    `files`, `environment` and the `variables`' names are recorded in the plan, for apply to read again."""
    with cycles_collected_later():
        return _planned(topology, targets, files, environment, variables, inspected, parallelism)


def _planned(topology: Topology, targets: Mapping[str, Target], files: Sequence[str], environment: str | None,
             variables: Sequence[str], inspected: Callable[[str], None] | None, parallelism: int) -> Plan:
    digests = inspect(targets, inspected, parallelism=parallelism, counts=False)
    changes: list[Change] = []
    problems: list[Problem] = []
    for target in targets.values():
        result = _counted(target)
        changes += result.changes
        problems += result.problems + _locking_out(target, result.changes, topology)
    if problems:
        raise ProblemsError(problems)
    source = source_digest(topology)
    return Plan(source_digest=source, secrets_digest=secrets_digest(topology, source), live_digests=digests,
                files=tuple(files), environment=environment, variables=tuple(sorted(variables)),
                changes=tuple(order_changes(changes)))


def _counted(target: Target) -> Diff:
    """The target's diff, planned again with what the changed objects hold where inspect left it unknown;
    replacing or deleting something that holds messages: counted exactly first."""
    result = _diff(target)
    if result.changes:
        live = target.driver.counted(target.live, result.changes)
        if live is not target.live:
            target.live = dict(live)
            result = _diff(target)
    losing = {c.address: target.live[c.address] for c in result.changes
              if (c.needs_empty or c.loses_data) and c.address in target.live}
    if not losing:
        return result
    for address, count in target.driver.count_messages(losing).items():
        target.live[address] = replace(target.live[address], messages=count)
    return _diff(target)


def _diff(target: Target) -> Diff:
    live = target.driver.comparable(target.desired, target.live)
    return diff(target.desired, live, target.selection, target.driver.secret_matches, target=target.name,
                declared=target.declared or None)


def _locking_out(target: Target, changes: Sequence[Change], topology: Topology) -> list[Problem]:
    """One problem per undeclared object the plan would delete or replace that the identity topology connects
    as needs (what the files declare is theirs to change)."""
    doomed = {c.address: c for c in changes if c.is_destructive and c.address not in target.desired}
    own = target.driver.own_access({a: target.live[a] for a in doomed if a in target.live}) if doomed else {}
    problems = []
    for address, what in sorted(own.items()):
        if address not in doomed:
            continue
        glob, location = _selected_by(address, topology)
        by = f"; `manage.include` selects it by `{glob}`" if glob else ""
        problems.append(Problem(
            f"the plan would {doomed[address].action} {what}, and so lock topology out of the rest of the "
            f"apply{by}", location, address, "declare it in the files to keep it, or add it to `manage.exclude`"))
    return problems


def _selected_by(address: str, topology: Topology) -> tuple[str | None, Location | None]:
    """The `manage.include` glob that selects `address`, and where a file declares it."""
    index = next((i for i, g in enumerate(topology.manage.include) if selects(g, address)), None)
    if index is None:
        return None, None
    for loaded in topology.files:
        if loaded.document is not None and "manage" in loaded.document.model_fields_set:
            return topology.manage.include[index], loaded.positions.at(("manage", "include", index))
    return topology.manage.include[index], None
