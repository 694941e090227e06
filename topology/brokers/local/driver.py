"""The embedded local target: a JSON state file that behaves like the brokers it stands for.

It keeps the same normalised state a live broker would report and refuses what a broker would
refuse: changing an immutable attribute in place, shrinking Kafka partitions, creating an object
whose parent is missing, or creating one that exists with other immutable attributes. Deleting a
queue, exchange, topic or stream takes its bindings, groups and subscriptions with it, as on the
brokers. It keeps a message count per data-holding resource, so the data-loss gates can be used.

The file is written atomically (a temporary file, fsync, rename) after each batch of changes and
locked against a concurrent apply, so an apply killed at any point leaves a readable state that a
re-run converges from. A state file that cannot be read, written or locked is a topology error
naming it (`_file_errors`), never an OSError.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from topology.brokers.base import ChangeResult, Driver, Live, Selection, refused_not_empty
from topology.brokers.registry import held_now, quantity, rules_for
from topology.core.resource import Resource
from topology.engine.plan import Change
from topology.errors import BrokerError, InputError, LockedError, TopologyError
from topology.format.common import STATE_FORMAT

__all__ = ["LocalDriver", "LocalState", "password_hash"]


def password_hash(password: str, salt: bytes | None = None) -> str:
    """RabbitMQ's scheme (rabbit_password_hashing_sha256): base64(salt + sha256(salt + password))."""
    salt = os.urandom(4) if salt is None else salt
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def _password_matches(password: str, stored: str) -> bool:
    raw = base64.b64decode(stored)
    return password_hash(password, raw[:4]) == stored


# ------------------------------------------------------------------------------------- errors
#
# The local target's one error boundary: whatever the file system refuses (an OSError) or a file
# that cannot be read as a state file (a ValueError: not UTF-8, not JSON, not base64) leaves
# `_file_errors(path, doing)` as the topology error `_FILE_ERRORS` names for what was being done,
# with the original chained for --debug.

_FILE_ERRORS: dict[str, tuple[type[TopologyError], str]] = {
    "read": (InputError, "{path} is not a topology state file ({exc}); move it away or fix it"),
    "write": (BrokerError, "{path} could not be written ({exc}); check that its folder exists and may be "
                           "written, and that the disk is not full"),
    "lock": (BrokerError, "{path} could not be locked ({exc}); check that its folder exists and may be written"),
}


@contextlib.contextmanager
def _file_errors(path: Path, doing: str) -> Iterator[None]:
    try:
        yield
    except TopologyError:
        raise
    except (OSError, ValueError) as exc:
        error, sentence = _FILE_ERRORS[doing]
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise error(sentence.format(path=path, exc=reason)) from exc


def _shape_problem(resources: Any) -> str | None:
    """What makes `resources` not the resources of a state file (None if nothing does)."""
    if not isinstance(resources, dict):
        return "its resources are not a mapping"
    return next((f"its entry {address} {problem}" for address, entry in resources.items()
                 if (problem := _entry_problem(entry))), None)


def _entry_problem(entry: Any) -> str | None:
    if not isinstance(entry, dict) or not isinstance(entry.get("kind"), str):
        return "has no kind"
    expected = {"attributes": dict, "secrets": dict, "depends_on": list, "messages": int | None,
                "name": str, "scope": str}
    wrong = [key for key, kind in expected.items() if key in entry and not isinstance(entry[key], kind)]
    if "attributes" not in entry or wrong:
        return f"has no {', '.join(wrong or ['attributes'])} of the right type"
    return None


class LocalState:
    """The state file: read, change in memory, write atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.resources: dict[str, dict[str, Any]] = {}
        with _file_errors(path, "read"):
            if not path.exists():
                return
            data = json.loads(path.read_text())
            if not isinstance(data, dict) or data.get("format_version") != STATE_FORMAT:
                raise InputError(f"{path} is not a topology state file of format version {STATE_FORMAT}")
            problem = _shape_problem(data.get("resources", {}))
            if problem:
                raise InputError(f"{path} is not a topology state file ({problem}); move it away or fix it")
            self.resources = data.get("resources", {})

    def write(self) -> None:
        with _file_errors(self.path, "write"):
            self._write()

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = json.dumps({"format_version": STATE_FORMAT, "resources": self.resources}, indent=1, sort_keys=True)
        fd, temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise


@contextlib.contextmanager
def _locked(path: Path, holder: str, wait: float) -> Iterator[None]:
    """flock on STATE.lock (the kernel frees it when the holder dies); the holder's name is written in it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a+") as lock:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    lock.seek(0)
                    other = lock.read().strip() or "another apply"
                    waited = f" after waiting {wait:g} s" if wait else ""
                    raise LockedError(f"{path} is locked by {other}{waited}; wait for that apply to finish, or "
                                      "re-run with --lock-timeout 5m to wait for it") from None
                time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
        try:
            lock.seek(0)
            lock.truncate()
            lock.write(holder)
            lock.flush()
            yield
        finally:
            lock.seek(0)
            lock.truncate()
            fcntl.flock(lock, fcntl.LOCK_UN)


class LocalDriver(Driver):

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock: contextlib.ExitStack | None = None
        self._writing = threading.Lock()

    def lock(self, holder: str = "", wait: float = 0.0) -> None:
        """Hold the state file's lock until close(): an apply calls this before reading."""
        if self._lock is None:
            stack = contextlib.ExitStack()
            with _file_errors(self.path, "lock"):
                stack.enter_context(_locked(self.path, holder, wait))
            self._lock = stack

    def close(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def inspect(self, selection: Selection) -> dict[str, Live]:
        live = _live(LocalState(self.path).resources)
        return {address: item for address, item in live.items() if selection.wants(address)}

    def secret_matches(self, desired: Resource, live: Live) -> bool:
        state = LocalState(self.path)
        stored = state.resources.get(desired.address, {}).get("secrets", {})
        with _file_errors(self.path, "read"):  # a stored hash that is not base64
            return all(key in stored and _password_matches(value.reveal(), stored[key])
                       for key, value in desired.secrets.items())

    def apply(self, changes: Sequence[Change], desired: Mapping[str, Resource]) -> list[ChangeResult]:
        with self._writing:  # two targets kept in one file run in parallel waves: one read-change-write at a time
            try:
                return self._apply(changes, desired)
            except TopologyError as exc:  # the state file could not be read or written: nothing was kept
                return [ChangeResult(c.address, False, str(exc)) for c in changes]

    def _apply(self, changes: Sequence[Change], desired: Mapping[str, Resource]) -> list[ChangeResult]:
        state = LocalState(self.path)
        results = []
        for change in changes:
            if (unstarted := self.unstarted(change)) is not None:
                results.append(unstarted)
                continue
            if change.needs_empty:  # planned as losing nothing: is that still so?
                held = held_now(change.kind, change.address, change.scope, change.after, _live(state.resources))
                if held != 0:
                    results.append(refused_not_empty(change, quantity(change.kind, held)))
                    continue
            try:
                _apply_one(state.resources, change, desired.get(change.address))
                results.append(ChangeResult(change.address, True))
            except BrokerError as exc:
                results.append(ChangeResult(change.address, False, str(exc)))
        state.write()
        return results


def _live(resources: Mapping[str, Mapping[str, Any]]) -> dict[str, Live]:
    """The state file as a broker would report it; a vhost holds what its queues hold."""
    inside: dict[str, dict[str, int | None]] = {}
    for entry in resources.values():
        if entry["kind"] == "rabbitmq.queue":
            inside.setdefault(entry.get("scope", ""), {})[entry.get("name", "")] = entry.get("messages", 0)
    live = {}
    for address, entry in resources.items():
        name = entry.get("name", address.rsplit("/", 1)[-1])
        messages, contents = entry.get("messages"), {}
        if entry["kind"] == "rabbitmq.vhost":
            contents = inside.get(name, {})
            counts = list(contents.values())
            messages = None if None in counts else sum(c or 0 for c in counts)
        live[address] = Live(kind=entry["kind"], attributes=entry["attributes"],
                             depends_on=tuple(entry.get("depends_on", ())), messages=messages,
                             name=name, scope=entry.get("scope", ""), contents=contents)
    return live


def _apply_one(resources: dict[str, dict[str, Any]], change: Change, desired: Resource | None) -> None:
    """Carry out one change on the state, refusing what the broker it stands for would refuse."""
    if change.action == "delete":
        _delete(resources, change.address)
        return
    assert change.after is not None
    current = resources.get(change.address)
    if change.action == "replace":
        _delete(resources, change.address)
        current = None
    missing = [d for d in change.depends_on if d not in resources and not _implicit(d)]
    if missing:
        raise BrokerError(f"{change.address}: {', '.join(missing)} does not exist")
    secrets = {key: password_hash(value.reveal()) for key, value in (desired.secrets if desired else {}).items()}
    if current is None:
        resources[change.address] = _created(change, secrets)
        return
    _refuse_update(change, current["attributes"])
    current["attributes"] = {**current["attributes"], **change.after}
    current["depends_on"] = list(change.depends_on)
    if secrets:
        current["secrets"] = secrets


def _created(change: Change, secrets: Mapping[str, str]) -> dict[str, Any]:
    """The state entry of a new object: no messages yet where it holds any."""
    assert change.after is not None
    entry: dict[str, Any] = {"kind": change.kind, "name": change.name, "scope": change.scope,
                             "attributes": dict(change.after), "depends_on": list(change.depends_on)}
    if rules_for(change.kind).holds_data:
        entry["messages"] = 0
    if secrets:
        entry["secrets"] = dict(secrets)
    return entry


def _refuse_update(change: Change, before: Mapping[str, Any]) -> None:
    """Raise what the broker would say to changing `before` into `change.after` in place, if anything."""
    rules = rules_for(change.kind)
    for key, value in (change.after or {}).items():
        if key in rules.create_only or before.get(key) == value:
            continue
        if key in rules.immutable and change.action == "create":
            raise BrokerError(f"{change.address} exists with {key}={before.get(key)!r}; it cannot be "
                              f"redeclared with {key}={value!r} (PRECONDITION_FAILED)")
        if key in rules.immutable:
            raise BrokerError(f"{change.address}: {key} is immutable; a change needs a replace")
        if key in rules.grow_only and isinstance(before.get(key), int) and value < before[key]:
            raise BrokerError(f"{change.address}: {key} can only grow ({before[key]} -> {value})")


def _implicit(address: str) -> bool:
    """Objects every broker has without being asked: `amq.*` exchanges, the `/` vhost."""
    return "/exchange/amq." in address or address == "rabbitmq/vhost//"


def _delete(resources: dict[str, dict[str, Any]], address: str) -> None:
    entry = resources.pop(address, None)
    if entry is None:
        return
    inside = f"rabbitmq/{address.removeprefix('rabbitmq/vhost/')}/" if entry["kind"] == "rabbitmq.vhost" else None
    for other, dependent in list(resources.items()):
        if other not in resources:
            continue
        if (inside and other.startswith(inside)) or (
                address in dependent.get("depends_on", ()) and rules_for(dependent["kind"]).hangs_off):
            _delete(resources, other)
