"""Inspecting and planning: read each target's live state, diff it against the files, and count
exactly what a destructive change would lose before the plan says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from topology.core.problems import Problem
from topology.engine.diff import Diff, diff
from topology.engine.digest import live_digest, secrets_digest, source_digest
from topology.engine.order import order_changes
from topology.engine.plan import Change, Plan
from topology.engine.targets import Target
from topology.errors import ProblemsError
from topology.format.compile import Topology

__all__ = ["inspect", "make_plan"]


def inspect(targets: Mapping[str, Target]) -> dict[str, str]:
    """Read every target's live state (into the targets); returns the live digest per target."""
    digests = {}
    for target in targets.values():
        target.live = target.driver.inspect(target.selection)
        digests[target.name] = live_digest(target.live)
    return digests


def make_plan(topology: Topology, targets: Mapping[str, Target], *, files: Sequence[str] = (),
              environment: str | None = None, variables: Sequence[str] = ()) -> Plan:
    """Inspect the targets and diff each; raise ProblemsError for what the live state makes impossible.

    `files`, `environment` and the `variables`' names are recorded in the plan, for apply to read again."""
    digests = inspect(targets)
    changes: list[Change] = []
    problems: list[Problem] = []
    for target in targets.values():
        result = _counted(target)
        changes += result.changes
        problems += result.problems
    if problems:
        raise ProblemsError(problems)
    source = source_digest(topology)
    return Plan(source_digest=source, secrets_digest=secrets_digest(topology, source), live_digests=digests,
                files=tuple(files), environment=environment, variables=tuple(sorted(variables)),
                changes=tuple(order_changes(changes)))


def _counted(target: Target) -> Diff:
    """The target's diff; replacing or deleting something that holds messages: counted exactly first."""
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
    return diff(target.desired, live, target.selection, target.driver.secret_matches, target=target.name)
