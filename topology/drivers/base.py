"""The interface every driver implements, and the plain data it exchanges with the engine.

A driver knows one broker. It reads live state in bulk (`inspect`) and carries out the changes of
a plan (`apply`), translating its client library's errors into topology's own at this boundary.
What is special about each kind of resource (immutable fields, data loss) lives in `kinds.py`, so
that one differ serves every broker.
"""

from __future__ import annotations

import fnmatch
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from topology.plan import Change
from topology.resources import Resource

__all__ = ["ChangeResult", "Driver", "Live", "Scope", "refused_not_empty"]


def refused_not_empty(change: Change, what: str) -> ChangeResult:
    """The one sentence for a change that was planned as losing nothing but would now lose `what`
    (e.g. "12 messages", "3 committed offsets", "messages (count unknown)")."""
    verb = {"delete": "delete", "replace": "replace"}.get(change.action, "change")
    return ChangeResult(change.address, False,
                        f"refused to {verb} it: it was empty when planned but now holds {what}; nothing was "
                        "changed. Run `topology plan` again (apply then needs --allow-data-loss) or drain it first")


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


@dataclass(frozen=True)
class Scope:
    """What to inspect: the declared addresses, and with `prune` everything the include globs match."""

    addresses: frozenset[str]
    prune: bool = False
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    containers: frozenset[str] = frozenset()  # vhosts (RabbitMQ) the declared resources live in
    measured: frozenset[str] = frozenset()  # declared with a size limit (Redis max_length): read their size

    def prunable(self, address: str) -> bool:
        return (self.prune and any(fnmatch.fnmatchcase(address, g) for g in self.include)
                and not any(fnmatch.fnmatchcase(address, g) for g in self.exclude))

    def wants(self, address: str) -> bool:
        return address in self.addresses or self.prunable(address)


@dataclass(frozen=True)
class ChangeResult:
    address: str
    ok: bool
    error: str | None = None


class Driver(ABC):
    """One broker target. Use as a context manager."""

    def __enter__(self) -> Driver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:  # noqa: B027 - drivers without connections need nothing here
        """Release connections."""

    @abstractmethod
    def inspect(self, scope: Scope) -> dict[str, Live]:
        """Live state of everything in `scope`, by address: read-only, in bulk."""

    @abstractmethod
    def apply(self, changes: Sequence[Change], desired: Mapping[str, Resource]) -> list[ChangeResult]:
        """Carry out `changes` (independent of each other) and report each one; idempotent.

        A change with `needs_empty` was planned as losing nothing: at the moment it is carried out
        the object must still hold nothing (no messages, unacknowledged ones included; no entries;
        no pending entries; no committed offsets), atomically where the broker can, else checked
        just before; when it holds something the change fails with `refused_not_empty(...)`."""

    def lock(self, holder: str, wait: float) -> None:  # noqa: B027 - no primitive: no lock
        """Take this target's apply lock, held until close(), and freed by the broker if this process
        dies. Waits up to `wait` seconds for another holder, then raises LockedError naming it.
        Drivers whose broker offers no fit primitive leave this as is (and the README says so)."""

    def secret_matches(self, desired: Resource, live: Live) -> bool:
        """Whether the live object already has `desired`'s secrets (a user's password, say)."""
        return True

    def count_messages(self, live: Mapping[str, Live]) -> dict[str, int | None]:
        """Exact message counts for these objects, asked just before a replace or delete is planned;
        drivers whose inspect already counts exactly need not override it."""
        return {address: item.messages for address, item in live.items()}
