"""How attribute values are written in plans: compact JSON, sensitive ones hidden; for pull-request
comments, times and sizes in units (`7d`, `1MiB`) where the attribute is known to hold one.

A plan holds the brokers' own units (Kafka's `retention.ms` as "604800000", SQS's seconds) and not the
text the file declared, so `in_units` shows the shortest exact spelling (`604800000` ms -> `7d`), the
way topology files write them."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from topology.core.units import format_duration
from topology.engine.plan import AttributeChange

__all__ = ["SENSITIVE", "format_size", "in_units", "show", "show_change", "unit_of"]

SENSITIVE = "(sensitive)"

# A unit: how a stored whole number becomes text. Durations are stored in milliseconds or seconds.
Unit = Callable[[int], str]
_SIZES = (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024),
          ("TB", 1000**4), ("GB", 1000**3), ("MB", 1000**2), ("KB", 1000))


def format_size(size: int) -> str:
    """The shortest exact spelling: 1048576 -> '1MiB', 1000000 -> '1MB', 1500 -> '1500B'."""
    for unit, bytes_in in _SIZES:
        if size and size % bytes_in == 0:
            return f"{size // bytes_in}{unit}"
    return f"{size}B"


def _milliseconds(value: int) -> str:
    return format_duration(value)


def _seconds(value: int) -> str:
    return format_duration(value * 1000)


_RABBITMQ_ARGUMENTS: dict[str, Unit] = {
    "x-message-ttl": _milliseconds, "x-expires": _milliseconds, "x-max-length-bytes": format_size,
    "x-max-in-memory-bytes": format_size, "x-stream-max-segment-size-bytes": format_size}
_SQS: dict[str, Unit] = {
    "VisibilityTimeout": _seconds, "MessageRetentionPeriod": _seconds, "DelaySeconds": _seconds,
    "ReceiveMessageWaitTimeSeconds": _seconds, "KmsDataKeyReusePeriodSeconds": _seconds,
    "MaximumMessageSize": format_size}


def unit_of(kind: str, path: tuple[str, ...]) -> Unit | None:
    """The unit of the attribute at `path` of a `kind` object, where its file field takes a time or a size
    (RabbitMQ policies' definitions are written raw, so they are shown raw)."""
    if kind == "kafka.topic" and len(path) == 2 and path[0] == "config":
        return _milliseconds if path[1].endswith(".ms") else format_size if path[1].endswith(".bytes") else None
    if kind == "rabbitmq.queue" and len(path) == 2 and path[0] == "arguments":
        return _RABBITMQ_ARGUMENTS.get(path[1])
    if kind == "sqs.queue" and len(path) == 1:
        return _SQS.get(path[0])
    if kind == "sns.topic" and path == ("MaximumMessageSize",):
        return format_size
    return None


def _whole(value: Any) -> int | None:
    """A positive whole number stored as a number or as digits (Kafka's configs are strings)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, str) and value.isascii() and value.isdigit() and value.lstrip("0"):
        return int(value)
    return None


def in_units(kind: str, path: tuple[str, ...], value: Any) -> str:
    """`value` as `show` writes it, but with times and sizes in units: `{"retention.ms": 7d}`. Zero and
    the brokers' special negative values (-1: no limit) stay as they are."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{show(key)}: {in_units(kind, (*path, str(key)), value[key])}"
                               for key in sorted(value)) + "}"
    unit = unit_of(kind, path)
    number = _whole(value) if unit is not None else None
    return show(value) if unit is None or number is None else unit(number)


def show(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def show_change(attribute: AttributeChange, action: str) -> str:
    """`name = after`, `name = before -> after` or `name = (sensitive)`."""
    if attribute.sensitive:
        return f"{attribute.name} = {SENSITIVE}"
    if action == "create":
        return f"{attribute.name} = {show(attribute.after)}"
    if action == "delete":
        return f"{attribute.name} = {show(attribute.before)}"
    return f"{attribute.name} = {show(attribute.before)} -> {show(attribute.after)}"
