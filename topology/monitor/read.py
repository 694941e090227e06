"""Reads of every watched object's health: each target's driver asked once per read, the targets in parallel.

A target that cannot be reached (or whose read fails) is not an error of the whole read: its watches
are reported with the reason, and the others are read as usual, so `status` still shows what it can
and the exporter says `topology_up 0` for that target only. Each target can also be read on its own
(`Reader.read_target`), which the exporter does so that a target that hangs holds back no other.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from topology.brokers.base import Driver
from topology.core.monitor import Reading, Row, Watch, evaluate
from topology.engine.targets import Connections
from topology.errors import TopologyError, redact_url
from topology.format.common import DEFAULT_STATE
from topology.format.compile import Topology

__all__ = ["Health", "Reader", "TargetRead"]


@dataclass(frozen=True)
class TargetRead:
    """One read of one target: its readings, or the one sentence saying why it could not be read; how long
    the read took, and when it finished (Unix time)."""

    target: str | None
    readings: tuple[Reading, ...] = ()
    error: str | None = None
    seconds: float = 0.0
    taken: float = 0.0

    @property
    def up(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class Health:
    """What one read found: the readings, the targets that could not be read (name -> one sentence), the
    time each target took, and when each target's read finished (Unix time)."""

    watches: Sequence[Watch]
    readings: list[Reading] = field(default_factory=list)
    errors: dict[str | None, str] = field(default_factory=dict)
    seconds: dict[str | None, float] = field(default_factory=dict)
    taken: dict[str | None, float] = field(default_factory=dict)

    def rows(self) -> list[Row]:
        return evaluate(self.watches, self.readings, self.errors)

    @classmethod
    def of(cls, watches: Sequence[Watch], reads: Iterable[TargetRead]) -> Health:
        """The health the reads of the targets make together."""
        health = cls(watches)
        for read in reads:
            health.seconds[read.target] = read.seconds
            health.taken[read.target] = read.taken
            if read.error is not None:
                health.errors[read.target] = read.error
            else:
                health.readings.extend(read.readings)
        return health


class Reader:
    """Reads the health of a compiled topology's watched objects, again and again (the exporter, --watch):
    drivers stay open between reads and a target whose driver failed is opened afresh next time.

    Different targets may be read at the same time (from different threads); one target is read by one
    thread at a time."""

    def __init__(self, topology: Topology, *, target_urls: Mapping[str, str] | None = None,
                 environ: Mapping[str, str] | None = None, parallelism: int = 10) -> None:
        self.topology = topology
        self.watches = topology.watches()
        self.by_target: dict[str | None, list[Watch]] = {}
        for watch in self.watches:
            self.by_target.setdefault(watch.target, []).append(watch)
        self.connections = Connections(Path(DEFAULT_STATE), False, parallelism, dict(target_urls or {}),
                                       os.environ if environ is None else environ)
        self.drivers: dict[str | None, Driver] = {}

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for target in list(self.drivers):
            self._forget(target)

    def read(self) -> Health:
        """Every target read, in parallel; returns once the slowest is done."""
        with ThreadPoolExecutor(max_workers=max(1, min(len(self.by_target), 8))) as pool:
            return Health.of(self.watches, pool.map(self.read_target, list(self.by_target)))

    def read_target(self, target: str | None) -> TargetRead:
        """One read of one target's watched objects (its driver opened first if need be). A target that
        cannot be read gives its reason and never raises; nor does a bug in a driver, which is said as one
        (URL passwords hidden) and leaves the other targets to be read."""
        started = time.perf_counter()
        try:
            driver = self.drivers.get(target)
            if driver is None:
                driver = self.drivers[target] = self.connections.driver(target or "local", self.topology, {})
            readings = tuple(driver.health(self.by_target[target]))
        except Exception as exc:
            self._forget(target)
            reason = str(exc) if isinstance(exc, TopologyError) else \
                f"topology failed unexpectedly ({type(exc).__name__}: {_redacted(str(exc))}); report it"
            return TargetRead(target, error=reason, seconds=time.perf_counter() - started, taken=time.time())
        return TargetRead(target, readings, seconds=time.perf_counter() - started, taken=time.time())

    def _forget(self, target: str | None) -> None:  # its driver closed; the next read opens it afresh
        driver = self.drivers.pop(target, None)
        if driver is not None:
            with contextlib.suppress(Exception):
                driver.close()


def _redacted(text: str) -> str:
    """`text` with the password of every URL in it hidden."""
    return re.sub(r"[A-Za-z][A-Za-z0-9+.-]*://\S+", lambda found: redact_url(found.group(0)), text)
