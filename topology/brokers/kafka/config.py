"""Kafka's own vocabulary and ranges: topic configs, client quotas, SCRAM credentials, ACL codes, and
the addresses of the objects they describe.

Topic configs are validated without a broker and normalised to the strings Kafka stores, so a
declared value and what DescribeConfigs reports compare equal (`7d` and `604800000`, `'-1'` and
`-1`). Every range here is the broker's own: the validators of Kafka 4.1's topic ConfigDef
(`org.apache.kafka.storage.internals.log.LogConfig`, printed from the broker's jar and checked
value by value with CreateTopics validate_only; tests/brokers/test_kafka_config.py asks the broker
again at every boundary), the limits Kafka's AlterClientQuotas and AlterUserScramCredentials
enforce, and the codes of its ACL enums (`org.apache.kafka.common.acl.AclOperation`,
`org.apache.kafka.common.resource.ResourceType`, `PatternType`). One is stricter than the broker's
validation, where Kafka takes a value it cannot use: segment.index.bytes below 12.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from topology.core.problems import did_you_mean
from topology.core.units import parse_duration, parse_size

__all__ = [
    "ACL_FIELDS",
    "ACL_OPERATIONS",
    "ACL_PATTERNS",
    "ACL_PERMISSIONS",
    "ACL_RESOURCE_TYPES",
    "DEFAULT_ENTITY",
    "QUOTA_ENTITY_TYPES",
    "QUOTA_KEYS",
    "SCRAM_ITERATIONS",
    "SCRAM_MECHANISMS",
    "TOPIC_CONFIG",
    "QuotaKey",
    "Setting",
    "acl_address",
    "escape",
    "normalise_quota",
    "normalise_topic_config",
    "quota_address",
    "quota_entity_problem",
    "scram_address",
    "written_config",
]

LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1  # Kafka's LONG configs (milliseconds, bytes, counts)
INT_MIN, INT_MAX = -(2**31), 2**31 - 1  # and its INT ones
_WHOLE = re.compile(r"^\s*[+-]?\d+\s*$")  # what Java's Long.parseLong takes (after Kafka trims the value)


# ------------------------------------------------------------------------------------------ topic configs


@dataclass(frozen=True)
class Setting:
    """One topic config: how a value (from a file, or as Kafka reports it) becomes the string Kafka
    stores, and how that string is written back into an exported file (typed: a number stays a number)."""

    parse: Callable[[object], str]
    written: Callable[[str], object]
    bounds: tuple[int, int] | None = None  # a number's range (the special values below it aside)
    also: tuple[int, ...] = ()  # values outside the range Kafka takes too (compression.gzip.level's -1)


def _whole(value: object, unit: Callable[[object], int] | None) -> int:
    """A whole number from an int, a string of one (`'-1'`, `' 42 '`), or, with `unit`, a human
    quantity (`7d`, `1GiB`; never negative)."""
    if isinstance(value, bool | float):
        raise ValueError(f"{value!r} is not a whole number")
    if isinstance(value, int):
        return value
    text = str(value)
    if _WHOLE.match(text):
        if len(text.strip().lstrip("+-").lstrip("0")) > len(str(LONG_MAX)):  # Kafka's numbers are 64-bit
            raise ValueError(f"{text.strip()[:24]}... has more digits than any number Kafka takes")
        return int(text)
    if unit is None:
        raise ValueError(f"{value!r} is not a whole number")
    return unit(text)


def _number(minimum: int, maximum: int, *, unit: Callable[[object], int] | None = None,
            special: str = "", also: tuple[int, ...] = ()) -> Setting:
    """A Kafka INT or LONG within [minimum, maximum] (or one of `also`); `special` says what the
    values below the ordinary ones mean, for the error message."""
    def parse(value: object) -> str:
        number = _whole(value, unit)
        if number in also:
            return str(number)
        if number < minimum or number > maximum:
            bound = f"at least {minimum:,}" if number < minimum else f"at most {maximum:,}"
            if also:
                bound = f"between {minimum:,} and {maximum:,}, or {' or '.join(map(str, also))}"
            raise ValueError(f"must be {bound}" + (f" ({special})" if special else ""))
        return str(number)
    return Setting(parse, int, (minimum, maximum), also)


def _duration(minimum: int, special: str = "") -> Setting:
    return _number(minimum, LONG_MAX, unit=parse_duration, special=special)


def _size(minimum: int, maximum: int = LONG_MAX, special: str = "") -> Setting:
    return _number(minimum, maximum, unit=parse_size, special=special)


def _parse_bool(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if str(value).strip().lower() in ("true", "false"):  # Kafka's BOOLEAN: either case, trimmed
        return str(value).strip().lower()
    raise ValueError(f"{value!r} is not true or false")


_BOOL = Setting(_parse_bool, lambda text: text == "true")


def _parse_ratio(value: object) -> str:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number")
    try:
        number = float(str(value))
    except ValueError:
        raise ValueError(f"{value!r} is not a number") from None
    # Kafka's Range validator lets NaN through (every comparison with it is false); it is no ratio.
    if math.isnan(number) or not 0 <= number <= 1:
        raise ValueError("must be between 0 and 1")
    return str(number)


_RATIO = Setting(_parse_ratio, float)


def _choice(*choices: str) -> Setting:
    def parse(value: object) -> str:
        text = str(value).strip()
        if text not in choices:  # Kafka's ValidString is case-sensitive
            hint = did_you_mean(text, choices)
            raise ValueError(f"{text!r} is not one of {', '.join(choices)}" + (f"; {hint}" if hint else ""))
        return text
    return Setting(parse, str)


def _list_of(*choices: str) -> Setting:
    """Kafka's LIST of `choices`: comma-separated, any order, possibly empty (Kafka 4.1 accepts an empty
    cleanup.policy); stored here sorted and without repeats, as the same set of policies."""
    def parse(value: object) -> str:
        items = [part.strip() for part in str(value).split(",")] if str(value).strip() else []
        for item in items:
            if item not in choices:
                hint = did_you_mean(item, choices)
                raise ValueError(f"{item!r} is not one of {', '.join(choices)}" + (f"; {hint}" if hint else ""))
        return ",".join(sorted(set(items)))
    return Setting(parse, str)


_REPLICA = re.compile(r"^(\d+:\d+)?$")


def _parse_replicas(value: object) -> str:
    """Kafka's ThrottledReplicaListValidator: `*`, or a list of partition:broker pairs."""
    items = [part.strip() for part in str(value).split(",")]
    if items == ["*"]:
        return "*"
    if not all(_REPLICA.match(item) for item in items):
        raise ValueError(f"{value!r} is not `*` or a list of partition:broker pairs such as 0:1,1:2")
    return ",".join(items)


_REPLICAS = Setting(_parse_replicas, str)
_TEXT = Setting(str, str)

# Kafka 4.1's topic configs and their ranges (LogConfig's ConfigDef; see the module docstring).
TOPIC_CONFIG: dict[str, Setting] = {
    "cleanup.policy": _list_of("delete", "compact"),
    "compression.gzip.level": _number(1, 9, also=(-1,), special="-1: the codec's default level"),
    "compression.lz4.level": _number(1, 17),
    "compression.type": _choice("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"),
    "compression.zstd.level": _number(-131072, 22),
    "delete.retention.ms": _duration(0),
    "file.delete.delay.ms": _duration(0),
    "flush.messages": _number(1, LONG_MAX),
    "flush.ms": _duration(0),
    "follower.replication.throttled.replicas": _REPLICAS,
    "index.interval.bytes": _size(0, INT_MAX),
    "internal.segment.bytes": _size(INT_MIN, INT_MAX),  # Kafka's test-only override: any INT, no validator
    "leader.replication.throttled.replicas": _REPLICAS,
    "local.retention.bytes": _size(-2, special="-2: as retention.bytes, -1: no size limit"),
    "local.retention.ms": _duration(-2, special="-2: as retention.ms, -1: no time limit"),
    "max.compaction.lag.ms": _duration(1),
    "max.message.bytes": _size(0, INT_MAX),
    "message.timestamp.after.max.ms": _duration(0),
    "message.timestamp.before.max.ms": _duration(0),
    "message.timestamp.type": _choice("CreateTime", "LogAppendTime"),
    "min.cleanable.dirty.ratio": _RATIO,
    "min.compaction.lag.ms": _duration(0),
    "min.insync.replicas": _number(1, INT_MAX),
    "preallocate": _BOOL,
    "remote.log.copy.disable": _BOOL,
    "remote.log.delete.on.disable": _BOOL,
    "remote.storage.enable": _BOOL,
    # No validator in Kafka: any LONG; a negative one (by convention -1) means no size limit.
    "retention.bytes": _size(LONG_MIN, special="-1: no size limit"),
    "retention.ms": _duration(-1, special="-1: no time limit"),
    "segment.bytes": _size(1_048_576, INT_MAX),  # Kafka's minimum segment: 1 MiB
    # Kafka's ConfigDef takes 4, but a broker then fails to open the partition's time index (each entry
    # takes 12 bytes: "Invalid max index size", a metadata publishing fault that can hold back the topics
    # created beside it too), so the partition is never usable: 12 is the least that works.
    "segment.index.bytes": _size(12, INT_MAX, special="Kafka takes 4 to 11 but cannot then open the partition's "
                                                      "time index, whose entries take 12 bytes"),
    "segment.jitter.ms": _duration(0),
    "segment.ms": _duration(1),
    "unclean.leader.election.enable": _BOOL,
    # Kafka 3.x only (removed in 4.0; a 4.x broker refuses them): kept so a 3.x cluster's topics can be
    # adopted. Their 3.x ranges: a LONG of at least 0, a boolean, an inter-broker protocol version.
    "message.downconversion.enable": _BOOL,
    "message.format.version": _TEXT,
    "message.timestamp.difference.max.ms": _duration(0),
}


def normalise_topic_config(config: Mapping[str, object]) -> tuple[dict[str, str], dict[str, str]]:
    """(normalised config, {key: problem}) for a topic's `config:` mapping."""
    normalised: dict[str, str] = {}
    problems: dict[str, str] = {}
    for key, value in config.items():
        setting = TOPIC_CONFIG.get(key)
        if setting is None:
            hint = did_you_mean(key, TOPIC_CONFIG)
            problems[key] = f"`{key}` is not a Kafka topic config" + (f"; {hint}" if hint else "")
            continue
        try:
            normalised[key] = setting.parse(value)
        except ValueError as exc:
            problems[key] = f"{key}: {exc}"
    low, high = normalised.get("min.compaction.lag.ms"), normalised.get("max.compaction.lag.ms")
    if low is not None and high is not None and int(low) > int(high):  # LogConfig.validateValues
        problems["min.compaction.lag.ms"] = (f"min.compaction.lag.ms ({low}) is above max.compaction.lag.ms ({high}), "
                                             "which Kafka refuses")
    return normalised, problems


def written_config(config: Mapping[str, str]) -> dict[str, object]:
    """A topic's stored config as an exported file writes it: numbers as numbers, booleans as booleans,
    in Kafka's own units (every value reads back to the same string)."""
    written: dict[str, object] = {}
    for key, text in config.items():
        setting = TOPIC_CONFIG.get(key)
        try:
            written[key] = setting.written(text) if setting is not None else text
        except ValueError:
            written[key] = text
    return written


# ------------------------------------------------------------------------------------------ client quotas


@dataclass(frozen=True)
class QuotaKey:
    """One client quota config: the entity types it applies to and the broker's range for it."""

    entities: frozenset[str]
    whole: bool  # Kafka refuses a fractional value ("cannot be a fractional value")
    maximum: float  # LONG or INT for the whole ones ("too large for a LONG")


_CLIENT = frozenset({"user", "client-id"})
# Kafka's QuotaConfig keys; every value must be greater than 0 (AlterClientQuotas: "must be greater than 0").
QUOTA_KEYS: dict[str, QuotaKey] = {
    "producer_byte_rate": QuotaKey(_CLIENT, True, LONG_MAX),
    "consumer_byte_rate": QuotaKey(_CLIENT, True, LONG_MAX),
    "request_percentage": QuotaKey(_CLIENT, False, math.inf),
    "controller_mutation_rate": QuotaKey(_CLIENT, False, math.inf),
    "connection_creation_rate": QuotaKey(frozenset({"ip"}), True, INT_MAX),
}
QUOTA_ENTITY_TYPES = ("user", "client-id", "ip")  # the order of an address's parts
DEFAULT_ENTITY = "<default>"  # how kafka-configs names the default entity (--entity-default)
# The entity combinations Kafka accepts: "IP entity should not be combined with User or ClientId".
_COMBINATIONS = (frozenset({"user"}), frozenset({"client-id"}), frozenset({"user", "client-id"}), frozenset({"ip"}))


def quota_entity_problem(entity: Mapping[str, str], keys: list[str]) -> str | None:
    """Why Kafka would refuse quotas `keys` on `entity`, or None."""
    if frozenset(entity) not in _COMBINATIONS:
        return ("a quota's entity is a user, a client-id, a user and a client-id, or an ip; Kafka refuses "
                + " and ".join(sorted(entity)))
    for kind, name in entity.items():
        if name == "":
            return f"an empty {kind} is refused by Kafka; write `{DEFAULT_ENTITY}` for the default {kind}"
    for key in keys:
        if not QUOTA_KEYS[key].entities & set(entity):
            allowed = sorted(k for k, spec in QUOTA_KEYS.items() if spec.entities & set(entity))
            return f"{key} is not a quota of {' and '.join(sorted(entity))} entities; those take {', '.join(allowed)}"
    if not keys:
        return "a quota sets at least one value (Kafka keeps no quota without one)"
    return None


def normalise_quota(key: str, value: Any) -> float | int:
    """A quota value as Kafka keeps it: a whole number of bytes (`1MiB` taken) or connections per
    second, or a positive number (request_percentage, controller_mutation_rate). Kafka keeps every
    quota as a double, so a whole number beyond 2**53 is the one the double holds."""
    spec = QUOTA_KEYS[key]
    number = _quota_whole(key, value, spec.maximum) if spec.whole else _quota_real(value)
    # Kafka lets NaN and infinity through for the fractional ones; neither is a quota.
    if not math.isfinite(number) or not 0 < number <= spec.maximum:
        limit = f" and at most {spec.maximum:,}" if spec.maximum != math.inf else " and finite"
        raise ValueError(f"must be greater than 0{limit}")
    return number


def _quota_whole(key: str, value: Any, maximum: float) -> int:
    if isinstance(value, float):  # as Kafka reports it, a double: what it compares with the maximum too
        if not value.is_integer():
            raise ValueError(f"{value!r} is not a whole number (Kafka refuses a fractional {key})")
        return int(min(value, maximum)) if value <= float(maximum) else int(value)
    number = _whole(value, parse_size if key.endswith("_byte_rate") else None)
    return min(int(float(number)), int(maximum)) if 0 < number <= maximum else number


def _quota_real(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{value!r} is not a number")
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a number") from None


# ----------------------------------------------------------------------------------- SCRAM credentials


SCRAM_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")  # Kafka's ScramMechanism names
# What AlterUserScramCredentials accepts ("Too few iterations" below, "Too many iterations" above):
# ScramMechanism's minimum and the broker's maximum.
SCRAM_ITERATIONS = (4096, 16384)


# ------------------------------------------------------------------------------------------ ACLs


# Kafka's enums, by the codes its protocol uses (AclOperation, ResourceType, PatternType, AclPermissionType).
ACL_OPERATIONS = {"all": 2, "read": 3, "write": 4, "create": 5, "delete": 6, "alter": 7, "describe": 8,
                  "cluster_action": 9, "describe_configs": 10, "alter_configs": 11, "idempotent_write": 12,
                  "create_tokens": 13, "describe_tokens": 14, "two_phase_commit": 15}
ACL_RESOURCE_TYPES = {"topic": 2, "group": 3, "cluster": 4, "transactional_id": 5, "delegation_token": 6, "user": 7}
ACL_PATTERNS = {"literal": 3, "prefixed": 4}  # the two a binding can have (MATCH and ANY are filters only)
ACL_PERMISSIONS = {"deny": 2, "allow": 3}
ACL_FIELDS = ("principal", "resource_type", "pattern_type", "resource_name", "operation", "permission", "host")


# ------------------------------------------------------------------------------------------ addresses


def escape(text: str, also: str = "") -> str:
    """A free-text part of an address, one-to-one: `%` and `/` (and `also`) percent-encoded, so that no
    two objects share an address whatever their names hold."""
    for char in "%/" + also:
        text = text.replace(char, f"%{ord(char):02X}")
    return text


def acl_address(binding: Mapping[str, object]) -> str:
    """The address of one ACL binding: every field is in it, host and permission included, so that
    Kafka's documented pattern (allow Write from `*`, deny Write from one host) is two bindings; the
    principal, resource name and host are escaped (they may hold `/`)."""
    free = {"principal", "resource_name", "host"}
    return "kafka/acl/" + "/".join(escape(str(binding[f])) if f in free else str(binding[f]) for f in ACL_FIELDS)


def quota_address(entity: Mapping[str, str]) -> str:
    """`kafka/quota/user=alice/client-id=<default>`: the entity's parts in Kafka's order, names escaped."""
    return "kafka/quota/" + "/".join(f"{kind}={escape(entity[kind], '=')}" for kind in QUOTA_ENTITY_TYPES
                                     if kind in entity)


def scram_address(user: str, mechanism: str) -> str:
    return f"kafka/user/{escape(user)}/{mechanism}"
