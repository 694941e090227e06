"""Kafka's topic-level config keys, their types, and normalisation to the strings Kafka stores.

Used to validate `config:` without a broker and to compare declared values with what
DescribeConfigs reports (both sides normalised here, so `7d` and `604800000` are equal).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from topology.core.problems import did_you_mean
from topology.core.units import parse_duration, parse_size

__all__ = ["ACL_FIELDS", "TOPIC_CONFIG", "acl_address", "normalise_topic_config"]


LONG_MAX = 2**63 - 1  # Kafka's LONG configs (milliseconds, bytes, counts)
INT_MAX = 2**31 - 1  # and its INT ones


def _long(number: int) -> str:
    if number > LONG_MAX:
        raise ValueError(f"must be at most {LONG_MAX:,} (Kafka stores it as a 64-bit number)")
    return str(number)


def _duration(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and value in (-1, -2):
        return str(value)  # -1: unlimited, -2: use the local/remote default
    return _long(parse_duration(value))


def _size(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and value in (-1, -2):
        return str(value)
    return _long(parse_size(value))


def _int(minimum: int, maximum: int = LONG_MAX) -> Callable[[object], str]:
    def parse(value: object) -> str:
        if isinstance(value, bool):
            raise ValueError("expected a whole number")
        try:
            number = int(str(value))
        except ValueError:
            raise ValueError(f"{value!r} is not a whole number") from None
        if number < minimum:
            raise ValueError(f"must be at least {minimum}")
        if number > maximum:
            raise ValueError(f"must be at most {maximum:,}")
        return str(number)
    return parse


def _bool(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if str(value).lower() in ("true", "false"):
        return str(value).lower()
    raise ValueError(f"{value!r} is not true or false")


def _ratio(value: object) -> str:
    try:
        number = float(str(value))
    except ValueError:
        raise ValueError(f"{value!r} is not a number") from None
    if not 0 <= number <= 1:
        raise ValueError("must be between 0 and 1")
    return str(number)


def _choice(*choices: str, many: bool = False) -> Callable[[object], str]:
    def parse(value: object) -> str:
        items = [part.strip() for part in str(value).split(",")] if many else [str(value)]
        for item in items:
            if item not in choices:
                hint = did_you_mean(item, choices)
                raise ValueError(f"{item!r} is not one of {', '.join(choices)}" + (f"; {hint}" if hint else ""))
        return ",".join(sorted(items)) if many else items[0]
    return parse


def _text(value: object) -> str:
    return str(value)


TOPIC_CONFIG: dict[str, Callable[[object], str]] = {
    "cleanup.policy": _choice("delete", "compact", many=True),
    "compression.type": _choice("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"),
    "compression.gzip.level": _int(-1, INT_MAX),
    "compression.lz4.level": _int(1, INT_MAX),
    "compression.zstd.level": _int(-131072, INT_MAX),
    "delete.retention.ms": _duration,
    "file.delete.delay.ms": _duration,
    "flush.messages": _int(1),
    "flush.ms": _duration,
    "follower.replication.throttled.replicas": _text,
    "index.interval.bytes": _size,
    "leader.replication.throttled.replicas": _text,
    "local.retention.bytes": _size,
    "local.retention.ms": _duration,
    "max.compaction.lag.ms": _duration,
    "max.message.bytes": _size,
    "message.timestamp.after.max.ms": _duration,
    "message.timestamp.before.max.ms": _duration,
    "message.timestamp.type": _choice("CreateTime", "LogAppendTime"),
    "min.cleanable.dirty.ratio": _ratio,
    "min.compaction.lag.ms": _duration,
    "min.insync.replicas": _int(1, INT_MAX),
    "preallocate": _bool,
    "remote.log.copy.disable": _bool,
    "remote.log.delete.on.disable": _bool,
    "remote.storage.enable": _bool,
    "retention.bytes": _size,
    "retention.ms": _duration,
    "segment.bytes": _size,
    "segment.index.bytes": _size,
    "segment.jitter.ms": _duration,
    "segment.ms": _duration,
    "unclean.leader.election.enable": _bool,
}


def normalise_topic_config(config: dict[str, object]) -> tuple[dict[str, str], dict[str, str]]:
    """(normalised config, {key: problem}) for a topic's `config:` mapping."""
    normalised: dict[str, str] = {}
    problems: dict[str, str] = {}
    for key, value in config.items():
        parse = TOPIC_CONFIG.get(key)
        if parse is None:
            hint = did_you_mean(key, TOPIC_CONFIG)
            problems[key] = f"`{key}` is not a Kafka topic config" + (f"; {hint}" if hint else "")
            continue
        try:
            normalised[key] = parse(value)
        except ValueError as exc:
            problems[key] = f"{key}: {exc}"
    return normalised, problems


ACL_FIELDS = ("principal", "resource_type", "pattern_type", "resource_name", "operation", "permission", "host")


def acl_address(binding: Mapping[str, object]) -> str:
    """The address of one ACL binding. Every field is in it, host and permission included, so that
    Kafka's documented pattern (allow Write from `*`, deny Write from one host) is two bindings."""
    return "kafka/acl/" + "/".join(str(binding[field]) for field in ACL_FIELDS)
