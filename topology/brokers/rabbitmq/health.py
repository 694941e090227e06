"""The health of watched RabbitMQ queues, read in bulk: one management API listing per vhost.

`GET /api/queues/{vhost}?columns=...` gives, for every queue of the vhost, its ready and unacknowledged
messages, its consumers and (classic queues) `head_message_timestamp`. A queue's reading:
- `depth`: messages_ready; `unacked`: messages_unacknowledged; `consumers`;
- `age_seconds`: now minus head_message_timestamp, the `timestamp` property of the queue's oldest message
  (set by its publisher, in whole seconds; the rabbitmq_message_timestamp plugin sets it on arrival). A queue
  with no ready message has age 0. RabbitMQ 3.10 reports it for classic queues only, and only when that
  message carries a timestamp and is in memory: a lazy queue (whose messages live on disk), a quorum queue
  and a stream report none. Its oldest message may be one delivered and not yet acknowledged. Where the age
  cannot be told it is left out and a note says why.

The figures are the broker's statistics, which it refreshes every `collect_statistics_interval` (5 s by
default): a message published or acknowledged a moment ago shows in the next refresh, so a reading is up to
that interval old (whoever waits for a figure polls with a deadline of a few intervals). A queue too new to
have statistics is counted by a passive declare over AMQP instead (ready messages and consumers, exact; its
unacknowledged messages and age unknown). A queue not in its vhost's listing, or in a vhost that does not
exist, is `missing`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from topology.core.monitor import Reading, Watch
from topology.core.pool import reading_pool
from topology.errors import BrokerError

__all__ = ["COLUMNS", "read_health"]

COLUMNS = ("name,type,state,node,arguments,effective_policy_definition,messages_ready,messages_unacknowledged,"
           "consumers,head_message_timestamp")

# A queue in one of these states is not being served: its statistics, if any, are stale.
_NOT_SERVING = ("down", "crashed", "stopped", "terminated")

Listing = Callable[[str], Sequence[Mapping[str, Any]] | None]  # vhost -> its queues; None: no such vhost
Counting = Callable[[str, Sequence[str]], Mapping[str, tuple[int, int]]]  # -> (ready, consumers) by queue


def read_health(watches: Sequence[Watch], listing: Listing, counting: Counting | None = None, *,
                parallelism: int = 10, now: Callable[[], float] = time.time) -> list[Reading]:
    """One reading per watch: each vhost's queues listed once (vhosts `parallelism` at a time). `counting`
    counts queues the listing has no statistics for yet; without it (or if it fails) they are unknown."""
    queues = [w for w in watches if w.kind == "rabbitmq.queue"]
    vhosts = sorted({w.scope for w in queues})
    with reading_pool(max(1, min(parallelism, len(vhosts)))) as pool:
        listed = {vhost: _by_name(found) for vhost, found in zip(vhosts, pool.map(listing, vhosts), strict=True)}
    new: dict[str, list[str]] = {}
    for watch in queues:
        found = listed[watch.scope].get(watch.name)
        if found is not None and _unmeasured(found) and _state_note(found) is None:
            new.setdefault(watch.scope, []).append(watch.name)
    counted = _count(new, counting)
    at = now()
    readings: list[Reading] = []
    for watch in watches:
        if watch.kind != "rabbitmq.queue":
            readings.append(Reading(watch.address, {}, notes=(f"RabbitMQ holds no {watch.kind}",)))
            continue
        found = listed[watch.scope].get(watch.name)
        if found is None:
            readings.append(Reading(watch.address, {}, missing=True))
        elif _unmeasured(found):
            readings.append(_new_queue(watch, found, counted.get((watch.scope, watch.name))))
        else:
            readings.append(_reading(watch, found, at))
    return readings


def _by_name(listing: Sequence[Mapping[str, Any]] | None) -> dict[str, Mapping[str, Any]]:
    return {q["name"]: q for q in listing or ()}


def _unmeasured(queue: Mapping[str, Any]) -> bool:
    """Listed without statistics: too new for the broker to have refreshed them, or on a node that is down."""
    return queue.get("messages_ready") is None


def _count(new: Mapping[str, Sequence[str]], counting: Counting | None) -> dict[tuple[str, str], tuple[int, int]]:
    counted: dict[tuple[str, str], tuple[int, int]] = {}
    if counting is None:
        return counted
    for vhost, names in sorted(new.items()):
        try:
            exact = counting(vhost, names)
        except BrokerError:
            continue  # left unknown, with a note: the listing's figures are what status is about
        counted.update({(vhost, name): figures for name, figures in exact.items()})
    return counted


def _state_note(queue: Mapping[str, Any]) -> str | None:
    state = queue.get("state")
    if state in _NOT_SERVING:
        node = f" on node {queue['node']}" if queue.get("node") else ""
        return f"the queue is {state}{node}"
    return None


def _new_queue(watch: Watch, queue: Mapping[str, Any], exact: tuple[int, int] | None) -> Reading:
    """A queue listed without statistics: counted by a passive declare where that could be done."""
    state = _state_note(queue)
    if state is not None:
        return Reading(watch.address, {}, notes=(state + ": nothing can be measured",))
    if exact is None:
        return Reading(watch.address, {}, notes=("the broker has no statistics for the queue yet",))
    ready, consumers = exact
    metrics: dict[str, float] = {"depth": ready, "consumers": consumers}
    notes = ["unacknowledged messages unknown: the broker has no statistics for the queue yet"]
    if ready == 0:
        metrics["age_seconds"] = 0.0
    else:
        notes.append("message age unknown: the broker has no statistics for the queue yet")
    return Reading(watch.address, metrics, notes=tuple(notes))


def _reading(watch: Watch, queue: Mapping[str, Any], at: float) -> Reading:
    ready = int(queue.get("messages_ready") or 0)
    metrics: dict[str, float] = {"depth": ready, "unacked": int(queue.get("messages_unacknowledged") or 0),
                                 "consumers": int(queue.get("consumers") or 0)}
    notes: list[str] = []
    state = _state_note(queue)
    if state is not None:
        notes.append(state + ": its figures are the last the broker had")
    stamp = queue.get("head_message_timestamp")
    if ready == 0:
        metrics["age_seconds"] = 0.0  # nothing waits
    elif isinstance(stamp, int | float) and not isinstance(stamp, bool):
        metrics["age_seconds"] = max(0.0, round(at - float(stamp), 3))  # a publisher's clock may run ahead
    else:
        notes.append(f"message age unknown: {_why_no_age(queue)}")
    return Reading(watch.address, metrics, notes=tuple(notes))


def _why_no_age(queue: Mapping[str, Any]) -> str:
    queue_type = queue.get("type") or "classic"
    if queue_type == "quorum":
        return "quorum queues do not report it"
    if queue_type == "stream":
        return "streams do not report it"
    if queue_type != "classic":
        return f"{queue_type} queues do not report it"
    mode = (queue.get("arguments") or {}).get("x-queue-mode") or \
        (queue.get("effective_policy_definition") or {}).get("queue-mode")
    if mode == "lazy":
        return "lazy queues keep their messages on disk and do not report it"
    return "the oldest message carries no timestamp (or is paged out to disk)"
