"""The embedded local target: a state file standing in for any broker, following every kind's rules."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from topology.brokers.base import Broker
from topology.brokers.local import spec

if TYPE_CHECKING:
    from topology.brokers.base import Driver

__all__ = ["BROKER"]


def _open(target: Any, name: str, parallelism: int) -> Driver:
    from topology.brokers.local.driver import LocalDriver

    return LocalDriver(Path(target.path))


BROKER = Broker(name="local", target=spec.LocalTarget, address_field="path", open=_open)
