"""Declared limits and live health, as plain data: what `status`, `alerts` and `exporter` share.

A queue, consumer group or stream may carry `monitor:` limits; `monitoring.defaults` sets them per
role (a dead-letter queue, a retry tier, a work queue, a consumer group, a stream). Compiling a
topology gives one `Watch` per watched object: its limits, each with where it was declared. A
driver's `health` gives `Reading`s of the same objects (a Kafka group one per topic it reads), and
`evaluate` compares the two. Limits never change what `plan` does.

Every limit compares one metric with a bound. The metrics are the exporter's gauges (`topology_<metric>`),
so a rule written against them covers all four brokers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from topology.core.problems import Location

__all__ = ["BUILT_IN_DEFAULTS", "LIMITS", "METRICS", "ROLES", "Breach", "Declared", "Limit", "Metric", "Reading",
           "Row", "Watch", "evaluate"]


@dataclass(frozen=True)
class Metric:
    name: str  # the gauge is topology_<name>
    help: str
    unit: Literal["messages", "consumers", "seconds", "entries"]


METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("depth", "Messages waiting: ready (RabbitMQ), visible (SQS), not yet done by the group (Redis: lag "
           "plus pending), in a dead-letter topic (Kafka: the records it keeps, or those the groups reading it "
           "have not read).", "messages"),
    Metric("unacked", "Messages delivered and not yet acknowledged (RabbitMQ).", "messages"),
    Metric("in_flight", "Messages received and not yet deleted (SQS ApproximateNumberOfMessagesNotVisible).",
           "messages"),
    Metric("delayed", "Messages delayed and not yet visible (SQS).", "messages"),
    Metric("consumers", "Consumers attached to the queue (RabbitMQ).", "consumers"),
    Metric("age_seconds", "Age of the oldest waiting message, where the broker can tell.", "seconds"),
    Metric("lag", "Records or entries not yet read by the group: per topic, summed over partitions (Kafka); "
           "entries after the group's last delivered one (Redis).", "messages"),
    Metric("lag_seconds", "How far behind the group is in time: the age of the first record or entry it has "
           "not read.", "seconds"),
    Metric("pending", "Entries delivered to the group's consumers and not yet acknowledged (Redis).", "entries"),
    Metric("length", "Entries in the stream (Redis XLEN).", "entries"),
)}


@dataclass(frozen=True)
class Limit:
    name: str  # as written under `monitor:`
    metric: str  # the METRICS entry it bounds
    bound: Literal["max", "min"]
    duration: bool  # written as a duration (5m), held in milliseconds; the metric is in seconds
    description: str

    def threshold(self, value: int) -> float:
        """The declared value in the metric's unit (milliseconds become seconds)."""
        return value / 1000 if self.duration else float(value)

    def breached(self, measured: float, value: int) -> bool:
        threshold = self.threshold(value)
        return measured > threshold if self.bound == "max" else measured < threshold


LIMITS: dict[str, Limit] = {limit.name: limit for limit in (
    Limit("max_depth", "depth", "max", False, "Most messages that may wait; 0: any message breaches."),
    Limit("max_unacked", "unacked", "max", False, "Most messages delivered and not yet acknowledged."),
    Limit("max_in_flight", "in_flight", "max", False, "Most messages received and not yet deleted."),
    Limit("max_delayed", "delayed", "max", False, "Most messages delayed and not yet visible."),
    Limit("min_consumers", "consumers", "min", False, "Fewest consumers the queue may have."),
    Limit("max_age", "age_seconds", "max", True, "Oldest a waiting message may be (a duration: 5m)."),
    Limit("max_lag", "lag", "max", False, "Most records or entries the group may be behind."),
    Limit("max_lag_time", "lag_seconds", "max", True, "How far behind in time the group may be (a duration: 2m)."),
    Limit("max_pending", "pending", "max", False, "Most entries delivered and not yet acknowledged."),
    Limit("max_length", "length", "max", False, "Most entries the stream may hold."),
)}

# What a watched object is for: queues are dead-letter queues, retry tiers or (the rest) work queues;
# consumer groups and streams are roles of their own, except that a Redis group reading a dead-letter or
# retry stream takes that stream's role.
ROLES: dict[str, str] = {
    "dead_letter": "Dead-letter queues, Kafka dead-letter topics and the groups of Redis dead-letter streams, "
                   "generated or declared.",
    "retry": "Retry tiers: the wait queues (and streams' groups) that `retry` generates.",
    "work": "Queues that are neither a dead-letter queue nor a retry tier.",
    "group": "Consumer groups (Kafka, and Redis groups of ordinary streams).",
    "stream": "Redis streams.",
}

# What holds when the files set no `monitoring.defaults` for a role; a role set in the files replaces these.
BUILT_IN_DEFAULTS: dict[str, dict[str, int]] = {
    "dead_letter": {"max_depth": 0},  # any message parked in a dead-letter queue is worth a look
    "retry": {"max_depth": 10000},
    "work": {"min_consumers": 1},
}


@dataclass(frozen=True)
class Declared:
    """One limit's value (milliseconds for durations) and where it was declared (None: built in)."""

    value: int
    where: Location | None = None
    default: str | None = None  # the role whose `monitoring.defaults` gave it; None: the object's own `monitor:`

    @property
    def source(self) -> str:
        """Where it came from, as status, alerts and alarms say it: `declared at FILE:LINE`,
        `monitoring.defaults.ROLE at FILE:LINE`, or `the built-in default for role ROLE`."""
        if self.where is None:
            return f"the built-in default for role {self.default}" if self.default else "built in"
        at = f"{self.where.file}:{self.where.line}"
        return f"monitoring.defaults.{self.default} at {at}" if self.default else f"declared at {at}"


@dataclass(frozen=True)
class Watch:
    """One watched object: what it is, where it lives, and its limits."""

    address: str
    kind: str  # the resource kind: rabbitmq.queue, kafka.consumer_group, sqs.queue, redis.stream, redis.group
    name: str
    scope: str  # the vhost of a RabbitMQ queue, the stream of a Redis group; else ""
    target: str | None
    role: str
    limits: Mapping[str, Declared] = field(default_factory=dict)
    origin: Location | None = None  # where the object itself was declared
    topics: tuple[str, ...] = ()  # what a Kafka group reads (its retry topics included)

    @property
    def broker(self) -> str:
        return self.kind.split(".", 1)[0]


@dataclass(frozen=True)
class Reading:
    """What a driver measured of one watched object: `part` is the topic of a Kafka group's row ("" else).
    A metric the broker cannot tell is absent; `notes` say why, in a phrase ("messages carry no timestamp")."""

    address: str
    metrics: Mapping[str, float]
    part: str = ""
    notes: tuple[str, ...] = ()
    missing: bool = False  # the object does not exist on the broker


@dataclass(frozen=True)
class Breach:
    limit: str
    measured: float
    value: int  # as declared (milliseconds for durations)
    where: Location | None

    def severity(self) -> float:
        """How far past its limit: for sorting the worst first."""
        threshold = LIMITS[self.limit].threshold(self.value)
        if LIMITS[self.limit].bound == "min":
            return (threshold - self.measured) / max(threshold, 1.0)
        return (self.measured - threshold) / max(threshold, 1.0)


@dataclass(frozen=True)
class Row:
    """One line of `status`: a watched object (or a Kafka group's topic), what was read, what it breaches."""

    watch: Watch
    part: str
    metrics: Mapping[str, float]
    breaches: tuple[Breach, ...] = ()
    unknown: tuple[str, ...] = ()  # limits that could not be measured
    notes: tuple[str, ...] = ()
    error: str | None = None  # the target could not be read
    missing: bool = False  # declared, and not on the broker: as bad as a breach (nothing watches it there)

    @property
    def state(self) -> Literal["breach", "missing", "error", "unknown", "ok"]:
        if self.breaches:
            return "breach"
        if self.missing:
            return "missing"
        if self.error is not None:
            return "error"
        return "unknown" if self.unknown else "ok"


def evaluate(watches: Sequence[Watch], readings: Iterable[Reading],
             errors: Mapping[str | None, str] | None = None) -> list[Row]:
    """The rows of `status`, worst first: breaches by how far past their limit, then declared objects the
    broker does not have, unreadable targets, limits that could not be measured, and the rest in address
    order. `errors` are targets that could not
    be read, by name."""
    errors = errors or {}
    by_address: dict[str, list[Reading]] = {}
    for reading in readings:
        by_address.setdefault(reading.address, []).append(reading)
    rows: list[Row] = []
    for watch in watches:
        error = errors.get(watch.target)
        if error is not None:
            rows.append(Row(watch, "", {}, (), tuple(watch.limits), (), error))
            continue
        found = by_address.get(watch.address) or [Reading(watch.address, {}, notes=("not read",))]
        for reading in sorted(found, key=lambda r: r.part):
            breaches: list[Breach] = []
            unknown: list[str] = []
            for name, declared in watch.limits.items():
                limit = LIMITS[name]
                measured = reading.metrics.get(limit.metric)
                if measured is None:
                    unknown.append(name)
                elif limit.breached(measured, declared.value):
                    breaches.append(Breach(name, measured, declared.value, declared.where))
            rows.append(Row(watch, reading.part, dict(reading.metrics), tuple(breaches), tuple(unknown),
                            reading.notes, missing=reading.missing))
    order = {"breach": 0, "missing": 1, "error": 2, "unknown": 3, "ok": 4}
    rows.sort(key=lambda row: (order[row.state], -max((b.severity() for b in row.breaches), default=0.0),
                               row.watch.address, row.part))
    return rows
