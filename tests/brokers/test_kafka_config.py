"""Kafka's ranges are the broker's own: every topic config, client quota and SCRAM bound topology checks
is asked of the real broker (CreateTopics, AlterClientQuotas and AlterUserScramCredentials with
validate_only where Kafka has it) at and around each boundary, and both must agree, for values written
as numbers and as quoted strings. And the values with a special meaning (-1 keeps records forever)
round-trip: created through the admin client, exported, validated and planned empty."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cli import topology
from tests.conftest import KAFKA_BOOTSTRAP
from topology.brokers.kafka.config import (
    INT_MAX,
    LONG_MAX,
    LONG_MIN,
    QUOTA_KEYS,
    SCRAM_ITERATIONS,
    TOPIC_CONFIG,
    normalise_quota,
    normalise_topic_config,
)

pytestmark = pytest.mark.kafka

# Removed in Kafka 4.0; kept for adopting 3.x clusters, so a 4.1 broker refuses them (checked below).
KAFKA_3_ONLY = ("message.downconversion.enable", "message.format.version", "message.timestamp.difference.max.ms")
# Needs tiered storage enabled in the broker (this one has it off): only `false` is asked.
NEEDS_TIERED_STORAGE = {"remote.storage.enable": ["true"]}
SAMPLES: dict[str, list[object]] = {
    "cleanup.policy": ["delete", "compact", "compact,delete", " delete , compact", "", "compact,compact", "none",
                       "Compact"],
    "compression.type": ["zstd", "producer", "ZSTD", "brotli"],
    "message.timestamp.type": ["CreateTime", "LogAppendTime", "createtime"],
    "min.cleanable.dirty.ratio": ["0", "0.5", "1", "1e-3", "-0.1", "1.1", "abc"],
    "follower.replication.throttled.replicas": ["*", "0:1,1:2", " 0:1 , 1:2", "", "x", "0:1,*"],
    "leader.replication.throttled.replicas": ["*", "0:1", "1:", "*,*"],
}
BOOLEAN = ["true", "false", "TRUE", " false ", "yes", "1"]
# Values Kafka's validation takes but its broker cannot use, which topology refuses: a segment.index.bytes
# below 12 passes CreateTopics, then the broker fails to open the partition's time index ("Invalid max index
# size"; the partition never answers ListOffsets). Never created here: it upsets the broker's metadata.
UNUSABLE = {"segment.index.bytes": {str(n) for n in range(4, 12)}}


def _broker_takes(admin: Any, key: str, value: str) -> bool:
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import NewTopic

    future = admin.create_topics([NewTopic("topology.config-probe", 1, 1, config={key: value})],
                                 validate_only=True)["topology.config-probe"]
    try:
        future.result()
    except KafkaException as exc:
        assert exc.args[0].name() in ("INVALID_CONFIG", "POLICY_VIOLATION"), exc
        return False
    return True


def _we_take(key: str, value: object) -> bool:
    _, problems = normalise_topic_config({key: value})
    return not problems


def _edges(key: str) -> list[object]:
    """The values around each boundary of `key`, as strings (the quoted form) and as numbers."""
    setting = TOPIC_CONFIG[key]
    if key in SAMPLES:
        return SAMPLES[key]
    if setting.bounds is None:
        return list(BOOLEAN)
    low, high = setting.bounds
    numbers = {low - 1, low, low + 1, high - 1, high, high + 1, -2, -1, 0, 1, INT_MAX, INT_MAX + 1, LONG_MAX,
               LONG_MAX + 1, LONG_MIN, LONG_MIN - 1, *setting.also}
    return [str(n) for n in sorted(numbers)] + sorted(numbers)


@pytest.mark.parametrize("key", sorted(k for k in TOPIC_CONFIG if k not in KAFKA_3_ONLY))
def test_every_topic_config_range_is_the_brokers(key: str, kafka_admin: Any) -> None:
    disagree = []
    for value in _edges(key):
        if str(value).strip().lower() in NEEDS_TIERED_STORAGE.get(key, []):
            continue
        ours, theirs = _we_take(key, value), _broker_takes(kafka_admin, key, str(value))
        if str(value) in UNUSABLE.get(key, set()):
            assert theirs and not ours, f"{key} {value!r}: Kafka's validation {'takes' if theirs else 'refuses'} it"
            continue
        if ours != theirs:
            disagree.append(f"{value!r}: topology {'takes' if ours else 'refuses'} it, Kafka "
                            f"{'takes' if theirs else 'refuses'} it")
    assert not disagree, f"{key}: " + "; ".join(disagree)


def test_the_kafka_3_configs_are_refused_by_a_kafka_4_broker(kafka_admin: Any) -> None:
    for key in KAFKA_3_ONLY:
        assert not _broker_takes(kafka_admin, key, "0"), f"{key} is still a topic config of this broker"


@pytest.mark.parametrize(("key", "value", "stored"), [
    ("retention.ms", -1, "-1"), ("retention.ms", "-1", "-1"), ("retention.ms", "7d", "604800000"),
    ("retention.bytes", -1, "-1"), ("retention.bytes", "-1", "-1"), ("retention.bytes", "1GiB", "1073741824"),
    ("local.retention.ms", "-2", "-2"), ("local.retention.bytes", -2, "-2"),
    ("compression.gzip.level", "-1", "-1"), ("segment.ms", " 42 ", "42"), ("flush.messages", LONG_MAX, str(LONG_MAX)),
    ("cleanup.policy", "", ""), ("cleanup.policy", "delete,compact", "compact,delete"),
    ("preallocate", "TRUE", "true"), ("min.cleanable.dirty.ratio", "0.50", "0.5"),
])
def test_special_and_quoted_values_are_what_kafka_stores(key: str, value: object, stored: str) -> None:
    assert normalise_topic_config({key: value}) == ({key: stored}, {})


def test_min_compaction_lag_above_max_is_refused_as_kafka_refuses_it() -> None:
    _, problems = normalise_topic_config({"min.compaction.lag.ms": "10", "max.compaction.lag.ms": 5})
    assert "min.compaction.lag.ms (10) is above max.compaction.lag.ms (5)" in problems["min.compaction.lag.ms"]


# ---------------------------------------------------------------------------------- quotas, SCRAM


def _quota_takes(key: str, value: float) -> bool:
    from kafka import KafkaAdminClient
    from kafka.protocol.admin import AlterClientQuotasRequest

    entry = AlterClientQuotasRequest.EntryData
    entity = [entry.EntityData(entity_type="ip", entity_name="192.0.2.1")] if key == "connection_creation_rate" \
        else [entry.EntityData(entity_type="user", entity_name="topology.quota-probe")]
    client = KafkaAdminClient(bootstrap_servers=KAFKA_BOOTSTRAP)
    try:
        request = AlterClientQuotasRequest(entries=[entry(entity=entity, ops=[
            entry.OpData(key=key, value=value, remove=False)])], validate_only=True)
        answer = client._manager.run(client._manager.send, request).to_dict()
    finally:
        client.close()
    return bool(answer["entries"][0]["error_code"] == 0)


@pytest.mark.parametrize("key", sorted(QUOTA_KEYS))
def test_every_quota_range_is_the_brokers(key: str) -> None:
    spec = QUOTA_KEYS[key]
    values = [-1.0, 0.0, 1.0, 1.5, 1e9, float(INT_MAX), float(INT_MAX) + 1, 9.3e18]
    disagree = []
    for value in values:
        try:
            normalise_quota(key, value)
            ours = True
        except ValueError:
            ours = False
        theirs = _quota_takes(key, value)
        if ours != theirs:
            disagree.append(f"{value!r}: topology {'takes' if ours else 'refuses'} it, Kafka "
                            f"{'takes' if theirs else 'refuses'} it")
    assert not disagree, f"{key} ({'whole' if spec.whole else 'fractional'}): " + "; ".join(disagree)


def test_quota_infinity_and_nan_are_refused_although_kafka_lets_them_through() -> None:
    for value in (float("inf"), float("nan")):
        assert _quota_takes("request_percentage", value)  # Kafka takes them...
        with pytest.raises(ValueError, match="finite"):  # ...but neither is a quota
            normalise_quota("request_percentage", value)


def test_scram_iterations_are_the_brokers(kafka_admin: Any) -> None:
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import (
        ScramCredentialInfo,
        ScramMechanism,
        UserScramCredentialDeletion,
        UserScramCredentialUpsertion,
    )

    low, high = SCRAM_ITERATIONS
    user = "topology.scram-probe"
    try:
        for iterations, taken in ((low - 1, False), (low, True), (high, True), (high + 1, False)):
            info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, iterations)
            future = kafka_admin.alter_user_scram_credentials([UserScramCredentialUpsertion(user, info, b"x")])[user]
            try:
                future.result()
                accepted = True
            except KafkaException:
                accepted = False
            assert accepted == taken, iterations
    finally:
        kafka_admin.alter_user_scram_credentials([UserScramCredentialDeletion(
            user, ScramMechanism.SCRAM_SHA_256)])[user].result()


# ------------------------------------------------------------------------ -1 and friends round-trip


def test_keep_forever_round_trips(tmp_path: Path, kafka_prefix: str, kafka_admin: Any) -> None:
    """A topic that keeps records forever (retention -1, as real topics do) is exported, validated and
    planned empty; and a hand-written file saying so, quoted or not, is valid and planned empty too."""
    from confluent_kafka.admin import NewTopic

    name = f"{kafka_prefix}forever"
    config = {"retention.ms": "-1", "retention.bytes": "-1", "local.retention.ms": "-2"}
    kafka_admin.create_topics([NewTopic(name, 1, 1, config=config)])[name].result()
    exported = tmp_path / "exported.topology.yaml"
    result = topology("export", "--target", f"events={KAFKA_BOOTSTRAP}", "--kind", "kafka", "--to", str(exported),
                      "--include", f"kafka/topic/{kafka_prefix}*", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    written = yaml.safe_load(exported.read_text())["kafka"]["topics"][name]["config"]
    assert written == {"retention.ms": -1, "retention.bytes": -1, "local.retention.ms": -2}
    env = {"TOPOLOGY_TARGET_EVENTS": KAFKA_BOOTSTRAP}
    validated = topology("validate", str(exported), cwd=tmp_path, env=env)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    plan = topology("plan", str(exported), "--detailed-exitcode", cwd=tmp_path, env=env)
    assert plan.returncode == 0, plan.stdout + plan.stderr

    for quoted in (True, False):
        text = exported.read_text()
        for key, value in config.items():
            text = text.replace(f"{key}: {value}", f"{key}: '{value}'" if quoted else f"{key}: {value}")
        assert ("retention.ms: '-1'" in text) == quoted
        hand = tmp_path / f"hand-{quoted}.topology.yaml"
        hand.write_text(text)
        plan = topology("plan", str(hand), "--detailed-exitcode", cwd=tmp_path, env=env)
        assert plan.returncode == 0, plan.stdout + plan.stderr


def test_special_values_are_set_changed_and_removed_by_apply(tmp_path: Path, kafka_prefix: str,
                                                            kafka_admin: Any) -> None:
    from confluent_kafka.admin import ConfigResource, ConfigSource, ResourceType

    name = f"{kafka_prefix}special"

    def stored() -> dict[str, str]:
        resource = ConfigResource(ResourceType.TOPIC, name)
        entries = kafka_admin.describe_configs([resource])[resource].result()
        return {k: e.value for k, e in entries.items() if e.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value}

    def file(config: str) -> Path:
        path = tmp_path / "t.topology.yaml"
        path.write_text(f"""version: 1
targets:
  events: {{kind: kafka, bootstrap_servers: "{KAFKA_BOOTSTRAP}"}}
kafka:
  target: events
  topics:
    {name}: {{partitions: 1, config: {{{config}}}}}
""")
        return path

    steps = [("retention.ms: 7d, cleanup.policy: delete", {"retention.ms": "604800000", "cleanup.policy": "delete"}),
             ("retention.ms: -1, retention.bytes: '-1', cleanup.policy: '', segment.jitter.ms: 9223372036854775807",
              {"retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "",
               "segment.jitter.ms": str(LONG_MAX)}),
             ("local.retention.ms: '-2'", {"local.retention.ms": "-2"})]
    for config, expected in steps:
        path = file(config)
        applied = topology("apply", str(path), "--auto-approve", "--allow-data-loss", cwd=tmp_path)
        assert applied.returncode == 0, applied.stdout + applied.stderr
        assert stored() == expected
        plan = topology("plan", str(path), "--detailed-exitcode", cwd=tmp_path)
        assert plan.returncode == 0, plan.stdout + plan.stderr
