"""The freshness check of a saved plan: apply carries out a saved plan only if the files, the secrets
and the live state are what they were when it was made, and its changes are what they give now.

Apply never re-diffs: the plan is the instruction. It re-reads the files and re-inspects the live
state only to check that neither changed, and takes what it knows about data from the live state
now, so an edit of the plan file cannot switch a guard off.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Collection, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from topology.brokers.registry import rules_for
from topology.engine.digest import secrets_digest, settings, source_digest
from topology.engine.plan import Change, Plan, SourceFile, file_digest
from topology.errors import InputError
from topology.format.compile import Topology
from topology.format.load import DOCUMENT

__all__ = ["check_fresh", "inputs_of"]


def inputs_of(plan: Plan, *, env: str | None, variables: Collection[str], document: bool = False,
              plan_file: str | os.PathLike[str] | None = None) -> tuple[list[str], str | None]:
    """The files and environment to re-read for a saved `plan`, refusing what cannot match it: another
    environment, a variable missing (a plan keeps only their names), an in-memory document not given.

    A plan read from `plan_file` finds each file relative to itself (or where it was named when the plan
    was made, relative to the working directory), and only with the content it was made from."""
    if env is not None and env != plan.environment:
        raise InputError(f"this plan was made for environment {plan.environment or '(none)'!r}, not {env!r}; "
                         "apply it without --env, or plan again with --env")
    missing = sorted(set(plan.variables) - set(variables))
    if missing:
        raise InputError(f"this plan was made with {', '.join('--var ' + n for n in missing)}; a saved plan "
                         "keeps no variable values (one may be a secret): pass the same values again, with --var "
                         "or --var-file")
    if DOCUMENT in plan.files and not document:
        raise InputError("this plan was made from an in-memory document; apply it from Python with the same "
                         "document: topology.apply(plan, document=...)")
    if plan_file is None or not plan.sources:
        return list(plan.on_disk), plan.environment
    return [_located(named, source, plan_file) for named, source in zip(plan.on_disk, plan.sources, strict=True)], \
        plan.environment


def _located(named: str, source: SourceFile, plan_file: str | os.PathLike[str]) -> str:
    """Where the file a saved plan names is now: beside the plan as it was, or as it was named (relative to
    the working directory), whichever holds the content the plan was made from."""
    beside = os.path.normpath(os.path.join(os.path.dirname(os.fspath(plan_file)), *PurePosixPath(source.path).parts))
    candidates = list(dict.fromkeys((beside, named)))
    changed = None
    for candidate in candidates:
        try:
            content = Path(candidate).read_bytes()
        except OSError:
            continue
        if file_digest(content) == source.digest:
            return candidate
        changed = changed or candidate
    if changed is not None:
        raise InputError(f"{changed} changed since this plan was made (the plan is stale); run `topology plan` again")
    raise InputError(f"{source.path}, a file of the plan {os.fspath(plan_file)}, is not found (looked at "
                     f"{' and '.join(candidates)}); keep the plan where it was beside the topology files, "
                     "or run `topology plan` again")


def check_fresh(plan: Plan, topology: Topology, replan: Callable[[], Plan]) -> Plan:
    """Refuse a saved plan whose files, secrets or live state changed since it was made, or whose
    changes are not what the files and live state give (an edited plan file); return it with what
    it knows about data taken from the live state now (`replan` plans again, inspecting the targets)."""
    _check_sources(plan, topology)
    fresh = replan()
    _check_live(plan, fresh.live_digests)
    now = {c.address: c for c in fresh.changes}
    _check_changes(plan, now)
    # Approved as losing nothing, but holding data now (or marked so by an edit): the driver re-checks.
    return plan.model_copy(update={"changes": tuple(
        dataclasses.replace(c, needs_empty=_needs_empty(c, now[c.address])) for c in plan.changes)})


def _check_sources(plan: Plan, topology: Topology) -> None:
    source = source_digest(topology)
    if source != plan.source_digest:
        raise InputError("the topology files (or the variables they read) changed since this plan was made; "
                         "run `topology plan` again")
    if secrets_digest(topology, source) != plan.secrets_digest:
        raise InputError("the secrets (passwords) the files, environment or --var give are not the ones this "
                         "plan was made with; pass the same values, or run `topology plan` again")


def _check_live(plan: Plan, now: Mapping[str, str]) -> None:
    for name, expected in plan.live_digests.items():
        if now.get(name) != expected:
            raise InputError(f"the live state of target `{name}` changed since this plan was made "
                             "(the plan is stale); run `topology plan` again")


def _check_changes(plan: Plan, now: Mapping[str, Change]) -> None:
    addresses = [c.address for c in plan.changes]
    if sorted(addresses) != sorted(now) or [_core(c) for c in plan.changes] != [_core(now[a]) for a in addresses]:
        raise InputError("this plan file's changes are not what the files and the live state give now (was it "
                         "edited, or did a stream's length cross its max_length?); run `topology plan` again")


def _needs_empty(saved: Change, now: Change) -> bool:
    return saved.needs_empty or now.needs_empty or (now.loses_data and not saved.loses_data)


def _core(change: Change) -> tuple[Any, ...]:
    """What a change does (not what it was told about data): a saved plan must match a fresh one in this."""
    measured = rules_for(change.kind).at_most
    return (change.address, change.kind, change.target, change.action,
            settings(change.kind, change.before) if change.before is not None else None, change.after,
            tuple(a for a in change.attributes if a.name not in measured), change.depends_on)
