"""Plan and apply: compile the files, inspect each target, diff, and carry the plan out safely.

Apply never re-diffs: the plan is the instruction. Before applying a saved plan it re-reads the
files and re-inspects the live state only to check that neither changed since the plan was made.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from topology.brokers.base import ChangeResult, Driver, Selection
from topology.brokers.registry import broker, open_driver, open_state, rules_for
from topology.core.problems import Problem
from topology.core.resource import Live, Resource
from topology.engine.diff import Diff, diff, order_changes
from topology.engine.plan import Change, Plan, digest
from topology.errors import InputError, ProblemsError, lock_holder
from topology.format.common import DEFAULT_STATE, TargetSpec
from topology.format.compile import Topology, compile_topology
from topology.format.document import target_variable

__all__ = ["ApplyReport", "Engine", "source_digest"]



def source_digest(topology: Topology) -> str:
    """What the files ask for, secrets only by name: any change to it makes a plan stale."""
    return digest({
        "manage": topology.manage.model_dump(mode="json"),
        "resources": [[r.address, r.kind, r.target, r.attributes, r.depends_on, r.protect, sorted(r.secrets)]
                      for r in topology.resources.values()],
    })


def secrets_digest(topology: Topology, source: str) -> str:
    """The secrets' values, through scrypt (salted by the source digest), so a plan file can tell that a
    password changed without letting whoever reads it test guesses quickly; "" when there are none."""
    secrets = sorted((r.address, key, value.reveal()) for r in topology.resources.values()
                     for key, value in r.secrets.items())
    if not secrets:
        return ""
    salt = hashlib.sha256(f"topology secrets of {source}".encode()).digest()[:16]
    key = hashlib.scrypt(json.dumps(secrets).encode(), salt=salt, n=2**14, r=8, p=1, maxmem=64 << 20, dklen=32)
    return "scrypt:" + key.hex()


def _core(change: Change) -> tuple[Any, ...]:
    """What a change does (not what it was told about data): a saved plan must match a fresh one in this."""
    measured = rules_for(change.kind).at_most
    return (change.address, change.kind, change.target, change.action,
            _settings(change.kind, change.before) if change.before is not None else None, change.after,
            tuple(a for a in change.attributes if a.name not in measured), change.depends_on)


def _settings(kind: str, attributes: Mapping[str, Any]) -> dict[str, Any]:
    """An object's attributes without the ones that measure what it holds (a Redis stream's length stands
    in its `max_length`): like message counts, those change all the time and are re-checked instead."""
    measured = rules_for(kind).at_most
    return {k: v for k, v in attributes.items() if k not in measured} if measured else dict(attributes)


def live_digest(live: Mapping[str, Live]) -> str:
    return digest({address: [item.kind, _settings(item.kind, item.attributes)] for address, item in live.items()})


@dataclass
class ApplyReport:
    applied: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    not_attempted: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.not_attempted


@dataclass
class _Target:
    name: str
    driver: Driver
    desired: dict[str, Resource]
    selection: Selection
    live: dict[str, Live] = field(default_factory=dict)


class Engine:
    """One run of plan or apply over a set of files; a context manager that closes its drivers."""

    def __init__(self, files: Sequence[str], *, env: str | None = None, variables: Mapping[str, Any] | None = None,
                 state: Path | None = None, offline: bool = False, lock: bool = False,
                 environ: Mapping[str, str] | None = None, parallelism: int = 10,
                 target_urls: Mapping[str, str] | None = None, lock_wait: float = 0.0) -> None:
        self.files = list(files)
        self.env = env
        self.variables = dict(variables or {})
        self.state = state or Path(DEFAULT_STATE)
        self.offline = offline
        self.parallelism = parallelism
        self.target_urls = dict(target_urls or {})
        self.environ = os.environ if environ is None else environ
        self.topology = compile_topology(self.files, env=env, cli_vars=self.variables, environ=environ)
        self.topology.raise_for_errors()
        self.lock_wait = lock_wait
        self.targets: dict[str, _Target] = {}
        try:
            self._open_targets(lock)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close every driver (and so free every lock), whatever happens to the others."""
        closed: set[int] = set()
        for target in self.targets.values():
            if id(target.driver) not in closed:
                closed.add(id(target.driver))
                target.driver.close()

    # ------------------------------------------------------------------------------------ drivers

    def _open_targets(self, lock: bool) -> None:
        """Open a driver per target (into self.targets as they open, so a failure closes the ones before);
        with `lock`, take each target's apply lock, in name order so two applies cannot deadlock."""
        grouped: dict[str, dict[str, Resource]] = {}
        for address, resource in self.topology.resources.items():
            grouped.setdefault(resource.target or "local", {})[address] = resource
        if not grouped:
            grouped["local"] = {}
        drivers: dict[Path, Driver] = {}
        manage = self.topology.manage
        holder = lock_holder()
        locked: set[int] = set()
        for name, desired in sorted(grouped.items()):
            driver = self._driver(name, drivers)
            if lock and id(driver) not in locked:
                locked.add(id(driver))
                self.targets[name] = _Target(name, driver, desired, Selection(frozenset()))  # closed on failure
                driver.lock(holder, self.lock_wait)
            containers = frozenset({r.scope for r in desired.values() if rules_for(r.kind).in_container and r.scope} |
                                   {r.name for r in desired.values() if rules_for(r.kind).is_container})
            measured = frozenset(a for a, r in desired.items() if rules_for(r.kind).at_most & r.attributes.keys())
            selection = Selection(frozenset(desired), manage.prune, tuple(manage.include), tuple(manage.exclude),
                                  containers, measured)
            self.targets[name] = _Target(name, driver, desired, selection)

    def _driver(self, name: str, local: dict[Path, Driver]) -> Driver:
        path = self.state
        if name != "local" and not self.offline:
            target = self._with_override(name, self.topology.targets.get(name))
            if target is None:
                raise InputError(f"target `{name}` is not declared under `targets:`; declare it, or plan offline "
                                 "with --offline --state FILE")
            if target.kind != "local":
                return open_driver(target, name=name, parallelism=self.parallelism)
            path = Path(target.model_dump()["path"])
        key = path.resolve()  # every resource kept in one state file, however it is spelt, shares one driver
        if key not in local:
            local[key] = open_state(path)
        return local[key]

    def _with_override(self, name: str, target: TargetSpec | None) -> TargetSpec | None:
        """`--target NAME=URL`, else TOPOLOGY_TARGET_<NAME>, replaces the target's address."""
        url = self.target_urls.get(name) or self.environ.get(target_variable(name))
        if not url or target is None:
            return target
        return target.model_copy(update={broker(target.kind).address_field: url})

    # --------------------------------------------------------------------------------------- plan

    def inspect(self) -> dict[str, str]:
        """Read every target's live state; returns the live digest per target."""
        digests = {}
        for target in self.targets.values():
            target.live = target.driver.inspect(target.selection)
            digests[target.name] = live_digest(target.live)
        return digests

    def plan(self) -> Plan:
        digests = self.inspect()
        changes: list[Change] = []
        problems: list[Problem] = []
        for target in self.targets.values():
            result = self._diff(target)
            # Replacing or deleting something that holds messages: count them exactly before saying so.
            losing = {c.address: target.live[c.address] for c in result.changes
                      if (c.needs_empty or c.loses_data) and c.address in target.live}
            if losing:
                for address, count in target.driver.count_messages(losing).items():
                    target.live[address] = replace(target.live[address], messages=count)
                result = self._diff(target)
            changes += result.changes
            problems += result.problems
        if problems:
            raise ProblemsError(problems)
        source = source_digest(self.topology)
        return Plan(source_digest=source, secrets_digest=secrets_digest(self.topology, source), live_digests=digests,
                    files=tuple(self.files), environment=self.env, variables=tuple(sorted(self.variables)),
                    changes=tuple(order_changes(changes)))

    @staticmethod
    def _diff(target: _Target) -> Diff:
        return diff(target.desired, target.live, target.selection, target.driver.secret_matches, target=target.name)

    def check_fresh(self, plan: Plan) -> Plan:
        """Refuse a saved plan whose files, secrets or live state changed since it was made, or whose
        changes are not what the files and live state give (an edited plan file); return it with what
        it knows about data taken from the live state now, so an edit cannot switch a guard off."""
        source = source_digest(self.topology)
        if source != plan.source_digest:
            raise InputError("the topology files (or the variables they read) changed since this plan was made; "
                             "run `topology plan` again")
        if secrets_digest(self.topology, source) != plan.secrets_digest:
            raise InputError("the secrets (passwords) the files, environment or --var give are not the ones this "
                             "plan was made with; pass the same values, or run `topology plan` again")
        fresh = self.plan()
        for name, expected in plan.live_digests.items():
            if fresh.live_digests.get(name) != expected:
                raise InputError(f"the live state of target `{name}` changed since this plan was made "
                                 "(the plan is stale); run `topology plan` again")
        now = {c.address: c for c in fresh.changes}
        addresses = [c.address for c in plan.changes]
        if sorted(addresses) != sorted(now) or [_core(c) for c in plan.changes] != [_core(now[a]) for a in addresses]:
            raise InputError("this plan file's changes are not what the files and the live state give now (was it "
                             "edited, or did a stream's length cross its max_length?); run `topology plan` again")
        # Approved as losing nothing, but holding data now (or marked so by an edit): the driver re-checks.
        return plan.model_copy(update={"changes": tuple(
            c.model_copy(update={"needs_empty": c.needs_empty or now[c.address].needs_empty or (
                now[c.address].loses_data and not c.loses_data)}) for c in plan.changes)})

    # -------------------------------------------------------------------------------------- apply

    @staticmethod
    def check_gates(plan: Plan, *, allow_delete: bool, allow_data_loss: bool) -> None:
        """Refuse a plan that deletes without `allow_delete` or loses messages without `allow_data_loss`."""
        deletes = [c.address for c in plan.changes if c.action == "delete"]
        if deletes and not allow_delete:
            shown = ", ".join(deletes[:3]) + (", ..." if len(deletes) > 3 else "")
            count = f"{len(deletes)} resource{'' if len(deletes) == 1 else 's'}"
            raise InputError(f"the plan deletes {count} ({shown}); re-run with --allow-delete to let it")
        losing = [c for c in plan.changes if c.loses_data]
        if losing and not allow_data_loss:
            first = losing[0]
            loss = next((r for r in first.reasons if r.startswith("loses data")), "loses data")
            more = f" (and {len(losing) - 1} more)" if len(losing) > 1 else ""
            raise InputError(f"the plan loses data: {first.address} would be {first.action}d, losing "
                             f"{loss.removeprefix('loses data: ')}{more}; drain what it holds, or re-run with "
                             "--allow-data-loss")

    def apply(self, plan: Plan, *, parallelism: int = 10,
              progress: Callable[[Change, ChangeResult], None] | None = None, allow_delete: bool = False,
              allow_data_loss: bool = False,
              after_batch: Callable[[str, list[ChangeResult]], None] | None = None) -> ApplyReport:
        """Carry out `plan` in order, independent changes together; stop what depends on a failure.

        Deletes and data loss are refused unless allowed, here as on the command line. `progress` hears
        of each change, `after_batch` of each driver batch (a target's share of one wave) as it ends."""
        self.check_gates(plan, allow_delete=allow_delete, allow_data_loss=allow_data_loss)
        report = ApplyReport()
        by_address = {c.address: c for c in plan.changes}
        prerequisites = _prerequisites(plan.changes)
        done: set[str] = set()
        blocked: set[str] = set()
        pending = list(plan.changes)
        while pending:
            ready = [c for c in pending if prerequisites[c.address] <= done]
            stuck = [c for c in pending if prerequisites[c.address] & blocked]
            for change in stuck:
                blocked.add(change.address)
                report.not_attempted.append(change.address)
            if not ready:
                if not stuck:  # only possible with a cycle; never leave work silently undone
                    report.not_attempted += [c.address for c in pending if c not in stuck]
                    break
                pending = [c for c in pending if c not in stuck]
                continue
            batches: dict[str, list[Change]] = {}
            for change in ready:
                batches.setdefault(change.target, []).append(change)

            def run(target: str, batch: list[Change]) -> list[ChangeResult]:
                engine_target = self.targets[target]
                return engine_target.driver.apply(batch, engine_target.desired)

            with ThreadPoolExecutor(max_workers=max(1, min(parallelism, len(batches)))) as pool:
                futures = [(pool.submit(run, t, b), b) for t, b in sorted(batches.items())]
                for future, batch in futures:
                    try:
                        results = future.result()
                    except Exception as exc:  # a driver bug must not lose track of the plan
                        results = [ChangeResult(c.address, False, f"{type(exc).__name__}: {exc}") for c in batch]
                    if after_batch is not None:
                        after_batch(batch[0].target, results)
                    for result in results:
                        if result.ok:
                            done.add(result.address)
                            report.applied.append(result.address)
                        else:
                            blocked.add(result.address)
                            report.failed[result.address] = result.error or "failed"
                        if progress is not None:
                            progress(by_address[result.address], result)
            finished = {c.address for c in ready} | {c.address for c in stuck}
            pending = [c for c in pending if c.address not in finished]
        return report


def _prerequisites(changes: Iterable[Change]) -> dict[str, set[str]]:
    """What must be done before each change: its dependencies' changes; for a delete, every
    create/update/replace and the deletes of what depends on it."""
    changes = list(changes)
    forward = {c.address for c in changes if c.action != "delete"}
    dependents: dict[str, set[str]] = {}
    for change in changes:
        if change.action == "delete":
            for dependency in change.depends_on:
                dependents.setdefault(dependency, set()).add(change.address)
    result: dict[str, set[str]] = {}
    for change in changes:
        if change.action == "delete":
            result[change.address] = forward | (dependents.get(change.address, set()) - {change.address})
        else:
            result[change.address] = {d for d in change.depends_on if d in forward and d != change.address}
    return result
