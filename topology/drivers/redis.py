"""The Redis Streams driver (redis-py): streams and their consumer groups, pipelined both ways.

Reads every declared stream in one round trip (XINFO GROUPS for all keys in one pipeline, XLEN
where `max_length` is declared);
with pruning, SCAN with TYPE stream under the managed prefixes. Writes each wave in one
pipeline: `XGROUP CREATE ... MKSTREAM` (BUSYGROUP is success; the start id matters only then),
XGROUP DESTROY, DEL, and `XTRIM MAXLEN =` for `max_length` (exact, so the next plan converges;
trimming deletes entries and is planned as data loss).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from topology.drivers.base import ChangeResult, Driver, Live, Scope
from topology.errors import BrokerError, BrokerUnavailable, redact_url
from topology.plan import Change
from topology.resources import Resource

__all__ = ["RedisDriver"]

_PROBE_GROUP = "topology-create"  # a group created and destroyed at once, to create an empty stream


class RedisDriver(Driver):
    name = "redis"

    def __init__(self, url: str) -> None:
        import redis

        self.where = redact_url(url)
        try:
            self.client = redis.Redis.from_url(url, decode_responses=True, socket_connect_timeout=5,
                                               socket_timeout=30)
            self.client.ping()
        except redis.AuthenticationError as exc:
            raise BrokerUnavailable(f"Redis at {self.where} refused the password (wrong password or user)") from exc
        except redis.ResponseError as exc:
            if "NOAUTH" in str(exc):
                raise BrokerUnavailable(f"Redis at {self.where} needs a password; put it in the URL "
                                        "(redis://:PASSWORD@host:port/db)") from exc
            raise BrokerError(f"Redis at {self.where}: {exc}") from exc
        except (redis.ConnectionError, redis.TimeoutError, ValueError) as exc:
            raise BrokerUnavailable(f"Redis at {self.where} is not reachable ({exc}); check the URL and that "
                                    "the server is running") from exc

    def close(self) -> None:
        self.client.close()

    # ---------------------------------------------------------------------------------- inspect

    def _prunable_keys(self, scope: Scope) -> set[str]:
        patterns = set()
        for glob in scope.include:
            if glob.startswith("redis/stream/"):
                patterns.add(glob.removeprefix("redis/stream/"))
            elif glob.startswith("redis/") or glob in ("*", "redis*"):
                patterns.add("*")
        keys: set[str] = set()
        for pattern in patterns:
            keys.update(self.client.scan_iter(match=pattern, count=1000, _type="stream"))
        return keys

    def inspect(self, scope: Scope) -> dict[str, Live]:
        import redis

        keys = {a.removeprefix("redis/stream/") for a in scope.addresses if a.startswith("redis/stream/")}
        keys |= {a.removeprefix("redis/group/").rsplit("/", 1)[0] for a in scope.addresses
                 if a.startswith("redis/group/")}
        if scope.prune:
            keys |= self._prunable_keys(scope)
        ordered = sorted(keys)
        # XINFO GROUPS says whether the key is a stream and lists its groups with their pending
        # counts; the length (XLEN) is read only where `max_length` is declared, and just before a
        # stream is deleted (count_messages).
        measured = {a.removeprefix("redis/stream/") for a in scope.measured if a.startswith("redis/stream/")}
        pipe = self.client.pipeline(transaction=False)
        for key in ordered:
            pipe.xinfo_groups(key)
            if key in measured:
                pipe.xlen(key)
        try:
            answers = iter(pipe.execute(raise_on_error=False))
        except redis.RedisError as exc:
            raise BrokerUnavailable(f"Redis at {self.where}: reading streams failed ({exc})") from exc
        live: dict[str, Live] = {}
        for key in ordered:
            groups = next(answers)
            length = next(answers) if key in measured else None
            if isinstance(groups, Exception) or isinstance(length, Exception):
                if "WRONGTYPE" in str(groups) + str(length):
                    raise BrokerError(f"Redis at {self.where}: key {key!r} holds a {self.client.type(key)!s}, not a "
                                      "stream; rename the stream in the file or move that key away")
                continue  # no such key
            attributes = {"max_length": int(length)} if length is not None else {}
            live[f"redis/stream/{key}"] = Live("redis.stream", attributes, messages=length, name=key)
            for group in groups:
                address = f"redis/group/{key}/{group['name']}"
                live[address] = Live("redis.group", {"stream": key}, (f"redis/stream/{key}",),
                                     messages=int(group.get("pending", 0)), name=group["name"], scope=key)
        return {address: item for address, item in live.items() if scope.wants(address)}

    def count_messages(self, live: Mapping[str, Live]) -> dict[str, int | None]:
        """Entries of streams about to be deleted (groups already carry their pending counts)."""
        counts: dict[str, int | None] = {a: item.messages for a, item in live.items()}
        streams = [a for a, item in live.items() if item.kind == "redis.stream"]
        pipe = self.client.pipeline(transaction=False)
        for address in streams:
            pipe.xlen(live[address].name)
        for address, length in zip(streams, pipe.execute(raise_on_error=False), strict=True):
            counts[address] = int(length) if isinstance(length, int) else None
        return counts

    # ------------------------------------------------------------------------------------ apply

    def apply(self, changes: Sequence[Change], desired: Mapping[str, Resource]) -> list[ChangeResult]:
        import redis

        pipe = self.client.pipeline(transaction=False)
        spans: list[tuple[Change, int]] = []
        for change in changes:
            before = len(pipe.command_stack)
            self._queue(pipe, change)
            spans.append((change, len(pipe.command_stack) - before))
        try:
            answers = pipe.execute(raise_on_error=False)
        except redis.RedisError as exc:
            return [ChangeResult(c.address, False, f"Redis at {self.where}: {exc}") for c in changes]
        results, position = [], 0
        for change, count in spans:
            errors = [a for a in answers[position:position + count]
                      if isinstance(a, Exception) and "BUSYGROUP" not in str(a)]
            position += count
            results.append(ChangeResult(change.address, not errors, str(errors[0]) if errors else None))
        return results

    def _queue(self, pipe: Any, change: Change) -> None:
        after = change.after or {}
        if change.kind == "redis.stream":
            key = change.name
            if change.action == "delete":
                pipe.delete(key)
            elif change.action == "create":
                pipe.xgroup_create(key, _PROBE_GROUP, id="$", mkstream=True)
                pipe.xgroup_destroy(key, _PROBE_GROUP)
                if "max_length" in after:
                    pipe.xtrim(key, maxlen=after["max_length"], approximate=False)
            elif "max_length" in after:
                pipe.xtrim(key, maxlen=after["max_length"], approximate=False)
        elif change.kind == "redis.group":
            key = change.scope
            if change.action in ("delete", "replace"):
                pipe.xgroup_destroy(key, change.name)
            if change.action in ("create", "replace"):
                pipe.xgroup_create(key, change.name, id=after.get("start", "$"), mkstream=True)
        else:
            raise BrokerError(f"the Redis driver does not manage {change.kind}")
