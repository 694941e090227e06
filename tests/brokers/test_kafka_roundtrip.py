"""Adopting a real Kafka, as a property: whatever a cluster holds under a prefix (made here through
Kafka's own admin clients, never through topology), `export` of that prefix writes it, `validate`
accepts it, `plan` against the same cluster is empty, and `apply` of the file with the prefix replaced
gives the same objects back, read through the admin clients again.

Hypothesis draws topics (partitions, and every topic config Kafka 4.1 has, at its edges: -1, -2, 0,
the INT and LONG maxima, empty lists, quoted spellings), consumer groups with committed offsets, ACL
bindings (allow and deny, hosts, both pattern types, every resource type and operation, principals
and names with `/`, `%`, `$` and other unicode), SCRAM credentials (both mechanisms, iteration edges)
and client quotas (user, client-id, both together, the default user or client-id beside a named one,
and an IP address). The single local broker has no more than one replica to give, so the replication
factor is 1 here; tests/brokers/test_kafka_cluster.py moves topics between 1 and 3 replicas.

What cannot be read back is said, not compared: a SCRAM password (Kafka gives only mechanism and
iterations), and where a re-created group's offsets stand (the format declares which topics a group
reads, not positions: apply commits the new group's initial offsets).
"""

from __future__ import annotations

import string
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.brokers.kafka_live import MECHANISMS, OPERATIONS, RESOURCE_TYPES, Binding, KafkaLive, Snapshot
from tests.cli import topology
from tests.conftest import KAFKA_BOOTSTRAP, unique

pytestmark = pytest.mark.kafka

INT_MAX, LONG_MAX, LONG_MIN = 2**31 - 1, 2**63 - 1, -(2**63)
LONG_MS = [str(LONG_MAX), "0"]

# Kafka 4.1's topic configs (what DescribeConfigs lists for a topic; the test checks the list is whole),
# each with the edge values Kafka accepts and, for numbers, the range random values are drawn from.
EDGES: dict[str, list[str]] = {
    "cleanup.policy": ["delete", "compact", "compact,delete", "delete,compact", ""],
    "compression.gzip.level": ["-1", "1", "9"],
    "compression.lz4.level": ["1", "17"],
    "compression.type": ["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"],
    "compression.zstd.level": ["-131072", "0", "22"],
    "delete.retention.ms": LONG_MS,
    "file.delete.delay.ms": LONG_MS,
    "flush.messages": ["1", str(LONG_MAX)],
    "flush.ms": LONG_MS,
    "follower.replication.throttled.replicas": ["*", "0:1", "0:1,1:1", ""],
    "index.interval.bytes": ["0", str(INT_MAX)],
    "internal.segment.bytes": ["1", str(INT_MAX)],
    "leader.replication.throttled.replicas": ["*", "0:1", ""],
    "local.retention.bytes": ["-2", "-1", "0", str(LONG_MAX)],
    "local.retention.ms": ["-2", "-1", "0", str(LONG_MAX)],
    "max.compaction.lag.ms": ["1", str(LONG_MAX)],
    "max.message.bytes": ["0", str(INT_MAX)],
    "message.timestamp.after.max.ms": LONG_MS,
    "message.timestamp.before.max.ms": LONG_MS,
    "message.timestamp.type": ["CreateTime", "LogAppendTime"],
    "min.cleanable.dirty.ratio": ["0", "1", "0.5", "1e-3"],
    "min.compaction.lag.ms": LONG_MS,
    "min.insync.replicas": ["1", str(INT_MAX)],
    "preallocate": ["true", "false", "TRUE"],
    "remote.log.copy.disable": ["true", "false"],
    "remote.log.delete.on.disable": ["true", "false"],
    "remote.storage.enable": ["false"],  # true needs tiered storage, which this broker has off
    "retention.bytes": ["-1", "0", str(LONG_MAX), str(LONG_MIN)],
    "retention.ms": ["-1", "0", str(LONG_MAX)],
    "segment.bytes": ["1048576", str(INT_MAX)],
    "segment.index.bytes": ["12", str(INT_MAX)],  # 4 to 11 pass validation but break the partition
    "segment.jitter.ms": LONG_MS,
    "segment.ms": ["1", str(LONG_MAX)],
    "unclean.leader.election.enable": ["true", "false"],
}
RANGES = {key: (int(min(values, key=int)), int(max(values, key=int))) for key, values in EDGES.items()
          if all(v.lstrip("-").isdigit() for v in values)}
RANGES["compression.gzip.level"] = (1, 9)  # or -1, an edge

# Names: topics as Kafka allows them; everything else free text, unicode, `/`, `%`, `$` and spaces
# included (not `{`, which the file's jinja2 pass would read: see the report).
TOPIC = st.text(alphabet=string.ascii_lowercase + string.digits + "-_", min_size=1, max_size=10)
FREE = st.text(alphabet=st.one_of(st.sampled_from("/%$*:,=. ü日é"), st.characters(
    blacklist_categories=("Cs", "Cc", "Co", "Cn", "Zl", "Zp"), blacklist_characters="{}")), min_size=1, max_size=8)
HOSTS = st.one_of(st.sampled_from(["*", "198.51.100.7", "198.51.100.8", "2001:db8::7", ""]), FREE)


def _config_value(key: str) -> st.SearchStrategy[str]:
    edges = st.sampled_from(EDGES[key])
    if key not in RANGES:
        return edges
    low, high = RANGES[key]
    return st.one_of(edges, st.integers(low, high).map(str), st.integers(low, high).map(lambda n: f" {n} "))


TOPIC_CONFIG = st.dictionaries(st.sampled_from(sorted(EDGES)), st.just(""), max_size=len(EDGES)).flatmap(
    lambda chosen: st.fixed_dictionaries({key: _config_value(key) for key in chosen})).filter(
    lambda config: int(config.get("min.compaction.lag.ms", 0)) <= int(config.get("max.compaction.lag.ms", LONG_MAX)))

BYTE_RATE = st.one_of(st.sampled_from([1, 1024, INT_MAX, 2**53, LONG_MAX]), st.integers(1, 2**53))
FRACTION = st.one_of(st.sampled_from([0.001, 12.5, 100.0, 1e6]), st.floats(1e-3, 1e9))


@dataclass
class World:
    """What one example makes, names without the prefix."""

    topics: dict[str, tuple[int, dict[str, str]]]
    groups: dict[str, list[tuple[str, int]]]  # group -> (topic, partition) with a committed offset
    # principal type and name, resource type and name, pattern, operation, permission, host
    acls: set[tuple[str, str, str, str, str, str, str, str]]
    users: dict[str, dict[str, int]]  # user -> mechanism -> iterations
    quotas: list[tuple[dict[str, str | None], dict[str, float]]]  # entity (None: default) -> values
    ip_quota: dict[str, float] = field(default_factory=dict)


@st.composite
def worlds(draw: Any) -> World:
    topics = draw(st.dictionaries(TOPIC, st.tuples(st.integers(1, 3), TOPIC_CONFIG), min_size=1, max_size=3))
    partitions = [(t, p) for t, (count, _) in topics.items() for p in range(count)]
    groups = draw(st.dictionaries(FREE, st.lists(st.sampled_from(partitions), min_size=1, max_size=4, unique=True),
                                  max_size=2))
    resource = st.sampled_from(sorted(RESOURCE_TYPES))
    acls = draw(st.sets(st.tuples(st.sampled_from(["User", "Group", "Svc x/y"]), FREE, resource, FREE,
                                  st.sampled_from(["literal", "prefixed"]), st.sampled_from(sorted(OPERATIONS)),
                                  st.sampled_from(["allow", "deny"]), HOSTS), max_size=6))
    users = draw(st.dictionaries(FREE, st.dictionaries(st.sampled_from(sorted(MECHANISMS)), st.one_of(
        st.sampled_from([4096, 16384]), st.integers(4096, 16384)), min_size=1), max_size=2))
    client_values = st.fixed_dictionaries({}, optional={
        "producer_byte_rate": BYTE_RATE, "consumer_byte_rate": BYTE_RATE, "request_percentage": FRACTION,
        "controller_mutation_rate": FRACTION}).filter(bool)
    entity = st.one_of(
        st.builds(lambda u: {"user": u}, FREE), st.builds(lambda c: {"client-id": c}, FREE),
        st.builds(lambda u, c: {"user": u, "client-id": c}, FREE, FREE),
        st.builds(lambda u: {"user": u, "client-id": None}, FREE),  # the default client-id of a named user
        st.builds(lambda c: {"user": None, "client-id": c}, FREE))  # a client-id of the default user
    quotas = draw(st.lists(st.tuples(entity, client_values), max_size=3, unique_by=lambda q: tuple(sorted(
        (k, v or "") for k, v in q[0].items()))))
    ip_quota = draw(st.one_of(st.just({}), st.builds(lambda n: {"connection_creation_rate": n}, st.sampled_from(
        [1, INT_MAX]) | st.integers(1, INT_MAX))))
    return World(topics, groups, acls, users, quotas, ip_quota)


def _make(live: KafkaLive, world: World, prefix: str, ip: str) -> dict[tuple[str, str], str]:
    """Make `world` under `prefix` through the admin clients; the SCRAM passwords, by (user, mechanism)."""
    for name, (partitions, config) in world.topics.items():
        live.topic(prefix + name, partitions, 1, config)
    for group, offsets in world.groups.items():
        live.commit(prefix + group, [(prefix + topic, partition, 0) for topic, partition in offsets])
    for kind, principal, resource_type, name, pattern, operation, permission, host in world.acls:
        live.acl(Binding(f"{kind}:{prefix}{principal}", resource_type,
                         "kafka-cluster" if resource_type == "cluster" else prefix + name, pattern, operation,
                         permission, host))
    passwords = {}
    for user, credentials in world.users.items():
        for mechanism, iterations in credentials.items():
            passwords[(prefix + user, mechanism)] = password = unique("pw")
            live.scram(prefix + user, mechanism, iterations, password)
    for entity, values in world.quotas:
        live.quota({k: prefix + v if v is not None else None for k, v in entity.items()}, values)
    if world.ip_quota:
        live.quota({"ip": ip}, world.ip_quota)
    return passwords


def _password_variables(text: str, passwords: Mapping[tuple[str, str], str]) -> dict[str, str]:
    """The environment the exported file asks for: each credential's placeholder, set to its password."""
    env = {}
    users = yaml.safe_load(text)["kafka"].get("users", {})
    for user, credentials in users.items():
        for mechanism, credential in credentials.items():
            variable = credential["password"].removeprefix("${").removesuffix("}")
            env[variable] = passwords[(user.replace("$$", "$"), mechanism)]
    return env


def _canonical(key: str, value: str) -> object:
    """A config value as Kafka means it (its own spellings may differ: `TRUE`, ` 5 `, `delete,compact`)."""
    text = value.strip()
    if key == "cleanup.policy":
        return frozenset(p.strip() for p in text.split(",") if p.strip())
    if key.endswith("throttled.replicas"):
        return tuple(p.strip() for p in text.split(","))
    if text.lower() in ("true", "false"):
        return text.lower()
    try:
        return int(text)
    except ValueError:
        return float(text) if key == "min.cleanable.dirty.ratio" else text


def _renamed(snapshot: Snapshot, prefix: str, ip: str) -> dict[str, Any]:
    """`snapshot` with `prefix` and `ip` taken out of every name, and configs as Kafka means them."""
    def bare(text: str | None) -> str | None:
        return None if text is None else text.replace(prefix, "<p>").replace(ip, "<ip>")

    return {
        "topics": {bare(n): (p, r, {k: _canonical(k, v) for k, v in c.items()}) for n, (p, r, c) in
                   snapshot.topics.items()},
        "groups": {bare(g): {bare(t) for t in topics} for g, topics in snapshot.groups.items()},
        "acls": {Binding(*(bare(part) or "" for part in (b.principal, b.resource_type, b.resource_name, b.pattern,
                                                         b.operation, b.permission, b.host))) for b in snapshot.acls},
        "scram": {(bare(u), m): n for (u, m), n in snapshot.scram.items()},
        "quotas": {tuple((k, bare(v)) for k, v in entity): values for entity, values in snapshot.quotas.items()},
    }


def test_the_generated_configs_are_every_topic_config_kafka_has(kafka_admin: Any) -> None:
    from confluent_kafka.admin import ConfigResource, ResourceType

    live = KafkaLive()
    prefix = unique("rt").replace("-", "") + "."
    try:
        live.topic(f"{prefix}t", 1, 1, {})
        resource = ConfigResource(ResourceType.TOPIC, f"{prefix}t")
        listed = set(kafka_admin.describe_configs([resource])[resource].result())
        assert listed - {"internal.segment.bytes"} == set(EDGES) - {"internal.segment.bytes"}
    finally:
        live.clean(prefix)
        live.close()


# No shrinking: each example costs seconds on the real broker; a failure prints the whole example instead.
@settings(max_examples=5, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(world=worlds(), address=st.tuples(st.integers(0, 255), st.integers(1, 254)))
def test_whatever_kafka_holds_round_trips(world: World, address: tuple[int, int]) -> None:
    live = KafkaLive()
    prefix, copy = unique("rt").replace("-", "") + ".", unique("rc").replace("-", "") + "."
    ip, copy_ip = f"198.18.{address[0]}.{address[1]}", f"198.19.{address[0]}.{address[1]}"  # RFC 2544 test nets
    try:
        with tempfile.TemporaryDirectory() as folder:
            _round_trip(live, world, Path(folder), (prefix, ip), (copy, copy_ip))
    finally:
        live.clean(prefix, [ip])
        live.clean(copy, [copy_ip])
        live.close()


def _round_trip(live: KafkaLive, world: World, folder: Path, source: tuple[str, str], target: tuple[str, str]) -> None:
    (prefix, ip), (copy, copy_ip) = source, target
    passwords = _make(live, world, prefix, ip)
    exported = folder / "exported.topology.yaml"
    result = topology("export", "--target", f"events={KAFKA_BOOTSTRAP}", "--kind", "kafka", "--to", str(exported),
                      "--include", f"kafka/*{prefix}*", "--include", f"kafka/quota/ip={ip}", cwd=folder)
    assert result.returncode == 0, result.stderr
    text = exported.read_text()
    for password in passwords.values():
        assert password not in text
    env = {"TOPOLOGY_TARGET_EVENTS": KAFKA_BOOTSTRAP, **_password_variables(text, passwords)}

    validated = topology("validate", str(exported), cwd=folder, env=env)
    assert validated.returncode == 0, validated.stdout + validated.stderr + text
    plan = topology("plan", str(exported), "--detailed-exitcode", cwd=folder, env=env)
    assert plan.returncode == 0, plan.stdout + plan.stderr + text

    copied = folder / "copy.topology.yaml"
    copied.write_text(text.replace(prefix, copy).replace(ip, copy_ip))
    applied = topology("apply", str(copied), "--auto-approve", cwd=folder, env=env)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    for password in passwords.values():
        assert password not in applied.stdout + applied.stderr

    original = _renamed(live.snapshot(prefix, [ip]), prefix, ip)
    assert _renamed(live.snapshot(copy, [copy_ip]), copy, copy_ip) == original
    assert len(original["topics"]) == len(world.topics) and len(original["acls"]) == len(world.acls)
