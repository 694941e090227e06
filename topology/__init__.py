"""topology: plan and apply message-broker topologies (RabbitMQ, Kafka, SQS/SNS, Redis Streams) from YAML.

The Python API, the same steps as the command line:

    import topology

    shop = {"version": 1, "kafka": {"topics": {"orders": {"partitions": 3}}}}
    plan = topology.plan(document=shop)            # or topology.plan("shop.topology.yaml"), or a list of paths
    print(plan.summary())
    report = topology.apply(plan, document=shop)   # checked fresh against the same document first
    assert report.ok and topology.plan(document=shop).is_empty

Paths are given positionally (`str` or `os.PathLike`); an in-memory document only as `document=`,
a mapping or YAML text, whose problems are located at `<document>:line:col`. Errors are the ones
`topology.errors` describes: ProblemsError (located problems, `.problems`) for a bad topology,
InputError for what the gates refuse or a stale plan, BrokerError and its kinds for the brokers.

The package is imported by the `topology` command on every run, so this module stays tiny and
imports nothing heavy: the functions import what they need when called; Plan, ApplyReport and
Topology are loaded on first use; broker clients are imported by the drivers that need them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from topology.errors import (
    BrokerError,
    BrokerUnavailable,
    InputError,
    LockedError,
    ProblemsError,
    RoutingError,
    TopologyError,
)

if TYPE_CHECKING:
    from topology.brokers.base import ChangeResult, Subset
    from topology.engine.apply import ApplyReport
    from topology.engine.plan import Change, Plan
    from topology.engine.session import Engine
    from topology.format.compile import Topology
    from topology.format.load import InMemoryDocument

__version__ = "0.1.0"

__all__ = ["ApplyReport", "BrokerError", "BrokerUnavailable", "InputError", "LockedError", "Plan", "ProblemsError",
           "RoutingError", "Topology", "TopologyError", "__version__", "apply", "load", "plan"]

Paths = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]

_LAZY = {"ApplyReport": "topology.engine.apply", "Plan": "topology.engine.plan", "Topology": "topology.format.compile"}


def __getattr__(name: str) -> Any:
    """Plan, ApplyReport and Topology, imported when first asked for (they need pydantic)."""
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'topology' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def load(files: Paths = (), *, document: InMemoryDocument | None = None, env: str | None = None,
         variables: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Topology:
    """Read, expand and check the topology in `files` and `document`, without contacting a broker (what
    `topology validate` does). Returns it, its warnings in `.warnings`; raises ProblemsError on errors.

    `variables` are the --var values; `environ` is where ${VAR} and TOPOLOGY_TARGET_<NAME> are read
    (default os.environ)."""
    from topology.format.compile import compile_topology

    topology = compile_topology(_paths(files, document), document=document, env=env, cli_vars=dict(variables or {}),
                                environ=environ)
    topology.raise_for_errors()
    return topology


def plan(files: Paths = (), *, document: InMemoryDocument | None = None, env: str | None = None,
         variables: Mapping[str, Any] | None = None, state: str | os.PathLike[str] | None = None,
         offline: bool = False, targets: Mapping[str, str] | None = None,
         environ: Mapping[str, str] | None = None, only: Sequence[str] = (), exclude: Sequence[str] = ()) -> Plan:
    """Inspect the live targets and return what apply would change (`topology plan`).

    `targets` maps a target name to its URL (--target NAME=URL); `state` is the embedded target's
    file (default .topology/state.json); `offline` plans every target against it; `only` and `exclude`
    (address globs) make a partial plan, as --only and --exclude do."""
    with _engine(files, document, env, variables, state, offline=offline, targets=targets,
                 environ=environ, subset=_subset(only, exclude)) as engine:
        return engine.plan()


def apply(what: Plan | Paths = (), *, document: InMemoryDocument | None = None, env: str | None = None,
          variables: Mapping[str, Any] | None = None, state: str | os.PathLike[str] | None = None,
          targets: Mapping[str, str] | None = None, allow_delete: bool = False, allow_data_loss: bool = False,
          parallelism: int = 10, lock_timeout: float = 0.0, environ: Mapping[str, str] | None = None,
          progress: Callable[[Change, ChangeResult], None] | None = None, only: Sequence[str] = (),
          exclude: Sequence[str] = ()) -> ApplyReport:
    """Carry out a plan (`topology apply --auto-approve`): `what` is a Plan from `plan()`, checked fresh
    against the same sources (give the same `document=` again) and its own `only`/`exclude`, or paths to
    plan now (a partial plan with `only` or `exclude`).

    Refuses (InputError) a plan that deletes without `allow_delete`, loses messages without
    `allow_data_loss`, or is stale. Takes each target's lock, waiting up to `lock_timeout` seconds.
    Returns the ApplyReport; `report.ok` is False when a change failed or was not attempted."""
    from topology.engine.plan import Plan

    if not 1 <= parallelism <= 64:
        raise InputError(f"parallelism {parallelism} is out of range; give 1 to 64")
    saved = what if isinstance(what, Plan) else None
    files: Paths = what if not isinstance(what, Plan) else ()
    names = dict(variables or {})
    if saved is not None:
        from topology.engine.fresh import inputs_of

        files, env = inputs_of(saved, env=env, variables=names, document=document is not None)
        if only or exclude:
            raise InputError("a Plan keeps its own only/exclude; apply it without them, or plan again")
        only, exclude = saved.only, saved.exclude
    with _engine(files, document, env, names, state, lock=True, lock_wait=lock_timeout, targets=targets,
                 parallelism=parallelism, environ=environ, subset=_subset(only, exclude)) as engine:
        result = engine.check_fresh(saved) if saved is not None else engine.plan()
        return engine.apply(result, progress=progress, allow_delete=allow_delete, allow_data_loss=allow_data_loss)


def _engine(files: Paths, document: InMemoryDocument | None, env: str | None, variables: Mapping[str, Any] | None,
            state: str | os.PathLike[str] | None, *, targets: Mapping[str, str] | None,
            environ: Mapping[str, str] | None, **options: Any) -> Engine:
    from topology.engine.session import Engine

    return Engine(_paths(files, document), document=document, env=env, variables=variables,
                  state=Path(state) if state is not None else None, target_urls=targets, environ=environ, **options)


def _subset(only: Sequence[str], exclude: Sequence[str]) -> Subset | None:
    from topology.brokers.base import Subset

    if isinstance(only, str) or isinstance(exclude, str):
        raise InputError("only and exclude take a list of address globs, e.g. only=['rabbitmq/shop/*']")
    return Subset(tuple(only), tuple(exclude)) if only or exclude else None


def _paths(files: Paths, document: InMemoryDocument | None) -> list[str]:
    """`files` as a list of path strings. Refused: no topology at all, and YAML text where a path goes."""
    listed = [files] if isinstance(files, str | os.PathLike) else list(files)
    paths = [os.fspath(f) for f in listed]
    if not paths and document is None:
        raise InputError("no topology given: pass the paths of topology files, or a document=")
    if any("\n" in path for path in paths):
        raise InputError("a path holds a line break: is it YAML text? Pass that as document=...")
    return paths
