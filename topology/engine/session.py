"""One run of plan or apply: compile the sources, open the targets, and hand them to each step.

The steps live in their own modules: opening targets (targets.py), inspecting and planning
(planner.py), the freshness check of a saved plan (fresh.py, with the digests of digest.py), and
applying (apply.py: the gates, then waves over the dependency graph). Engine holds what they share:
the compiled topology, the open targets and the one `parallelism`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from topology.brokers.base import Subset
from topology.engine.apply import AfterBatch, ApplyReport, Progress, apply_plan, check_gates
from topology.engine.fresh import check_fresh
from topology.engine.plan import Plan
from topology.engine.planner import inspect, make_plan
from topology.engine.subset import unmatched
from topology.engine.targets import Connections, Target, close_targets, open_targets
from topology.errors import InputError
from topology.format.common import DEFAULT_STATE
from topology.format.compile import compile_topology
from topology.format.load import DOCUMENT, InMemoryDocument

__all__ = ["Engine"]


class Engine:
    """One run of plan or apply over a set of files (and an in-memory `document`); a context manager
    that closes its drivers. `parallelism` bounds the driver batches run at once and each driver's own
    concurrent requests."""

    def __init__(self, files: Sequence[str] = (), *, document: InMemoryDocument | None = None, env: str | None = None,
                 variables: Mapping[str, Any] | None = None, state: Path | None = None, offline: bool = False,
                 lock: bool = False, environ: Mapping[str, str] | None = None, parallelism: int = 10,
                 target_urls: Mapping[str, str] | None = None, lock_wait: float = 0.0,
                 subset: Subset | None = None) -> None:
        self.files = list(files)
        self.sources = (*self.files, DOCUMENT) if document is not None else tuple(self.files)
        self.env = env
        self.variables = dict(variables or {})
        self.parallelism = parallelism
        self.topology = compile_topology(self.files, document=document, env=env, cli_vars=self.variables,
                                         environ=environ)
        self.topology.raise_for_errors()
        connections = Connections(state or Path(DEFAULT_STATE), offline, parallelism, dict(target_urls or {}),
                                  os.environ if environ is None else environ)
        if subset is not None and any(not glob.strip() for glob in (*subset.only, *subset.exclude)):
            raise InputError("--only and --exclude (only= and exclude=) take address globs, e.g. 'rabbitmq/shop/*'; "
                             "one is empty")
        self.subset = subset if subset is not None and (subset.only or subset.exclude) else None
        self.targets: dict[str, Target] = open_targets(self.topology, connections, lock=lock, lock_wait=lock_wait,
                                                       subset=self.subset)

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close every driver (and so free every lock), whatever happens to the others."""
        close_targets(self.targets)

    def inspect(self) -> dict[str, str]:
        """Read every target's live state; returns the live digest per target."""
        return inspect(self.targets, parallelism=self.parallelism)

    def plan(self, inspected: Callable[[str], None] | None = None) -> Plan:
        """Inspect the targets (`inspected` hears each one's name as its reading ends) and plan."""
        plan = make_plan(self.topology, self.targets, files=self.sources, environment=self.env,
                         variables=list(self.variables), inspected=inspected, parallelism=self.parallelism)
        if self.subset is None:
            return plan
        return plan.model_copy(update={"only": self.subset.only, "exclude": self.subset.exclude})

    def unmatched_globs(self) -> list[str]:
        """The `--only`/`--exclude` globs that select nothing declared or (once inspected) live."""
        if self.subset is None:
            return []
        live = (a for target in self.targets.values() for a in target.live)
        return unmatched(self.subset, [*self.topology.resources, *live])

    def check_fresh(self, plan: Plan, inspected: Callable[[str], None] | None = None) -> Plan:
        """Refuse a saved plan whose files, secrets or live state changed since it was made, or whose
        changes are not what the files and live state give (an edited plan file); return it with what
        it knows about data taken from the live state now, so an edit cannot switch a guard off."""
        return check_fresh(plan, self.topology, lambda: self.plan(inspected))

    check_gates = staticmethod(check_gates)

    def apply(self, plan: Plan, *, progress: Progress | None = None, allow_delete: bool = False,
              allow_data_loss: bool = False, after_batch: AfterBatch | None = None,
              stop: threading.Event | None = None) -> ApplyReport:
        """Carry out `plan` in order, independent changes together; stop what depends on a failure.

        Deletes and data loss are refused unless allowed, here as on the command line. `progress` hears
        of each change, `after_batch` of each driver batch (a target's share of one wave) as it ends. Once
        `stop` is set (a first Ctrl-C), nothing new starts; what runs finishes and the report says the rest."""
        check_gates(plan, allow_delete=allow_delete, allow_data_loss=allow_data_loss)
        return apply_plan(plan, self.targets, parallelism=self.parallelism, progress=progress,
                          after_batch=after_batch, stop=stop)
