"""`topology render`: the fully expanded topology as YAML, secrets hidden."""

from __future__ import annotations

import re
from typing import Any

import yaml

from topology.core.monitor import LIMITS
from topology.core.units import format_duration
from topology.errors import redact_url
from topology.format.compile import Topology

__all__ = ["topology_yaml"]

_SECRET = re.compile(r"password|secret|jaas|token|key$", re.IGNORECASE)


def topology_yaml(topology: Topology, *, env: str | None) -> str:
    """The fully expanded topology: targets (passwords hidden) and every resource by address."""
    targets: dict[str, Any] = {}
    for name, target in sorted(topology.targets.items()):
        data = target.model_dump(exclude_none=True)
        for key in ("url", "endpoint_url", "amqp_url"):
            if isinstance(data.get(key), str):
                data[key] = redact_url(data[key])
        if isinstance(data.get("config"), dict):
            data["config"] = {k: "(sensitive)" if _SECRET.search(k) else v for k, v in data["config"].items()}
        targets[name] = data
    resources: dict[str, Any] = {}
    watched = {watch.address: watch for watch in topology.watches()}
    for address, resource in topology.resources.items():
        entry: dict[str, Any] = {"kind": resource.kind, "target": resource.target or "local"}
        if resource.generated_by:
            entry["generated_by"] = resource.generated_by
        if resource.protect:
            entry["protect"] = True
        entry["attributes"] = {**resource.attributes, **{key: "(sensitive)" for key in resource.secrets}}
        if resource.depends_on:
            entry["depends_on"] = list(resource.depends_on)
        watch = watched.get(address)
        if watch is not None:
            entry["monitor"] = {"role": watch.role, **{
                name: format_duration(declared.value) if LIMITS[name].duration else declared.value
                for name, declared in watch.limits.items()}}
        resources[address] = entry
    document: dict[str, Any] = {"version": 1}
    if env:
        document["environment"] = env
    if targets:
        document["targets"] = targets
    document["manage"] = topology.manage.model_dump()
    document["resources"] = resources
    if topology.expectations:
        document["expectations"] = [
            e.model_dump(exclude_none=True, exclude_defaults=True) for e in topology.expectations]
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, default_flow_style=False, width=120)
