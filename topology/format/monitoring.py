"""`monitor:` and `monitoring:` in the file: the models, made from the one table of limits (core/monitor.py).

Each watched kind takes the limits its broker can say something about; `monitoring.defaults` takes
every limit per role, and a default applies to an object only where its kind takes that limit (the
`work` role's `min_consumers` means nothing to an SQS queue).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import Field, StrictInt, create_model

from topology.core.monitor import LIMITS, ROLES, Declared
from topology.core.problems import PathPart
from topology.format.common import Duration, Spec

if TYPE_CHECKING:
    from topology.format.load import Positions

__all__ = [
    "GROUP_LIMITS",
    "KAFKA_TOPIC_LIMITS",
    "QUEUE_LIMITS",
    "REDIS_GROUP_LIMITS",
    "SQS_LIMITS",
    "STREAM_LIMITS",
    "Monitoring",
    "RoleLimits",
    "declared",
    "limits_model",
]

QUEUE_LIMITS = ("max_depth", "max_unacked", "max_age", "min_consumers")  # RabbitMQ queues
SQS_LIMITS = ("max_depth", "max_in_flight", "max_delayed", "max_age")
GROUP_LIMITS = ("max_lag", "max_lag_time")  # Kafka consumer groups, per topic they read
KAFKA_TOPIC_LIMITS = ("max_depth",)  # Kafka dead-letter topics: the records waiting there
STREAM_LIMITS = ("max_length",)
REDIS_GROUP_LIMITS = ("max_depth", "max_lag", "max_pending", "max_lag_time")


# The largest limit: every count and time a broker reports fits far below it, and above it a float (as
# Prometheus compares) can no longer tell the limit from one more.
MOST = 2**53 - 1


def limits_model(name: str, limits: tuple[str, ...]) -> type[Spec]:
    """A strict model with these limits, each optional: counts are whole numbers from 0 (not `true`, not
    "5"), times are durations; none above MOST."""
    fields: dict[str, Any] = {}
    for limit in limits:
        about = LIMITS[limit]
        kind: Any = Duration if about.duration else StrictInt
        fields[limit] = (kind | None, Field(None, ge=0, le=MOST, description=about.description))
    return create_model(name, __base__=Spec, **fields)


RoleLimits = limits_model("RoleLimits", tuple(LIMITS))
QueueMonitor = limits_model("QueueMonitor", QUEUE_LIMITS)
SqsMonitor = limits_model("SqsMonitor", SQS_LIMITS)
GroupMonitor = limits_model("GroupMonitor", GROUP_LIMITS)
StreamMonitor = limits_model("StreamMonitor", STREAM_LIMITS)
RedisGroupMonitor = limits_model("RedisGroupMonitor", REDIS_GROUP_LIMITS)

Defaults = create_model("MonitoringDefaults", __base__=Spec, **{  # type: ignore[call-overload]
    role: (RoleLimits | None, Field(None, description=f"{about} Replaces the built-in defaults of the role."))
    for role, about in ROLES.items()})


class Monitoring(Spec):
    defaults: Defaults = Field(
        default_factory=Defaults, description="Limits per role, for every object of that role, generated ones "
        "included; an object's own `monitor:` wins limit by limit.")


def declared(monitor: Spec | None, positions: Positions, path: tuple[PathPart, ...],
             default: str | None = None) -> dict[str, Declared]:
    """The limits a `monitor:` (or a role's defaults) sets, each with where it was written."""
    if monitor is None:
        return {}
    return {name: Declared(value, positions.at((*path, name), key=True), default)
            for name, value in monitor.model_dump().items() if value is not None}


def accepted(kind_limits: tuple[str, ...], limits: Mapping[str, Declared]) -> dict[str, Declared]:
    return {name: value for name, value in limits.items() if name in kind_limits}
