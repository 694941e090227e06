"""Live Redis streams and their groups back into a `redis:` section (`topology export --format yaml`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from topology.brokers.base import Driver
from topology.core.resource import Live

__all__ = ["export_redis", "export_target"]

def export_redis(live: Mapping[str, Live], target: str) -> dict[str, Any]:
    """Streams with their groups. A group's start id matters only at creation, so `$` is written."""
    streams: dict[str, dict[str, Any]] = {}
    for _address, item in sorted(live.items()):
        if item.kind == "redis.stream":
            streams.setdefault(item.name, {})
        elif item.kind == "redis.group":
            streams.setdefault(item.scope, {}).setdefault("groups", {})[item.name] = {"start": "$"}
    return {"redis": {"target": target, "streams": streams}}


def export_target(driver: Driver, reference: str) -> dict[str, Any]:
    return {"kind": "redis", "url": reference}
