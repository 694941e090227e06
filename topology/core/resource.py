"""The normalised unit both sides of a diff share: one broker object with an address.

Desired resources come from expanding the topology files; live ones from a driver's
`inspect`. Attributes are plain JSON data in the broker's own units (milliseconds, bytes, the
x-arguments RabbitMQ stores), so the same differ serves every broker. Secrets (user passwords)
are kept apart in `secrets` and never rendered.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from topology.core.monitor import Declared
from topology.core.problems import Location
from topology.core.secrets import Secret

__all__ = ["Live", "Resource", "same"]

@dataclass(frozen=True, slots=True)
class Resource:
    kind: str  # e.g. "rabbitmq.queue", "kafka.topic", "sns.subscription"
    address: str  # e.g. "rabbitmq/shop/queue/billing"
    name: str  # the broker's name for it: "billing"; for bindings and ACLs, the address's last part
    scope: str  # what the name is unique within: the RabbitMQ vhost, the Redis stream of a group; else ""
    target: str | None  # a name under `targets:`; None is the embedded local target
    attributes: dict[str, Any]
    depends_on: tuple[str, ...] = ()
    protect: bool = False
    generated_by: str | None = None  # address of the resource whose dead_letter/retry made this one
    origin: Location | None = field(default=None, compare=False)
    path: tuple[str | int, ...] = field(default=(), compare=False)  # where in its file it was declared
    secrets: dict[str, Secret] = field(default_factory=dict, compare=False, repr=False)  # printed as ***
    # How it is watched (never part of what plan compares): its role (dead_letter, retry, work, group,
    # stream; None: not watched) and the limits of its own `monitor:`, before the role's defaults.
    role: str | None = field(default=None, compare=False)
    monitor: dict[str, Declared] = field(default_factory=dict, compare=False)

    @property
    def broker(self) -> str:
        return self.kind.split(".", 1)[0]


@dataclass(frozen=True)
class Live:
    """A resource as the broker reports it, normalised to the same attributes expansion produces."""

    kind: str
    attributes: dict[str, Any]
    depends_on: tuple[str, ...] = ()
    messages: int | None = None  # what it holds now (queues, topics, streams); None if unknown
    # For containers (a RabbitMQ vhost): what each object inside holds, by name (None: unknown).
    # Like `messages`, not part of the live digest: a saved plan is not stale because a queue filled,
    # the driver re-checks at the moment instead (Change.needs_empty).
    contents: Mapping[str, int | None] = field(default_factory=dict)
    name: str = ""  # as on Resource: the broker's name for it, and what that name is unique within
    scope: str = ""
    counted: bool = True  # False: `messages` and `contents` not read yet (Selection.counts, Driver.counted)


def same(left: Any, right: Any) -> bool:
    """Two attribute values are the same data (mappings in any key order): how the differ and the drivers'
    read-back checks compare. Equal as JSON: 1, 1.0 and true differ; a list and a tuple may be the same.

    Plain values are compared directly (a no-op plan compares every declared attribute of every object);
    anything else, as JSON text."""
    kind = type(left)
    if kind is type(right):
        if kind is str or kind is int or kind is bool or left is None:
            return bool(left == right)
        if kind is dict and left.keys() == right.keys() and all(type(key) is str for key in left):
            return all(same(value, right[key]) for key, value in left.items())
    if (kind is list or kind is tuple) and type(right) in (list, tuple):
        return len(left) == len(right) and all(map(same, left, right))
    return json.dumps(left, sort_keys=True) == json.dumps(right, sort_keys=True)
