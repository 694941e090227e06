"""Applying a plan: the gates first (no delete, no data loss unless allowed), then waves over the
dependency graph, each target's share of a wave one driver batch, the batches of a wave at once.

A failed change stops only what depends on it; everything else is still applied, and the report
says what was applied, what failed and what was not attempted.

An interrupted apply (`stop` set: the first Ctrl-C) starts nothing new: the batches already running
finish (a driver starts no further change of its batch, but Redis, which sends a batch as one
pipeline), and the rest is reported as not attempted.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from topology.brokers.base import ChangeResult, Driver
from topology.engine.plan import Change, Plan
from topology.engine.targets import Target
from topology.errors import InputError

__all__ = ["ApplyReport", "apply_plan", "check_gates"]

Progress = Callable[[Change, ChangeResult], None]
AfterBatch = Callable[[str, list[ChangeResult]], None]


@dataclass
class ApplyReport:
    """What an apply did: applied, failed (address -> why) and not attempted (behind a failure)."""

    applied: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    not_attempted: list[str] = field(default_factory=list)
    interrupted: list[str] = field(default_factory=list)  # never started: the apply was interrupted first
    # The exception behind a failure a driver raised instead of reporting (a bug), with its traceback.
    exceptions: dict[str, BaseException] = field(default_factory=dict, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.not_attempted and not self.interrupted


def check_gates(plan: Plan, *, allow_delete: bool, allow_data_loss: bool) -> None:
    """Refuse a plan that deletes without `allow_delete` or loses messages without `allow_data_loss`."""
    if not allow_delete:
        _refuse_deletes(plan)
    if not allow_data_loss:
        _refuse_data_loss(plan)


def _refuse_deletes(plan: Plan) -> None:
    deletes = [c.address for c in plan.changes if c.action == "delete"]
    if deletes:
        shown = ", ".join(deletes[:3]) + (", ..." if len(deletes) > 3 else "")
        count = f"{len(deletes)} resource{'' if len(deletes) == 1 else 's'}"
        raise InputError(f"the plan deletes {count} ({shown}); re-run with --allow-delete to let it")


def _refuse_data_loss(plan: Plan) -> None:
    losing = [c for c in plan.changes if c.loses_data]
    if losing:
        first = losing[0]
        more = f" (and {len(losing) - 1} more)" if len(losing) > 1 else ""
        raise InputError(f"the plan loses data: {first.address} would be {first.action}d, losing "
                         f"{_loss(first)}{more}; drain what it holds, or re-run with --allow-data-loss")


def _loss(change: Change) -> str:
    """What `change` loses, in words: `3 messages`."""
    loss = next((r for r in change.reasons if r.startswith("loses data")), "loses data")
    return loss.removeprefix("loses data: ")


def apply_plan(plan: Plan, targets: Mapping[str, Target], *, parallelism: int = 10, progress: Progress | None = None,
               after_batch: AfterBatch | None = None, stop: threading.Event | None = None) -> ApplyReport:
    """Carry out `plan` (its gates already checked) in order, independent changes together, at most
    `parallelism` batches at once; stop what depends on a failure. `progress` hears of each change,
    `after_batch` of each driver batch (a target's share of one wave) as it ends. Once `stop` is set,
    nothing new starts."""
    stop = stop or threading.Event()
    for target in targets.values():
        target.driver.stopping = stop
    waves = _Waves(plan, _together(targets))
    while not stop.is_set() and (wave := waves.next()):
        for batch, reported in _run(wave, targets, parallelism, waves.report, stop):
            results = waves.behind_failures(reported)
            if after_batch is not None:
                after_batch(batch[0].target, results)
            waves.record(results, progress)
    if stop.is_set():
        waves.interrupt()
    return waves.report


def _together(targets: Mapping[str, Target]) -> Callable[[Change, Change], bool] | None:
    """Whether a change may join the wave of a prerequisite (`Driver.together`; None: no driver lets any)."""
    if all(type(t.driver).together is Driver.together for t in targets.values()):
        return None
    return lambda change, prerequisite: (change.target == prerequisite.target
                                         and targets[change.target].driver.together(change, prerequisite))


class _Waves:
    """The changes still to do, handed out a wave at a time: those whose prerequisites are done, and those
    whose driver carries them out together with the prerequisites left (`Driver.together`)."""

    def __init__(self, plan: Plan, together: Callable[[Change, Change], bool] | None = None) -> None:
        self.report = ApplyReport()
        self.by_address = {c.address: c for c in plan.changes}
        self.own, self.forward = _prerequisites(plan.changes)
        self.together = together
        self.done: set[str] = set()
        self.blocked: set[str] = set()
        self.pending = list(plan.changes)

    def prerequisites(self, address: str) -> set[str]:
        """Everything that must be done before the change at `address`."""
        own = self.own[address]
        return own | self.forward if self.by_address[address].action == "delete" else set(own)

    def _stuck(self) -> list[str]:
        """The pending changes that need something that failed or will not be attempted."""
        forward_blocked = not self.forward.isdisjoint(self.blocked)
        return [c.address for c in self.pending if not self.own[c.address].isdisjoint(self.blocked)
                or (forward_blocked and c.action == "delete")]

    def _joined(self, ready: list[Change], together: Callable[[Change, Change], bool]) -> list[Change]:
        """`ready` and the pending changes that may go in the same wave, each after the prerequisites it waits
        on (which are in the wave). A delete never joins: it waits for every other change anyway."""
        wave = {c.address for c in ready}
        joined: list[Change] = []
        candidates = [c for c in self.pending if c.action != "delete" and c.address not in wave]
        added = True
        while added and candidates:
            added, left = False, []
            for change in candidates:
                waiting = self.own[change.address] - self.done
                if waiting <= wave and all(together(change, self.by_address[p]) for p in waiting):
                    wave.add(change.address)
                    joined.append(change)
                    added = True
                else:
                    left.append(change)
            candidates = left
        return ready + joined

    def next(self) -> list[Change]:
        """The next wave; what waits on a failure is set aside as not attempted. Empty when all is done."""
        while self.pending:
            forward_done = self.forward <= self.done  # once per wave, not once per delete
            ready = [c for c in self.pending if self.own[c.address] <= self.done
                     and (forward_done or c.action != "delete")]
            if ready and self.together is not None:
                ready = self._joined(ready, self.together)
            stuck = self._stuck()
            self.blocked.update(stuck)
            self.report.not_attempted += stuck
            finished = set(stuck) | {c.address for c in ready}
            if not finished:  # only possible with a cycle; never leave work silently undone
                self.report.not_attempted += [c.address for c in self.pending]
                finished = {c.address for c in self.pending}
            self.pending = [c for c in self.pending if c.address not in finished]
            if ready:
                return ready
        return []

    def interrupt(self) -> None:
        """Set everything still to do aside: behind a failure, as not attempted; the rest, as never started."""
        while stuck := self._stuck():
            self.blocked.update(stuck)
            self.report.not_attempted += stuck
            self.pending = [c for c in self.pending if c.address not in self.blocked]
        self.report.interrupted += [c.address for c in self.pending]
        self.pending = []

    def record(self, results: Iterable[ChangeResult], progress: Progress | None) -> None:
        for result in results:
            if not result.started:  # neither done nor failed: what needs it waits for the interrupt's end
                self.report.interrupted.append(result.address)
                continue
            if result.ok:
                self.done.add(result.address)
                self.report.applied.append(result.address)
            else:
                self.blocked.add(result.address)
                self.report.failed[result.address] = result.error or "failed"
            if progress is not None:
                progress(self.by_address[result.address], result)

    def behind_failures(self, results: list[ChangeResult]) -> list[ChangeResult]:
        """A batch's results, where a change that needs another of the same batch (`Driver.together`) that
        failed or never started has failed, whatever its driver said: what depends on it is then not attempted.
        Only `own` prerequisites can be in the batch: every forward change is done before any delete starts."""
        unstarted = {r.address for r in results if not r.started}
        missing = unstarted | {r.address for r in results if not r.ok}
        grew = True
        while grew:
            grew = False
            for result in results:
                if result.address not in missing and self.own[result.address] & missing:
                    missing.add(result.address)
                    grew = True
        adjusted: list[ChangeResult] = []
        for result in results:
            needed = sorted(self.own[result.address] & missing) if result.started else []
            if not needed:
                adjusted.append(result)
                continue
            never = needed[0] in unstarted
            why = f"`{needed[0]}`, which it needs, {'was never started' if never else 'failed'}"
            again = "apply again" if never else "apply again once it is fixed"
            adjusted.append(ChangeResult(result.address, False, f"made all the same, but {why}; {again}"
                                         if result.ok else f"{result.error or 'failed'} ({why})"))
        return adjusted


def _run(wave: list[Change], targets: Mapping[str, Target], parallelism: int, report: ApplyReport,
         stop: threading.Event) -> Iterator[tuple[list[Change], list[ChangeResult]]]:
    """Run a wave as one batch per target, at most `parallelism` at once; each batch's results in
    target order, as it ends. A driver that raises fails its batch; the exception goes in `report`.
    A batch still waiting for a thread when `stop` is set never starts."""
    batches: dict[str, list[Change]] = {}
    for change in wave:
        batches.setdefault(change.target, []).append(change)
    with ThreadPoolExecutor(max_workers=max(1, min(parallelism, len(batches)))) as pool:
        futures = [(pool.submit(_apply_batch, targets[t], b, stop), b) for t, b in sorted(batches.items())]
        for future, batch in futures:
            yield batch, _results(future, batch, report)


def _apply_batch(target: Target, batch: list[Change], stop: threading.Event) -> list[ChangeResult]:
    if stop.is_set():
        return [ChangeResult(c.address, False, started=False) for c in batch]
    return target.driver.apply(batch, target.desired)


def _results(future: Future[list[ChangeResult]], batch: list[Change], report: ApplyReport) -> list[ChangeResult]:
    try:
        return future.result()
    except Exception as exc:  # a driver bug must not lose track of the plan; --debug shows its traceback
        report.exceptions.update((c.address, exc) for c in batch)
        return [ChangeResult(c.address, False, f"{type(exc).__name__}: {exc}") for c in batch]


def _prerequisites(changes: Iterable[Change]) -> tuple[dict[str, set[str]], frozenset[str]]:
    """What must be done before each change: its dependencies' changes; for a delete, the deletes of what
    depends on it and every create/update/replace. The latter is returned once, not copied into each
    delete's set: a plan that prunes 10,000 objects beside 20,000 creates would hold 200 million entries."""
    changes = list(changes)
    forward = frozenset(c.address for c in changes if c.action != "delete")
    dependents: dict[str, set[str]] = {}
    for change in changes:
        if change.action == "delete":
            for dependency in change.depends_on:
                dependents.setdefault(dependency, set()).add(change.address)
    own: dict[str, set[str]] = {}
    for change in changes:
        if change.action == "delete":
            own[change.address] = dependents.get(change.address, set()) - {change.address}
        else:
            own[change.address] = {d for d in change.depends_on if d in forward and d != change.address}
    return own, forward
