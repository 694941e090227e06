"""Opening the targets of a run: one driver per target (one per state file for the embedded target),
each with the resources the files put there and what to inspect of it.

Opening is all or nothing: a target that fails to open, or whose lock cannot be taken, closes the
ones already opened (and so frees their locks) before the error goes on.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from topology.brokers.base import Driver, Selection, Subset
from topology.brokers.registry import broker, open_driver, open_state, rules_for
from topology.core.resource import Live, Resource
from topology.engine.subset import covered, hanging_off, may_touch
from topology.errors import InputError, ProblemsError, lock_holder
from topology.format.common import DEFAULT_STATE, TargetSpec
from topology.format.compile import Topology
from topology.format.document import Manage, target_variable
from topology.format.load import unset_in_target

__all__ = ["Connections", "Target", "close_targets", "open_targets", "selection_for"]


@dataclass
class Target:
    """A target as one run sees it: its driver, what the files want there, and (once inspected) what is."""

    name: str
    driver: Driver
    desired: dict[str, Resource]
    selection: Selection
    live: dict[str, Live] = field(default_factory=dict)
    declared: dict[str, Resource] = field(default_factory=dict)  # all the files give it (`desired`: a partial plan's)


@dataclass(frozen=True)
class Connections:
    """Where each target lives: the files' `targets:`, over which `--target NAME=URL` and then
    TOPOLOGY_TARGET_<NAME> win; offline, every target is the state file."""

    state: Path = Path(DEFAULT_STATE)
    offline: bool = False
    parallelism: int = 10
    target_urls: Mapping[str, str] = field(default_factory=dict)
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)

    def driver(self, name: str, topology: Topology, local: dict[Path, Driver]) -> Driver:
        """Open the driver of target `name`; every name kept in one state file shares one driver (`local`)."""
        path = self.state
        if name != "local" and not self.offline:
            target = self._with_override(name, topology.targets.get(name))
            if target is None:
                raise InputError(f"target `{name}` is not declared under `targets:`; declare it, or plan offline "
                                 "with --offline --state FILE")
            replaced = broker(target.kind).address_field if self._override(name) else None
            unset = unset_in_target(topology.files, name, replaced=replaced)
            if unset:  # its connection values need a variable not set: said where it is written
                raise ProblemsError(unset)
            if target.kind != "local":
                return open_driver(target, name=name, parallelism=self.parallelism)
            path = Path(cast(Any, target).path)  # a local target
        key = path.resolve()  # every resource kept in one state file, however it is spelt, shares one driver
        if key not in local:
            local[key] = open_state(path)
        return local[key]

    def _with_override(self, name: str, target: TargetSpec | None) -> TargetSpec | None:
        """`--target NAME=URL`, else TOPOLOGY_TARGET_<NAME>, replaces the target's address."""
        url = self._override(name)
        if not url or target is None:
            return target
        return target.model_copy(update={broker(target.kind).address_field: url})

    def _override(self, name: str) -> str | None:
        return self.target_urls.get(name) or self.environ.get(target_variable(name))


def open_targets(topology: Topology, connections: Connections, *, lock: bool = False,
                 lock_wait: float = 0.0, subset: Subset | None = None) -> dict[str, Target]:
    """A driver per target, by name; with `lock`, each target's apply lock taken, in name order so two
    applies cannot deadlock. On any failure the targets already opened are closed.

    A partial plan (`subset`) opens only the targets it may touch, each with the resources it covers."""
    targets: dict[str, Target] = {}
    shared: dict[Path, Driver] = {}
    holder = lock_holder() if lock else ""
    locked: set[int] = set()
    try:
        for name, declared in sorted(_by_target(topology).items()):
            desired = declared
            if subset is not None:
                desired = covered(declared, subset)
                if not desired and not any(may_touch(subset, r.broker) for r in declared.values()):
                    continue
            driver = connections.driver(name, topology, shared)
            targets[name] = Target(name, driver, desired, selection_for(desired, topology.manage, subset, declared),
                                   declared=declared)
            if lock and id(driver) not in locked:
                locked.add(id(driver))
                driver.lock(holder, lock_wait)
    except BaseException:
        close_targets(targets)
        raise
    return targets


def close_targets(targets: Mapping[str, Target]) -> None:
    """Close every driver (and so free every lock) once, whatever happens to the others."""
    closed: set[int] = set()
    for target in targets.values():
        if id(target.driver) not in closed:
            closed.add(id(target.driver))
            target.driver.close()


def _by_target(topology: Topology) -> dict[str, dict[str, Resource]]:
    """The desired resources grouped by target name; the embedded target when there are none."""
    grouped: dict[str, dict[str, Resource]] = {}
    for address, resource in topology.resources.items():
        grouped.setdefault(resource.target or "local", {})[address] = resource
    return grouped or {"local": {}}


def selection_for(desired: Mapping[str, Resource], manage: Manage, subset: Subset | None = None,
                  declared: Mapping[str, Resource] | None = None) -> Selection:
    """What to inspect of a target: the declared addresses, what `manage` prunes (within the `subset` of a
    partial plan, never what the files declare), the containers they live in and the ones declared with a
    size limit. A partial plan also reads what the broker would delete with the objects it covers."""
    declared = desired if declared is None else declared
    read = frozenset(desired) | frozenset(hanging_off(declared, desired)) if subset is not None else frozenset(desired)
    containers = frozenset({r.scope for r in desired.values() if rules_for(r.kind).in_container and r.scope} |
                           {r.name for r in desired.values() if rules_for(r.kind).is_container})
    measured = frozenset(a for a, r in desired.items() if rules_for(r.kind).at_most & r.attributes.keys())
    return Selection(read, manage.prune, tuple(manage.include), tuple(manage.exclude),
                     containers, measured, subset, {a: r.attributes for a, r in declared.items()})
