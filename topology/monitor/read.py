"""One read of every watched object's health: each target's driver asked once, the targets in parallel.

A target that cannot be reached (or whose read fails) is not an error of the whole read: its watches
are reported with the reason, and the others are read as usual, so `status` still shows what it can
and the exporter says `topology_up 0` for that target only.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from topology.brokers.base import Driver
from topology.core.monitor import Reading, Row, Watch, evaluate
from topology.engine.targets import Connections
from topology.errors import TopologyError
from topology.format.common import DEFAULT_STATE
from topology.format.compile import Topology

__all__ = ["Health", "Reader"]


@dataclass(frozen=True)
class Health:
    """What one read found: the readings, the targets that could not be read (name -> one sentence), and
    the time each target took."""

    watches: Sequence[Watch]
    readings: list[Reading] = field(default_factory=list)
    errors: dict[str | None, str] = field(default_factory=dict)
    seconds: dict[str | None, float] = field(default_factory=dict)

    def rows(self) -> list[Row]:
        return evaluate(self.watches, self.readings, self.errors)


class Reader:
    """Reads the health of a compiled topology's watched objects, again and again (the exporter, --watch):
    drivers stay open between reads and a target whose driver failed is opened afresh next time."""

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
        import time

        health = Health(self.watches)

        def one(target: str | None) -> tuple[str | None, list[Reading] | str, float]:
            started = time.perf_counter()
            try:
                driver = self.drivers.get(target)
                if driver is None:
                    driver = self.drivers[target] = self.connections.driver(target or "local", self.topology, {})
                result: list[Reading] | str = driver.health(self.by_target[target])
            except TopologyError as exc:
                self._forget(target)
                result = str(exc)
            return target, result, time.perf_counter() - started

        with ThreadPoolExecutor(max_workers=max(1, min(len(self.by_target), 8))) as pool:
            for target, result, seconds in pool.map(one, list(self.by_target)):
                health.seconds[target] = seconds
                if isinstance(result, str):
                    health.errors[target] = result
                else:
                    health.readings.extend(result)
        return health

    def _forget(self, target: str | None) -> None:
        driver = self.drivers.pop(target, None)
        if driver is not None:
            with contextlib.suppress(TopologyError):
                driver.close()
