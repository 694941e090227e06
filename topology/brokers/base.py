"""The interface of a broker folder: the `Broker` each one exports, and the driver it opens.

A broker folder (`brokers/<name>/`) has the same modules in each: `spec` (its sections of the
file), `expand` (sections to primitive resources), `check` (rules needing the whole topology),
`kinds` (what the one differ must know of each kind), `driver` (the live broker), `export`
(live objects back to a file). Its `__init__` ties them into one `BROKER = Broker(...)`, and
`registry.py` lists the folders. Nothing outside `brokers/` imports a broker folder: the generic
layers reach them through the registry only.

A driver knows one broker. It reads live state in bulk (`inspect`) and carries out the changes of
a plan (`apply`), translating its client library's errors into topology's own at this boundary.
"""

from __future__ import annotations

import fnmatch
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Self

from topology.core.kinds import KindRules
from topology.core.monitor import Reading, Watch
from topology.core.resource import Live, Resource
from topology.engine.plan import Change

if TYPE_CHECKING:
    from topology.format.check import Checker
    from topology.format.common import TargetSpec
    from topology.format.document import Publish
    from topology.format.expand import Expansion
    from topology.format.load import LoadedFile

__all__ = ["Broker", "ChangeResult", "Driver", "Live", "NamingTemplate", "Section", "Selection", "Subset", "glob_head",
           "may_reach", "refused_not_empty", "selects"]


@dataclass(frozen=True)
class Section:
    """A top-level section of the topology file (`rabbitmq:`, `sqs:`): its model and its expansion."""

    key: str
    model: type[Any]
    description: str
    expand: Callable[[Expansion, Any], None]


@dataclass(frozen=True)
class NamingTemplate:
    """A `naming:` field: the template that names a generated object (a retry queue, a dead-letter topic)."""

    field: str
    default: str
    description: str = "Jinja2 template."


@dataclass(frozen=True)
class Broker:
    """Everything topology knows of one broker, exported by its folder as `BROKER`."""

    name: str  # the target kind, and the first part of its resources' kinds and addresses
    target: type[TargetSpec]  # its entry under `targets:`
    address_field: str  # the target field `--target NAME=URL` and TOPOLOGY_TARGET_<NAME> replace
    open: Callable[[Any, str, int], Driver]  # (target, its name, parallelism): a driver, its client imported now
    sections: tuple[Section, ...] = ()
    naming: tuple[NamingTemplate, ...] = ()
    kinds: Mapping[str, KindRules] = field(default_factory=dict)
    # Checks over the expanded, merged topology: per resource kind, then once over all of it.
    checks: Mapping[str, Callable[[Checker, Resource], None]] = field(default_factory=dict)
    check_all: Callable[[Checker], None] | None = None
    # Expectations (`topology test`): whether a publish is this broker's, what a declared one needs (it
    # returns the address prefix of the queues it may deliver to), and where it goes, statically or live.
    publishes: Callable[[Publish], bool] | None = None
    check_publish: Callable[[Checker, LoadedFile, tuple[str | int, ...], Publish], str] | None = None
    route: Callable[..., set[str]] | None = None
    # After every file is expanded and merged: what links resources across files (an SQS queue's policy
    # letting the SNS topics it is subscribed to send).
    link: Callable[[dict[str, Resource]], dict[str, Resource]] | None = None
    # `topology export --format yaml`: the file's sections for the live objects, and the target entry.
    export: Callable[[Mapping[str, Live], str], dict[str, Any]] | None = None
    export_target: Callable[[Driver, str], dict[str, Any]] | None = None
    target_from_url: Callable[[str], TargetSpec] | None = None  # `export --target NAME=URL`
    url_schemes: tuple[str, ...] = ()  # URLs that say which broker they are (`redis://`)
    # After merging: resources made from the watched objects (core/monitor.py; asked for by calling, so a
    # topology whose files want none is not watched at compile time) and the files, such as the
    # CloudWatch alarms of SQS queues' limits where a file asks for them.
    watched: Callable[[Callable[[], Sequence[Watch]], Sequence[LoadedFile]], list[Resource]] | None = None


def refused_not_empty(change: Change, what: str) -> ChangeResult:
    """The one sentence for a change that was planned as losing nothing but would now lose `what`
    (e.g. "12 messages", "3 committed offsets", "messages (count unknown)")."""
    verb = {"delete": "delete", "replace": "replace"}.get(change.action, "change")
    return ChangeResult(change.address, False,
                        f"refused to {verb} it: it was empty when planned but now holds {what}; nothing was "
                        "changed. Run `topology plan` again (apply then needs --allow-data-loss) or drain it first")


def glob_head(glob: str) -> str:
    """An address glob's literal beginning, up to its first wildcard (`*`, `?`, `[`)."""
    return re.split(r"[*?\[]", glob, maxsplit=1)[0]


def may_reach(glob: str, prefix: str) -> bool:
    """Whether `glob` may match some address that starts with `prefix`: unless its literal beginning rules
    that out. Drivers use it to skip reading what no glob can select (another team's vhost, ACLs)."""
    head = glob_head(glob)
    return head.startswith(prefix) or prefix.startswith(head)


@dataclass(frozen=True)
class Subset:
    """The addresses a partial plan covers: those matching an `--only` glob (every one, with none), less those
    matching an `--exclude` glob."""

    only: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def covers(self, address: str) -> bool:
        return (not self.only or any(selects(g, address) for g in self.only)) and not self.excludes(address)

    def excludes(self, address: str) -> bool:
        return any(selects(g, address) for g in self.exclude)


def selects(glob: str, address: str) -> bool:
    """Whether an address glob selects `address`: by fnmatch, or spelt out exactly (a binding's address
    holds `[routing key]`, which fnmatch reads as a set of characters)."""
    return glob == address or fnmatch.fnmatchcase(address, glob)


@dataclass(frozen=True)
class Selection:
    """What to inspect: the declared addresses, and with `prune` everything the include globs match."""

    addresses: frozenset[str]  # to read: what the plan covers (a partial plan's part, and what hangs off it)
    prune: bool = False
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    containers: frozenset[str] = frozenset()  # vhosts (RabbitMQ) the declared resources live in
    measured: frozenset[str] = frozenset()  # declared with a size limit (Redis max_length): read their size
    subset: Subset | None = None  # `--only`/`--exclude`: a partial plan prunes only within it
    # All the files declare on the target (a partial plan or not), each address with the attributes it
    # declares: never pruned, and a driver may skip reading what nothing compares (an SQS queue's tags when
    # the file names none). None: nothing is declared, and everything is read (export).
    declared: Mapping[str, Mapping[str, Any]] | None = None
    # Read what each object holds now. A plan asks for it only where it changes something (`Driver.counted`):
    # a driver may then leave counts that cost the broker much to work out unknown (RabbitMQ's queue statistics).
    counts: bool = True

    def managed(self, address: str) -> bool:
        """Whether `manage:` prunes the live object at `address` when the files do not declare it."""
        return (self.prune and address not in (self.declared or {})
                and any(selects(g, address) for g in self.include)
                and not any(selects(g, address) for g in self.exclude))

    def prunable(self, address: str, needs: Sequence[str] = ()) -> bool:
        """Whether a live object (which `needs` those addresses) may be deleted as undeclared: never what
        the files declare, nor, in a partial plan, what its globs leave out or what needs an excluded object."""
        return self.managed(address) and (self.subset is None or (
            self.subset.covers(address) and not any(self.subset.excludes(n) for n in needs)))

    def wants(self, address: str) -> bool:
        """Whether to read the live object at `address`: declared, or managed (a partial plan reads what it
        leaves alone too, so a glob that leaves something out is seen to select it)."""
        return address in self.addresses or self.managed(address)

    def reads(self, address: str, attribute: str) -> bool:
        """Whether `attribute` of the object at `address` must be read: it is compared, or all is read."""
        return self.declared is None or attribute in self.declared.get(address, {})


@dataclass(frozen=True)
class ChangeResult:
    address: str
    ok: bool
    error: str | None = None
    started: bool = True  # False: never started, the apply being interrupted first


_NEVER = threading.Event()  # the `stopping` of a driver no apply has given its own


class Driver(ABC):
    """One broker target. Use as a context manager."""

    stopping: threading.Event = _NEVER  # set by an interrupted apply: start no further change

    def unstarted(self, change: Change) -> ChangeResult | None:
        """The result of a change never started because the apply is being interrupted; None: go on."""
        return ChangeResult(change.address, False, started=False) if self.stopping.is_set() else None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:  # noqa: B027 - drivers without connections need nothing here
        """Release connections."""

    @abstractmethod
    def inspect(self, selection: Selection) -> dict[str, Live]:
        """Live state of everything in `scope`, by address: read-only, in bulk."""

    @abstractmethod
    def apply(self, changes: Sequence[Change], desired: Mapping[str, Resource]) -> list[ChangeResult]:
        """Carry out `changes` (independent of each other, but for those `together` lets into the batch
        after a change they depend on) and report each one; idempotent.

        A change with `needs_empty` was planned as losing nothing: at the moment it is carried out
        the object must still hold nothing (no messages, unacknowledged ones included; no entries;
        no pending entries; no committed offsets), atomically where the broker can, else checked
        just before; when it holds something the change fails with `refused_not_empty(...)`."""

    def counted(self, live: Mapping[str, Live], changes: Sequence[Change]) -> Mapping[str, Live]:
        """`live` (read with `Selection.counts` false) with what the objects `changes` act on hold, and all the
        counts planning them reads, as `inspect` with counts would have given them; `live` itself when it has
        them already (the default: drivers whose reads give counts at no extra cost)."""
        return live

    def together(self, change: Change, prerequisite: Change) -> bool:
        """Whether `change` may go in the same `apply` batch as `prerequisite`, which it depends on: this
        driver then carries them out in dependency order itself (RabbitMQ's definitions import orders
        exchanges, queues and bindings), saving a wave. Deletes are never offered. A `change` whose
        prerequisite fails then counts as failed, whatever the driver reports for it (engine/apply.py)."""
        return False

    def lock(self, holder: str, wait: float) -> None:  # noqa: B027 - no primitive: no lock
        """Take this target's apply lock, held until close(), and freed by the broker if this process
        dies. Waits up to `wait` seconds for another holder, then raises LockedError naming it.
        Drivers whose broker offers no fit primitive leave this as is (and the README says so)."""

    def secret_matches(self, desired: Resource, live: Live) -> bool:
        """Whether the live object already has `desired`'s secrets (a user's password, say)."""
        return True

    def comparable(self, desired: Mapping[str, Resource], live: Mapping[str, Live]) -> Mapping[str, Live]:
        """The live state as the differ should compare it with `desired`: a live value that means what the
        declared one says may be written in the file's words (Redis describes ACL rules in its own), and an
        object the broker or topology cannot do without may be left out when the files do not declare it,
        so pruning never plans it away (Redis's default user). Drivers whose broker keeps what it is given
        leave it as is."""
        return live

    def own_access(self, live: Mapping[str, Live]) -> dict[str, str]:
        """Of `live`, the objects the identity topology connects as needs to keep working (its user, its
        permissions, ACLs granting its principal), each with what it is in a few words ("the permission of
        user `ops` in vhost `shop`, whom topology connects as"). The planner refuses a plan that would
        delete or replace one the files do not declare: topology would lock itself out halfway through
        an apply. Drivers whose broker's access topology does not manage leave it as is."""
        return {}

    def health(self, watches: Sequence[Watch]) -> list[Reading]:
        """What each watched object holds now (core/monitor.py METRICS), read in bulk: one or more readings
        per watch (a Kafka group one per topic), `missing` where the object does not exist. Read-only.
        A broker's error is raised as topology's own (BrokerError), as everywhere at this boundary."""
        return [Reading(w.address, {}, notes=("this target holds no messages to measure",)) for w in watches]

    def count_messages(self, live: Mapping[str, Live]) -> dict[str, int | None]:
        """Exact message counts for these objects, asked just before a replace or delete is planned;
        drivers whose inspect already counts exactly need not override it."""
        return {address: item.messages for address, item in live.items()}
