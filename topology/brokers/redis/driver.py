"""The Redis driver (redis-py): streams, their consumer groups and ACL users, pipelined both ways.

Reads every declared stream in one round trip (XINFO GROUPS for all keys, XLEN where `max_length` is
declared), and the consumers of groups that have some in a second; with pruning, SCAN with TYPE stream
under the managed prefixes. A group's live position is its last-delivered-id (and, on Redis 7, its
entries-read), which export writes as its `start`. Writes each wave as one batch of plain commands:
`XGROUP CREATE ... MKSTREAM` (BUSYGROUP is success; the start id matters only then), XGROUP DESTROY,
DEL, and `XTRIM MAXLEN` for `max_length` (exact, so the next plan converges; trimming deletes entries
and is planned as data loss). A group with ENTRIESREAD goes through a script that gives it only on a
stream that has had that many entries. Both directions go through `wire.exchange`: chunks of packed
commands on one connection, then their replies, without redis-py's per-command Pipeline layers (which
cost more than a local round trip); the scripts a wave runs are loaded (SCRIPT LOAD) ahead of it on the
same connection.

ACL users: ACL GETUSER for each (ACL USERS lists them when pruning), one ACL SETUSER that sets a user
whole, ACL DELUSER. Passwords are compared by their SHA-256, which Redis keeps and inspect holds
back from the live attributes; command rules by what they allow over the server's own command table
(`comparable`). The `default` user and the user topology connects as are never pruned.

A delete or replace planned as losing nothing (`Change.needs_empty`) runs as one Lua script, which
Redis executes atomically: it deletes the stream only if XLEN is 0, destroys the group only if it
has no pending entries, and otherwise changes nothing and returns what the object holds.

The apply lock is a string key, `LOCK_KEY`, set with `SET NX PX` (a lease) to the holder's text and
the CLIENT ID of a connection kept open for the lock's life; a background thread renews the lease
while it is held, each apply wave re-checks it, and close() deletes it only if it still holds our
value (a compare-and-delete script). A second apply polls it up to --lock-timeout; it frees the lock
at once if the holder's connection is gone from CLIENT LIST (the holder was killed), and otherwise a
holder that stopped renewing loses it when the lease runs out. SCAN with TYPE stream never lists the
key, so inspect, prune and export never see it.

Health (`health`, in health.py): XLEN and XINFO GROUPS of every watched stream and TIME in one pipeline,
and the first waiting entry of groups that are behind in a second; lag, pending, depth and lag in time.

The connection is opened (and pinged) by the first call that needs it, not by the constructor. It
has the target's connect and read timeouts and no retries, so a failure takes at most those; every
redis-py error passes through one boundary (`_errors`, over the table `_error_map()`) and leaves as
one sentence naming host:port, never the password.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import re
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from topology.brokers.base import ChangeResult, Driver, Live, Selection, glob_head, may_reach, refused_not_empty
from topology.brokers.redis.acl import CommandTable, Permission, setuser_arguments, user_attributes
from topology.brokers.redis.health import read_health
from topology.brokers.redis.wire import Command, exchange, pairs
from topology.brokers.registry import quantity
from topology.core.monitor import Reading, Watch
from topology.core.resource import Resource, same
from topology.core.secrets import BrokerURL, scrub
from topology.engine.plan import Change
from topology.errors import BrokerError, BrokerUnavailable, LockedError, TopologyError

__all__ = ["LOCK_KEY", "RedisDriver"]

_PROBE_GROUP = "topology-create"  # a group created and destroyed at once, to create an empty stream
LOCK_KEY = "topology:apply-lock"  # a string, so SCAN ... TYPE stream (inspect, prune, export) never lists it
LOCK_LEASE = 15.0  # seconds a killed apply keeps the lock; renewed every third of it while held
_LOCK_POLL = 0.5  # longest pause between two attempts to take a held lock

# KEYS[1] stream. Deletes it only if it has no entries; returns the entries it holds (0: deleted or gone).
_DELETE_STREAM_IF_EMPTY = """
local held = redis.call('XLEN', KEYS[1])
if held > 0 then return held end
redis.call('DEL', KEYS[1])
return 0
"""

# KEYS[1] stream, ARGV[1] group, ARGV[2] start id to re-create it at ('' for none). Destroys the group
# only if it has no pending entries; returns the pending entries it holds (0: done).
_DESTROY_GROUP_IF_NO_PENDING = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  for _, group in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
    local fields = {}
    for i = 1, #group, 2 do fields[group[i]] = group[i + 1] end
    if fields['name'] == ARGV[1] then
      if fields['pending'] > 0 then return fields['pending'] end
      redis.call('XGROUP', 'DESTROY', KEYS[1], ARGV[1])
    end
  end
end
if ARGV[2] ~= '' then redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[1], ARGV[2], 'MKSTREAM') end
return 0
"""

# KEYS[1] stream, ARGV[1] group, ARGV[2] start id, ARGV[3] entries read ('' for none). ENTRIESREAD counts
# this stream's entries: given only if the stream has had at least that many (Redis 7 reports
# entries-added), else the lag would be negative; a group that exists already is left as it is (BUSYGROUP).
_CREATE_GROUP = """
local args = {'XGROUP', 'CREATE', KEYS[1], ARGV[1], ARGV[2], 'MKSTREAM'}
if ARGV[3] ~= '' and redis.call('EXISTS', KEYS[1]) == 1 then
  local info = redis.call('XINFO', 'STREAM', KEYS[1])
  for i = 1, #info, 2 do
    if info[i] == 'entries-added' and info[i + 1] >= tonumber(ARGV[3]) then
      table.insert(args, 'ENTRIESREAD')
      table.insert(args, ARGV[3])
    end
  end
end
return redis.pcall(unpack(args))
"""

_RENEW_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""

_RELEASE_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _guarded(change: Change) -> bool:
    """A delete or replace planned as losing nothing: carried out by a script that re-checks that."""
    return change.needs_empty and change.is_destructive


def _seconds(value: float) -> str:
    return f"{value:g} s"


# ------------------------------------------------------------------------------------- errors
#
# The driver's one error boundary: every redis-py call runs inside `RedisDriver._errors(doing)`, and a
# client exception raised there leaves as the topology error of the first row of `_error_map()` it
# matches (with the original chained, for --debug); an error a pipeline answers with instead of
# raising is put in words by the same rows.


@dataclasses.dataclass(frozen=True)
class _Failure:
    """One redis-py error, and what its sentence may name (the password scrubbed from any text)."""

    exc: BaseException
    where: str
    doing: str
    tls: bool
    scrub: Callable[[str], str]

    @property
    def cause(self) -> BaseException | None:
        return self.exc.__context__ or self.exc.__cause__

    def timed_out(self) -> bool:
        import redis

        return isinstance(self.exc, redis.TimeoutError) or isinstance(self.cause, TimeoutError)

    def facts(self, connect: float, read: float) -> dict[str, Any]:
        cause = self.cause
        return {"where": self.where, "doing": self.doing, "connect": _seconds(connect), "read": _seconds(read),
                "accepted": "accepted the connection but " if self.doing == "connecting" else "",
                "text": self.scrub(str(self.exc)),
                "tls_reason": getattr(cause, "reason", None) or self.scrub(str(cause or self.exc)),
                "why": self.scrub(str(getattr(cause, "strerror", None) or cause or self.exc)).rstrip("."),
                "grant": f"access to the key {LOCK_KEY} (~{LOCK_KEY})" if "lock" in self.doing else "what it needs"}


_Row = tuple[tuple[type[BaseException], ...], Callable[[_Failure], bool] | None, type[BrokerError], str]


@functools.cache
def _error_map() -> tuple[_Row, ...]:
    """Client exception classes (first match wins), a further test, the topology error and its sentence."""
    import ssl

    import redis

    def is_or_says(kind: type[BaseException] | None, word: str) -> Callable[[_Failure], bool]:
        return lambda failure: (kind is not None and isinstance(failure.exc, kind)) or word in str(failure.exc)

    return (
        ((redis.RedisError,), is_or_says(redis.AuthenticationError, "WRONGPASS"), BrokerUnavailable,
         "Redis at {where} refused the user name or password; check the credentials in the target's URL "
         "(percent-encode reserved characters such as # / ? @ %)"),
        ((redis.RedisError,), is_or_says(None, "NOAUTH"), BrokerUnavailable,
         "Redis at {where} needs a password; put it in the URL (redis://:PASSWORD@host:port/db, percent-encoded)"),
        ((redis.RedisError,), lambda f: f.timed_out() and f.tls and "handshake" in str(f.cause), BrokerUnavailable,
         "Redis at {where} did not complete a TLS handshake within {read} while {doing}; if that port does not "
         "speak TLS, use redis:// instead of rediss://"),
        ((redis.RedisError,), lambda f: f.timed_out() and "connecting" in str(f.exc), BrokerUnavailable,
         "Redis at {where} did not accept a connection within {connect} while {doing}; check the host and port "
         "and any firewall in between, or raise the target's connect_timeout"),
        ((redis.RedisError,), _Failure.timed_out, BrokerUnavailable,
         "Redis at {where} {accepted}did not answer within {read} while {doing}; check that {where} is a Redis "
         "server and not overloaded, or raise the target's timeout"),
        ((redis.RedisError, OSError),
         lambda f: isinstance(f.cause, ssl.SSLError) or (f.tls and isinstance(f.exc, redis.ConnectionError | OSError)),
         BrokerUnavailable,
         "Redis at {where}: TLS failed while {doing} ({tls_reason}); check that the port speaks TLS (else use "
         "redis://) and that its certificate is trusted"),
        ((redis.ConnectionError, OSError), None, BrokerUnavailable,
         "Redis at {where} is not reachable ({why}) while {doing}; check the URL's host and port (rediss:// for a "
         "TLS port) and that the server is running"),
        ((redis.exceptions.InvalidResponse,), None, BrokerUnavailable,
         "Redis at {where} answered with something that is not Redis while {doing}; check that the URL names a "
         "Redis server's port"),
        ((redis.RedisError,), is_or_says(redis.exceptions.NoPermissionError, "NOPERM"), BrokerError,
         "Redis at {where} denied the user while {doing} ({text}); grant it {grant} with ACL SETUSER"),
        ((redis.RedisError,), None, BrokerError, "Redis at {where}: {doing} failed ({text})"),
    )


class RedisDriver(Driver):
    """Connects lazily: the first call that needs Redis opens the connection (and pings it)."""

    def __init__(self, url: BrokerURL, *, connect_timeout: float = 5.0, read_timeout: float = 30.0,
                 lock_lease: float = LOCK_LEASE) -> None:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        self.url = url
        self.where = url.netloc or url.path
        self.connect_timeout, self.read_timeout, self.lock_lease = connect_timeout, read_timeout, lock_lease
        self._lock_value: str | None = None
        self._lock_lost = threading.Event()
        self._stop_renewing = threading.Event()
        self._renewer: threading.Thread | None = None
        self._lock_client: Any = None
        self._cannot_list_clients = False
        if url.scheme in ("redis", "rediss") and not re.fullmatch(r"/?\d*", url.path):
            raise BrokerError(f"Redis at {self.where}: the URL's path must be the database number (/0 to /15 "
                              "usually); write redis://[user:password@]host:port/db")
        if url.query:
            raise BrokerError(f"Redis at {self.where}: topology does not read options from the URL's query; put "
                              "the database in the path (/2) and the timeouts in the target's connect_timeout and "
                              "timeout")
        try:  # no connection yet: redis-py connects on the first command
            self._redis = redis.Redis.from_url(url.reveal(), decode_responses=True,
                                               socket_connect_timeout=connect_timeout, socket_timeout=read_timeout,
                                               retry=Retry(NoBackoff(), 0))
        except (ValueError, TypeError) as exc:
            raise BrokerError(f"Redis at {self.where}: the URL is not a Redis URL ({self._scrub(str(exc))}); write "
                              "redis://[user:password@]host:port/db, or rediss:// for TLS") from exc
        self._scripts = {name: self._redis.register_script(text) for name, text in (
            ("delete_stream", _DELETE_STREAM_IF_EMPTY), ("destroy_group", _DESTROY_GROUP_IF_NO_PENDING),
            ("create_group", _CREATE_GROUP), ("renew", _RENEW_LOCK), ("release", _RELEASE_LOCK))}
        self._password_hashes: dict[str, frozenset[str]] = {}  # by user, as inspect read them; never printed
        self._whoami: str | None = None
        self._commands: CommandTable | None = None
        self._opening = threading.Lock()
        self._opened = False

    @property
    def client(self) -> Any:
        """The Redis client, its connection opened and pinged by the first call that needs it."""
        with self._opening:
            if not self._opened:
                with self._errors("connecting"):
                    self._redis.ping()
                self._opened = True
        return self._redis

    # ----------------------------------------------------------------------------------- errors

    def _scrub(self, text: str) -> str:
        """`text` with the password (as given and percent-encoded) replaced by ***."""
        return scrub(text, [self.url.password.reveal()] if self.url.password is not None else [])

    def _translated(self, exc: BaseException, doing: str) -> BrokerError | None:
        """The topology error for a redis-py error, by the first row of the map it matches; None for others."""
        failure = _Failure(exc, self.where, doing, self.url.scheme == "rediss", self._scrub)
        for classes, test, error, sentence in _error_map():
            if isinstance(exc, classes) and (test is None or test(failure)):
                return error(sentence.format_map(failure.facts(self.connect_timeout, self.read_timeout)))
        return None

    @contextlib.contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """The error boundary: a redis-py exception raised inside leaves as a topology error, chained."""
        try:
            yield
        except TopologyError:
            raise
        except Exception as exc:
            error = self._translated(exc, doing)
            if error is None:
                raise
            raise error from exc

    # ------------------------------------------------------------------------------------- lock

    def lock(self, holder: str, wait: float) -> None:
        """SET the lock key NX with a lease, from a connection of its own whose CLIENT ID is in the
        value; wait up to `wait` seconds for another holder to release it, to die (its connection
        gone from CLIENT LIST) or to stop renewing (its lease runs out)."""
        if self._lock_value is not None:
            return
        self.client  # noqa: B018 - connect first, so an unreachable Redis is said as such, not as a lock failure
        with self._errors("taking the apply lock"):
            value = self._take_lock(holder, wait)
        if value is None:
            return  # this process already holds it, for another target on the same database
        self._lock_value = value
        self._renewer = threading.Thread(target=self._renew_while_held, name="topology-redis-lock", daemon=True)
        self._renewer.start()

    def _take_lock(self, holder: str, wait: float) -> str | None:
        """The value this apply set the lock key to; None if this process held it already."""
        import redis

        deadline = time.monotonic() + wait
        self._lock_client = self._connect_lock_client()
        value = f"{holder} #{self._lock_client.client_id()}-{uuid.uuid4().hex[:12]}"
        try:
            while not self._lock_client.set(LOCK_KEY, value, nx=True, px=int(self.lock_lease * 1000)):
                other = self.client.get(LOCK_KEY)
                if other is None or self._freed_if_dead(str(other)):
                    continue  # released just now, or its holder is gone: try again at once
                other_holder = str(other).rsplit(" #", 1)[0]
                if other_holder == holder:
                    return None
                left = deadline - time.monotonic()
                if left <= 0:
                    raise self._locked(other_holder, wait)
                time.sleep(min(_LOCK_POLL, left))
        except redis.ResponseError as exc:
            if "WRONGTYPE" not in str(exc):
                raise
            raise BrokerError(f"Redis at {self.where}: the key {LOCK_KEY} is reserved for topology's apply lock "
                              f"but holds a {self.client.type(LOCK_KEY)!s}; rename or delete that key") from exc
        return value

    def _connect_lock_client(self) -> Any:
        """One connection kept for the lock's life: when this process dies, Redis drops it."""
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        return redis.Redis.from_url(self.url.reveal(), decode_responses=True, single_connection_client=True,
                                    socket_connect_timeout=self.connect_timeout, socket_timeout=self.read_timeout,
                                    retry=Retry(NoBackoff(), 0))

    def _freed_if_dead(self, value: str) -> bool:
        """Delete `value`'s lock if the connection that took it is gone (its process died); whether it did.
        Users without CLIENT LIST (an ACL without @admin) wait for the lease instead."""
        import redis

        client_id = value.rpartition(" #")[2].partition("-")[0]
        if not client_id.isdigit() or self._cannot_list_clients:
            return False
        try:
            if self.client.client_list(client_id=[int(client_id)]):
                return False
        except redis.ResponseError:
            self._cannot_list_clients = True
            return False
        return bool(self._scripts["release"](keys=[LOCK_KEY], args=[value]))

    def _locked(self, other: str, wait: float) -> LockedError:
        lease = int(self.client.pttl(LOCK_KEY))
        waited = f" after waiting {_seconds(wait)}" if wait else ""
        if lease == -1:  # set by hand, without an expiry: it never frees itself
            return LockedError(f"Redis at {self.where} is locked by {other!r}{waited}, and the key {LOCK_KEY} has no "
                               f"expiry, so it was not set by an apply; if no apply is running, delete it with "
                               f"`DEL {LOCK_KEY}`")
        return LockedError(f"Redis at {self.where} is locked by {other}{waited} (its lease ends in "
                           f"{max(0, lease) / 1000:.0f} s unless that apply renews it); wait for that apply to finish, "
                           "or re-run with --lock-timeout 5m to wait for it")

    def _renew_while_held(self) -> None:
        import redis

        lease_ms, value = int(self.lock_lease * 1000), str(self._lock_value)
        while not self._stop_renewing.wait(self.lock_lease / 3):
            try:
                if not self._scripts["renew"](keys=[LOCK_KEY], args=[value, lease_ms], client=self._lock_client):
                    self._lock_lost.set()
                    return
            except redis.RedisError:
                continue  # Redis is not answering now; the next wave's check notices a lapsed lease

    def _check_lock(self) -> str | None:
        """Before a wave of writes: None if this apply still holds the lock (lease renewed), else why not."""
        if self._lock_value is None:
            return None
        try:
            with self._errors("renewing the apply lock"):
                held = not self._lock_lost.is_set() and self._scripts["renew"](
                    keys=[LOCK_KEY], args=[self._lock_value, int(self.lock_lease * 1000)], client=self.client)
        except BrokerError as exc:
            return str(exc)
        if held:
            return None
        self._lock_lost.set()
        return (f"Redis at {self.where}: this apply lost its lock (its {_seconds(self.lock_lease)} lease ran out "
                "or its connection broke, and another apply may have taken it), so nothing more was changed; run "
                "`topology apply` again")

    def _release(self) -> None:
        import redis

        self._stop_renewing.set()
        if self._renewer is not None:
            self._renewer.join(self.read_timeout + 1)
        if self._lock_value is not None:
            with contextlib.suppress(redis.RedisError):  # else the lease runs out by itself
                self._scripts["release"](keys=[LOCK_KEY], args=[self._lock_value])
            self._lock_value = None
        if self._lock_client is not None:
            self._lock_client.close()
            self._lock_client = None

    def close(self) -> None:
        """Release the lock if held and close the connections, whether or not any was opened."""
        try:
            self._release()
        finally:
            self._redis.close()

    # ---------------------------------------------------------------------------------- inspect

    def _prunable_keys(self, selection: Selection) -> set[str]:
        """The stream keys SCAN finds under the include globs (`selection.wants` then matches them exactly)."""
        patterns = {p for p in (_scan_pattern(glob) for glob in selection.include) if p is not None}
        keys: set[str] = set()
        for pattern in patterns:
            keys.update(self.client.scan_iter(match=pattern, count=1000, _type="stream"))
        return keys

    def inspect(self, selection: Selection) -> dict[str, Live]:
        with self._errors("reading streams"):
            live = self._inspect(selection)
        with self._errors("reading ACL users"):
            live.update(self._inspect_users(selection))
        return live

    def _inspect(self, selection: Selection) -> dict[str, Live]:
        keys = {key for address in selection.addresses if (key := _stream_key(address)) is not None}
        if selection.prune:
            keys |= self._prunable_keys(selection)
        ordered = sorted(keys)
        # XINFO GROUPS says whether the key is a stream and lists its groups with their pending
        # counts; the length (XLEN) is read only where `max_length` is declared, and just before a
        # stream is deleted (count_messages).
        measured = {a.removeprefix("redis/stream/") for a in selection.measured if a.startswith("redis/stream/")}
        commands: list[Command] = []
        for key in ordered:
            commands.append(("XINFO", "GROUPS", key))
            if key in measured:
                commands.append(("XLEN", key))
        answers = iter(exchange(self.client, commands))
        found: dict[str, tuple[Sequence[Mapping[str, Any]], int | None]] = {}
        for key in ordered:
            groups = next(answers)
            length = next(answers) if key in measured else None
            if isinstance(groups, Exception) or isinstance(length, Exception):
                if "WRONGTYPE" in str(groups) + str(length):
                    raise BrokerError(f"Redis at {self.where}: key {key!r} holds a {self.client.type(key)!s}, not a "
                                      "stream; rename the stream in the file or move that key away")
                continue  # no such key
            found[key] = (pairs(groups), length)
        consumers = self._consumers({(key, str(group["name"])) for key, (groups, _) in found.items()
                                     for group in groups if group.get("consumers")})
        live: dict[str, Live] = {}
        for key, (groups, length) in found.items():
            live.update(_live_stream(key, groups, length, consumers))
        return {address: item for address, item in live.items() if selection.wants(address)}

    def _consumers(self, groups: set[tuple[str, str]]) -> dict[tuple[str, str], dict[str, int]]:
        """The consumers of these groups (stream, group) and the pending entries each holds, in one round trip."""
        ordered = sorted(groups)
        answers = exchange(self.client, [("XINFO", "CONSUMERS", key, group) for key, group in ordered])
        return {which: {str(c["name"]): int(c.get("pending", 0)) for c in pairs(answer)}
                for which, answer in zip(ordered, answers, strict=True) if not isinstance(answer, Exception)}

    # ------------------------------------------------------------------------------------ users

    def _inspect_users(self, selection: Selection) -> dict[str, Live]:
        """The declared users and, when pruning, every user the globs select (ACL USERS), by ACL GETUSER;
        their password hashes kept aside for secret_matches."""
        import redis

        names = {a.removeprefix("redis/user/") for a in selection.addresses if a.startswith("redis/user/")}
        if selection.prune and any(_may_match_users(g) for g in selection.include):
            try:
                listed = [str(u) for u in self.client.execute_command("ACL", "USERS")]
            except redis.ResponseError as exc:
                if not isinstance(exc, redis.exceptions.NoPermissionError) or names:
                    raise
                print(f"warning: Redis at {self.where}: the user topology connects as may not list ACL users "
                      "(ACL USERS), so users are left out; grant it +acl|users +acl|getuser to include them",
                      file=sys.stderr)
                listed = []
            names |= {u for u in listed if selection.prunable(f"redis/user/{u}")}
        if not names:
            return {}
        ordered = sorted(names)
        pipe = self.client.pipeline(transaction=False)
        pipe.execute_command("ACL", "WHOAMI")
        for name in ordered:
            pipe.execute_command("ACL", "GETUSER", name)
        whoami, *answers = pipe.execute()
        self._whoami = str(whoami)
        live: dict[str, Live] = {}
        for name, reply in zip(ordered, answers, strict=True):
            if not reply:
                continue  # no such user
            fields = reply if isinstance(reply, Mapping) else dict(zip(reply[::2], reply[1::2], strict=True))
            self._password_hashes[name] = frozenset(str(h) for h in fields.get("passwords", []) or [])
            live[f"redis/user/{name}"] = Live("redis.user", user_attributes(fields), name=name)
        return live

    def _kept(self, name: str) -> bool:
        """Never pruned: Redis's default user (it refuses to delete it), and the user this connection is."""
        return name in ("default", self._whoami)

    def _command_table(self) -> CommandTable:
        if self._commands is None:
            with self._errors("reading the command table (COMMAND)"):
                self._commands = CommandTable.from_reply(self.client.command())
        return self._commands

    def _allowed(self, rules: str) -> Permission | None:
        return self._command_table().allows(rules)

    def comparable(self, desired: Mapping[str, Resource], live: Mapping[str, Live]) -> Mapping[str, Live]:
        """Users' command rules (and selectors) that allow what the file's allow, in the file's words;
        undeclared users that are never pruned left out."""
        result = dict(live)
        for address, item in live.items():
            if item.kind != "redis.user":
                continue
            wanted = desired.get(address)
            if wanted is None:
                if self._kept(item.name):
                    del result[address]
                continue
            result[address] = dataclasses.replace(item, attributes=self._in_declared_words(wanted.attributes,
                                                                                          item.attributes))
        return result

    def _in_declared_words(self, wanted: Mapping[str, Any], have: Mapping[str, Any]) -> dict[str, Any]:
        attributes = dict(have)
        if not same(wanted["commands"], have["commands"]) and self._allowed(wanted["commands"]) is not None \
                and self._allowed(wanted["commands"]) == self._allowed(have["commands"]):
            attributes["commands"] = wanted["commands"]
        if not same(wanted["selectors"], have["selectors"]) and \
                self._selectors_allow(wanted["selectors"]) == self._selectors_allow(have["selectors"]):
            attributes["selectors"] = wanted["selectors"]
        return attributes

    def _selectors_allow(self, selectors: Sequence[Mapping[str, Any]]) -> Counter[Any] | None:
        """What each selector allows, in any order; None if one names a command this server does not know."""
        allowed = [(tuple(s["keys"]), tuple(s["channels"]), self._allowed(s["commands"])) for s in selectors]
        return None if any(a[2] is None for a in allowed) else Counter(allowed)

    def secret_matches(self, desired: Resource, live: Live) -> bool:
        """A user's passwords are the file's when their SHA-256 hashes (all Redis keeps) are the same."""
        if desired.kind != "redis.user":
            return True
        hashes = self._password_hashes.get(desired.name)
        return hashes is not None and hashes == frozenset(
            hashlib.sha256(p.reveal().encode()).hexdigest() for p in desired.secrets.values())

    def count_messages(self, live: Mapping[str, Live]) -> dict[str, int | None]:
        """Entries of streams about to be deleted (groups already carry their pending counts)."""
        counts: dict[str, int | None] = {a: item.messages for a, item in live.items()}
        streams = [a for a, item in live.items() if item.kind == "redis.stream"]
        with self._errors("counting entries"):
            answers = exchange(self.client, [("XLEN", live[address].name) for address in streams])
        for address, length in zip(streams, answers, strict=True):
            counts[address] = int(length) if isinstance(length, int) else None
        return counts

    # ----------------------------------------------------------------------------------- health

    def health(self, watches: Sequence[Watch]) -> list[Reading]:
        """Streams' lengths and their groups' lag, pending entries and lag in time (health.py), in one
        pipeline and, for groups with entries waiting, a second."""
        with self._errors("reading the health of streams and groups"):
            return read_health(self.client, watches)

    # ------------------------------------------------------------------------------------ apply

    def apply(self, changes: Sequence[Change], desired: Mapping[str, Resource]) -> list[ChangeResult]:
        """Every change of the wave as plain commands, sent together (`wire.exchange`: chunks of commands,
        then their replies), after one SCRIPT LOAD of each script the wave uses."""
        lost = self._check_lock()
        if lost is not None:
            return [ChangeResult(c.address, False, lost) for c in changes]
        refused = {c.address: why for c in changes if (why := self._refused(c)) is not None}
        spans: list[tuple[Change, int]] = []
        commands: list[Command] = []
        for change in changes:
            if change.address not in refused:
                queued = self._commands_for(change, desired)
                spans.append((change, len(queued)))
                commands += queued
        loads = self._script_loads(commands)
        try:
            with self._errors("applying changes"):
                answers = exchange(self.client, [*loads, *commands])
        except BrokerError as exc:
            return [ChangeResult(c.address, False, refused.get(c.address, str(exc))) for c in changes]
        unloaded = next((a for a in answers[:len(loads)] if isinstance(a, Exception)), None)
        results, position = {}, len(loads)
        for change, count in spans:
            replies = answers[position:position + count]
            position += count
            if unloaded is not None:  # the script's NOSCRIPT says less than why it was not loaded
                replies = [unloaded if _no_script(a) else a for a in replies]
            results[change.address] = self._result(change, replies, desired)
        return [results.get(c.address) or ChangeResult(c.address, False, refused[c.address]) for c in changes]

    def _script_loads(self, commands: Sequence[Command]) -> list[Command]:
        """SCRIPT LOAD of each script `commands` run (by EVALSHA), to send ahead of them on the same connection."""
        used = {command[1] for command in commands if command[0] == "EVALSHA"}
        return [("SCRIPT", "LOAD", script.script) for script in self._scripts.values() if script.sha in used]

    def _evalsha(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Command:
        return ("EVALSHA", self._scripts[name].sha, len(keys), *keys, *args)

    def _refused(self, change: Change) -> str | None:
        """Why a change to a user is never made, whatever the plan says: the default user and the user this
        connection is are never deleted, and the latter never turned off nor left without a way to log in
        (the file's check sees only the file's URL, not --target NAME=URL or TOPOLOGY_TARGET_<NAME>)."""
        if change.kind != "redis.user":
            return None
        if change.action == "delete" and self._kept(change.name):
            return f"Redis at {self.where}: topology never deletes the user {change.name!r}"
        after = change.after or {}
        if change.action == "delete" or change.name != self._whoami:
            return None
        if not after.get("enabled", True) or (after.get("passwords") == 0 and not after.get("nopass")):
            return (f"Redis at {self.where}: topology is connected as the user {change.name!r}, which this change "
                    "would turn off or leave without a password, locking topology out; connect as another user "
                    "(the target's URL) to change it")
        return None

    def _result(self, change: Change, replies: list[Any], desired: Mapping[str, Resource]) -> ChangeResult:
        errors = [a for a in replies if isinstance(a, Exception) and "BUSYGROUP" not in str(a)]
        if errors:
            error = self._translated(errors[0], f"changing {change.address}")
            resource = desired.get(change.address)
            secrets = [s.reveal() for s in resource.secrets.values()] if resource is not None else []
            return ChangeResult(change.address, False, scrub(
                str(error or f"Redis at {self.where}: {self._scrub(str(errors[0]))}"), secrets))
        if _guarded(change) and replies and isinstance(replies[0], int) and replies[0]:
            return refused_not_empty(change, quantity(change.kind, replies[0]))
        return ChangeResult(change.address, True)

    def _commands_for(self, change: Change, desired: Mapping[str, Resource]) -> list[Command]:
        """`change`'s commands; a guarded (needs_empty) delete or replace is one script."""
        if change.kind == "redis.stream":
            return self._stream_commands(change)
        if change.kind == "redis.group":
            return self._group_commands(change)
        if change.kind == "redis.user":
            return [self._user_command(change, desired)]
        raise BrokerError(f"the Redis driver does not manage {change.kind}")

    def _stream_commands(self, change: Change) -> list[Command]:
        key, after = change.name, change.after or {}
        if change.action == "delete":
            return [self._evalsha("delete_stream", [key], []) if _guarded(change) else ("DEL", key)]
        commands: list[Command] = []
        if change.action == "create":  # an empty stream: MKSTREAM by a group destroyed at once
            commands += [("XGROUP", "CREATE", key, _PROBE_GROUP, "$", "MKSTREAM"),
                         ("XGROUP", "DESTROY", key, _PROBE_GROUP)]
        if "max_length" in after:
            commands.append(("XTRIM", key, "MAXLEN", after["max_length"]))
        return commands

    def _group_commands(self, change: Change) -> list[Command]:
        """A group created at its start (BUSYGROUP: there already, success); ENTRIESREAD needs the script
        that checks the stream has had that many entries."""
        key, after = change.scope, change.after or {}
        if _guarded(change):
            start = after.get("start", "$") if change.action == "replace" else ""
            return [self._evalsha("destroy_group", [key], [change.name, start])]
        commands: list[Command] = []
        if change.action in ("delete", "replace"):
            commands.append(("XGROUP", "DESTROY", key, change.name))
        if change.action in ("create", "replace"):
            entries_read = after.get("entries_read")
            if entries_read is None:
                commands.append(("XGROUP", "CREATE", key, change.name, after.get("start", "$"), "MKSTREAM"))
            else:
                commands.append(self._evalsha("create_group", [key], [change.name, after.get("start", "$"),
                                                                       entries_read]))
        return commands

    def _user_command(self, change: Change, desired: Mapping[str, Resource]) -> Command:
        """One ACL SETUSER that sets the user whole (Redis applies all its rules or none), or ACL DELUSER."""
        if change.action == "delete":  # never the default user nor this connection's (`_refused`)
            return ("ACL", "DELUSER", change.name)
        after, before = change.after or {}, change.before or {}
        resource = desired.get(change.address)
        passwords = None
        if resource is not None and "passwords" in after:
            passwords = [resource.secrets[k].reveal() for k in sorted(resource.secrets, key=_index)]
        drop_nopass = bool(before.get("nopass")) and not after["nopass"]
        return ("ACL", "SETUSER", change.name, *setuser_arguments(after, passwords, drop_nopass=drop_nopass))


def _no_script(reply: Any) -> bool:
    import redis

    return isinstance(reply, redis.exceptions.NoScriptError)


_STREAM, _GROUP = "redis/stream/", "redis/group/"


def _scan_pattern(glob: str) -> str | None:
    """A SCAN MATCH pattern that finds every stream key whose stream or groups an address glob may match
    (None: it matches none). Address globs are fnmatch's (`[!x]`, a backslash is itself) and Redis's
    patterns differ, so only the glob's fixed beginning is passed, escaped."""
    fixed = glob_head(glob)
    if fixed.startswith(_STREAM):
        key = fixed.removeprefix(_STREAM)
        return _redis_escaped(key) if fixed == glob else _redis_escaped(key) + "*"
    if fixed.startswith(_GROUP):  # redis/group/<key>/<group>: the key runs at least to the first `/`
        return _redis_escaped(fixed.removeprefix(_GROUP).split("/", 1)[0]) + "*"
    return "*" if _STREAM.startswith(fixed) or _GROUP.startswith(fixed) else None


def _stream_key(address: str) -> str | None:
    """The stream key of a stream's or a group's address (`redis/group/<key>/<group>`); None for others."""
    if address.startswith(_STREAM):
        return address[len(_STREAM):]
    if address.startswith(_GROUP):
        return address[len(_GROUP):].rpartition("/")[0]
    return None


def _redis_escaped(text: str) -> str:
    """`text` matched literally by a Redis pattern."""
    return re.sub(r"([\\*?\[\]^])", r"\\\1", text)


def _may_match_users(glob: str) -> bool:
    """Whether an address glob may match some `redis/user/<name>`: its part before any wildcard is a
    prefix of that, or starts with it."""
    return may_reach(glob, "redis/user/")


def _index(secret: str) -> int:
    """The position of `passwords[3]` in its list."""
    return int(secret.rpartition("[")[2].rstrip("]"))


def _position(group: Mapping[str, Any]) -> dict[str, Any]:
    """Where a live group is, as a `start` a group re-created on the same entries would begin at: its
    last-delivered-id ("0" before anything was delivered), and its entries-read where Redis 7 knows it."""
    last = str(group.get("last-delivered-id", "0-0"))
    position: dict[str, Any] = {"start": "0" if last == "0-0" else last}
    entries_read = group.get("entries-read")
    if entries_read is not None and not (last == "0-0" and int(entries_read) == 0):
        position["entries_read"] = int(entries_read)
    return position


def _live_stream(key: str, groups: Sequence[Mapping[str, Any]], length: int | None,
                 consumers: Mapping[tuple[str, str], Mapping[str, int]]) -> dict[str, Live]:
    """A stream and its groups, as XINFO GROUPS (and XLEN, where read) answered; a group's consumers and
    the pending entries each holds are its contents."""
    attributes = {"max_length": int(length)} if length is not None else {}
    live = {f"redis/stream/{key}": Live("redis.stream", attributes, messages=length, name=key)}
    for group in groups:
        name = str(group["name"])
        live[f"redis/group/{key}/{name}"] = Live(
            "redis.group", {"stream": key, **_position(group)}, (f"redis/stream/{key}",),
            messages=int(group.get("pending", 0)), contents=dict(consumers.get((key, name), {})), name=name,
            scope=key)
    return live
