"""The health of watched Redis streams and their consumer groups, read in bulk.

One pipeline reads the server's clock (TIME) and, for every stream a watch names, XLEN and XINFO
GROUPS (Redis 7: each group's lag, entries-read, pending and last-delivered-id). A second round trip,
made only for groups with entries waiting, reads the first entry after each one's last-delivered-id
(`XRANGE key (last-delivered-id + COUNT 1`), whose id carries the millisecond it was added.

A stream's reading: `length` (XLEN). A group's: `lag` (entries after its last-delivered-id),
`pending` (delivered and not acknowledged), `depth` (lag + pending: what the group has not finished,
which a dead-letter stream's `dlq` group bounds with `max_depth`) and `lag_seconds` (the age of the
first entry it has not been delivered, against the server's clock; 0 when none waits).

Redis answers a nil lag when entries after the group's position were deleted (XDEL leaves tombstones
it cannot count past). For a group that has read nothing (at 0-0) the lag is then the stream's length;
otherwise it is counted by a script, up to `COUNT_LIMIT` entries; past that it is left out, with a
note, and so is the depth. Entry ids a producer chose (`XADD key 1-0`) are not times: the lag in time
is then left out, with a note. A stream's oldest entry is not read: a stream keeps
entries after every group has read them, so its age is how far back it keeps, not how long anything
has waited; the groups' `lag_seconds` say that.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from topology.core.monitor import Reading, Watch

__all__ = ["COUNT_LIMIT", "read_health"]

COUNT_LIMIT = 10000  # most entries counted one by one for a group whose lag Redis cannot tell
# An entry id's milliseconds before this (2000-01-01) are not the time it was added: the producer chose its
# ids (XADD key 1-0), so they say nothing of how long an entry has waited.
_FIRST_TIME_MS = 946_684_800_000

# KEYS[1] stream, ARGV[1] exclusive start ('(' + a group's last-delivered-id), ARGV[2] most to count.
# The entries after that id (at most ARGV[2]), counted inside Redis so none travels to the client.
_COUNT_AFTER = """
local count, start, most = 0, ARGV[1], tonumber(ARGV[2])
while count < most do
  local batch = redis.call('XRANGE', KEYS[1], start, '+', 'COUNT', math.min(500, most - count))
  if #batch == 0 then break end
  count = count + #batch
  start = '(' .. batch[#batch][1]
end
return count
"""

_STREAM_KINDS = ("redis.stream", "redis.group")


@dataclass
class _Group:
    """One watched group as XINFO GROUPS described it, and what the second round trip adds."""

    key: str
    name: str
    pending: int
    last: str  # last-delivered-id
    lag: int | None  # None: Redis could not tell
    first_waiting: str | None = None  # id of the first entry after `last`; None: nothing waits
    counted: int | None = None  # entries after `last`, counted where Redis could not tell the lag


def read_health(client: Any, watches: Sequence[Watch]) -> list[Reading]:
    """A reading of every watch, in the watches' order; redis-py's errors pass through to the caller."""
    keys = sorted({_key(w) for w in watches if w.kind in _STREAM_KINDS})
    pipe = client.pipeline(transaction=False)
    pipe.time()
    for key in keys:
        pipe.xlen(key)
        pipe.xinfo_groups(key)
    clock, *answers = pipe.execute(raise_on_error=False)
    if isinstance(clock, Exception):
        raise clock
    now = float(clock[0]) + float(clock[1]) / 1_000_000
    lengths: dict[str, int] = {}
    groups: dict[str, dict[str, Mapping[str, Any]]] = {}
    problems: dict[str, str] = {}
    for index, key in enumerate(keys):
        length, listed = answers[2 * index], answers[2 * index + 1]
        failed = next((a for a in (length, listed) if isinstance(a, Exception)), None)
        if failed is None:
            lengths[key] = int(length)
            groups[key] = {str(g["name"]): g for g in listed}
        elif "WRONGTYPE" in str(failed):
            problems[key] = f"the key {key!r} holds something other than a stream"
        elif "no such key" not in str(failed).lower():
            raise failed
    watched = {(w.scope, w.name): _group(w.scope, w.name, groups[w.scope][w.name]) for w in watches
               if w.kind == "redis.group" and w.name in groups.get(w.scope, {})}
    _read_waiting(client, [g for g in watched.values() if g.lag != 0])
    readings: list[Reading] = []
    for watch in watches:
        key = _key(watch)
        if watch.kind not in _STREAM_KINDS:
            readings.append(Reading(watch.address, {}, notes=(f"the Redis driver does not read {watch.kind}",)))
        elif key in problems:
            readings.append(Reading(watch.address, {}, notes=(problems[key],)))
        elif key not in lengths:
            readings.append(Reading(watch.address, {}, missing=True))
        elif watch.kind == "redis.stream":
            readings.append(Reading(watch.address, {"length": float(lengths[key])}))
        elif (key, watch.name) not in watched:
            readings.append(Reading(watch.address, {}, missing=True))
        else:
            readings.append(_group_reading(watch.address, watched[(key, watch.name)], now, lengths[key]))
    return readings


def _key(watch: Watch) -> str:
    """The stream a watch is about: the stream itself, or the stream a group reads."""
    return watch.name if watch.kind == "redis.stream" else watch.scope


def _group(key: str, name: str, info: Mapping[str, Any]) -> _Group:
    lag = info.get("lag")
    return _Group(key, name, int(info.get("pending") or 0), str(info.get("last-delivered-id") or "0-0"),
                  None if lag is None else int(lag))


def _read_waiting(client: Any, groups: Sequence[_Group]) -> None:
    """The first entry after each group's last-delivered-id, and, where Redis could not tell the lag, the
    entries after it, counted: one round trip for all of them."""
    from redis.client import NEVER_DECODE
    from redis.exceptions import NoPermissionError

    if not groups:
        return
    pipe = client.pipeline(transaction=False)
    for group in groups:
        # only its id is wanted, which is ASCII; its fields may be any bytes (protobuf, msgpack): left undecoded
        pipe.execute_command("XRANGE", group.key, f"({group.last}", "+", "COUNT", 1, **{NEVER_DECODE: True})
        if group.lag is None and group.last != "0-0":  # from 0-0 every entry waits: the lag is the length
            pipe.eval(_COUNT_AFTER, 1, group.key, f"({group.last}", COUNT_LIMIT + 1)
    answers = iter(pipe.execute(raise_on_error=False))
    for group in groups:
        first = next(answers)
        counted = next(answers) if group.lag is None and group.last != "0-0" else None
        # an id past which no id can be (18446744073709551615-18446744073709551615) has nothing after it
        if isinstance(first, Exception) and "invalid start ID" not in str(first):
            raise first
        if isinstance(first, list) and first:
            entry_id = first[0][0]
            group.first_waiting = entry_id.decode("ascii") if isinstance(entry_id, bytes) else str(entry_id)
        if isinstance(counted, int):
            group.counted = counted
        elif isinstance(counted, Exception) and not isinstance(counted, NoPermissionError):
            raise counted


def _group_reading(address: str, group: _Group, now: float, length: int) -> Reading:
    metrics: dict[str, float] = {"pending": float(group.pending)}
    notes: tuple[str, ...] = ()
    lag = group.lag if group.lag is not None else length if group.last == "0-0" else group.counted
    if group.first_waiting is None:
        lag = 0  # nothing after the group's last-delivered-id, whatever Redis's count said a moment before
    if lag is None:
        notes = ("Redis cannot tell the lag after entries were deleted (XDEL), and the user may not run the "
                 "script (EVAL) that counts them",)
    elif group.lag is None and group.last != "0-0" and lag > COUNT_LIMIT:
        notes = (f"Redis cannot tell the lag after entries were deleted (XDEL), and over {COUNT_LIMIT} entries "
                 "wait, more than topology counts",)
    else:
        metrics["lag"] = float(lag)
        metrics["depth"] = float(lag + group.pending)
    if group.first_waiting is None:
        metrics["lag_seconds"] = 0.0
    elif _millis(group.first_waiting) * 1000 < _FIRST_TIME_MS:
        notes += ("the lag in time is unknown: the stream's entry ids were chosen by its producer (XADD with an "
                  "explicit id), not the time each entry was added",)
    else:
        metrics["lag_seconds"] = max(0.0, now - _millis(group.first_waiting))
    return Reading(address, metrics, notes=notes)


def _millis(entry_id: str) -> float:
    """The time an entry id carries (its milliseconds part), in seconds since the epoch."""
    return int(entry_id.partition("-")[0]) / 1000
