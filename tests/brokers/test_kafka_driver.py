"""The Kafka driver on the real broker: configs, partitions, groups, ACLs, defaults that never show
as diffs, and one-sentence errors."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.cli import topology, with_file
from tests.conftest import KAFKA_BOOTSTRAP

pytestmark = pytest.mark.kafka


def _doc(prefix: str, body: str, bootstrap: str = KAFKA_BOOTSTRAP) -> str:
    return f"""version: 1
targets:
  events: {{kind: kafka, bootstrap_servers: "{bootstrap}"}}
kafka:
  target: events
{body.replace("P.", prefix)}"""


def _run(folder: Path, text: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return with_file(folder, text, args[0], *args[1:], timeout=timeout)


def _plan_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line.strip() for line in result.stdout.splitlines() if line.strip().startswith(("~", "+", "-"))]


@pytest.fixture
def prefix(kafka_prefix: str) -> str:
    return kafka_prefix


def test_topic_without_config_plans_empty_and_broker_defaults_never_show(tmp_path: Path, prefix: str,
                                                                        kafka_admin: Any) -> None:
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

    text = _doc(prefix, "  topics:\n    P.plain: {partitions: 2}\n")
    assert _run(tmp_path, text, "apply", "--auto-approve").returncode == 0
    assert "No changes" in _run(tmp_path, text, "plan").stdout

    # A broker-level dynamic override (broker 1, the local cluster's only broker) of the topic default.
    cluster_default = ConfigResource(ResourceType.BROKER, "1", incremental_configs=[
        ConfigEntry("log.retention.ms", "123456789", incremental_operation=AlterConfigOpType.SET)])
    for future in kafka_admin.incremental_alter_configs([cluster_default]).values():
        future.result()
    try:
        plan = _run(tmp_path, text, "plan", "--detailed-exitcode")
        assert plan.returncode == 0 and "No changes" in plan.stdout
    finally:
        reset = ConfigResource(ResourceType.BROKER, "1", incremental_configs=[
            ConfigEntry("log.retention.ms", None, incremental_operation=AlterConfigOpType.DELETE)])
        for future in kafka_admin.incremental_alter_configs([reset]).values():
            future.result()


def test_partitions_grow_configs_change_and_removed_keys_are_deleted(tmp_path: Path, prefix: str,
                                                                    kafka_admin: Any) -> None:
    before = _doc(prefix, "  topics:\n    P.orders: {partitions: 3, config: {retention.ms: 7d, "
                          "max.message.bytes: 1MiB}}\n")
    assert _run(tmp_path, before, "apply", "--auto-approve").returncode == 0
    after = _doc(prefix, "  topics:\n    P.orders: {partitions: 6, config: {retention.ms: 3d}}\n")
    plan = _run(tmp_path, after, "plan")
    assert _plan_lines(plan) == [
        f"~ kafka/topic/{prefix}orders  [kafka.topic on events]",
        '~ config     = {"max.message.bytes": "1048576", "retention.ms": "604800000"} -> {"retention.ms": "259200000"}',
        "~ partitions = 3 -> 6"]
    assert _run(tmp_path, after, "apply", "--auto-approve").returncode == 0
    metadata = kafka_admin.list_topics(timeout=10).topics[f"{prefix}orders"]
    assert len(metadata.partitions) == 6
    from confluent_kafka.admin import ConfigResource, ConfigSource, ResourceType

    resource = ConfigResource(ResourceType.TOPIC, f"{prefix}orders")
    entries = kafka_admin.describe_configs([resource])[resource].result()
    dynamic = {k: e.value for k, e in entries.items() if e.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value}
    assert dynamic == {"retention.ms": "259200000"}
    assert "No changes" in _run(tmp_path, after, "plan").stdout

    shrink = _run(tmp_path, after.replace("partitions: 6", "partitions: 4"), "plan")
    assert shrink.returncode == 1
    assert "partitions can only grow; live has 6, the file asks for 4" in shrink.stderr


def test_groups_start_at_their_initial_offset_and_are_never_moved(tmp_path: Path, prefix: str,
                                                                  kafka_admin: Any) -> None:
    from confluent_kafka import ConsumerGroupTopicPartitions, Producer

    topics = "  topics:\n    P.orders: {partitions: 2}\n"
    assert _run(tmp_path, _doc(prefix, topics), "apply", "--auto-approve").returncode == 0
    producer = Producer({"bootstrap.servers": KAFKA_BOOTSTRAP})
    for index in range(10):
        producer.produce(f"{prefix}orders", f"m{index}".encode(), partition=index % 2)
    assert producer.flush(30) == 0
    groups = topics + ("  consumer_groups:\n    P.from-start: {topics: [P.orders], initial_offset: earliest}\n"
                       "    P.from-now: {topics: [P.orders], initial_offset: latest}\n")
    assert _run(tmp_path, _doc(prefix, groups), "apply", "--auto-approve").returncode == 0

    def committed(group: str) -> list[int]:
        request = [ConsumerGroupTopicPartitions(group)]
        result = kafka_admin.list_consumer_group_offsets(request)[group].result()
        return sorted(tp.offset for tp in result.topic_partitions)

    assert committed(f"{prefix}from-start") == [0, 0]
    assert committed(f"{prefix}from-now") == [5, 5]
    flipped = groups.replace("initial_offset: earliest", "initial_offset: latest")
    assert "No changes" in _run(tmp_path, _doc(prefix, flipped), "plan").stdout  # an existing group is not moved


def test_acls_are_exact_bindings(tmp_path: Path, prefix: str) -> None:
    acls = f"""  acls:
    - principal: "User:{prefix}billing"
      resource: {{type: topic, name: "{prefix}", pattern: prefixed}}
      operations: [read, describe]
    - principal: "User:{prefix}billing"
      resource: {{type: group, name: "{prefix}billing"}}
      operations: [read]
      permission: deny
      host: 10.0.0.1
"""
    text = _doc(prefix, acls)
    applied = _run(tmp_path, text, "apply", "--auto-approve")
    assert applied.returncode == 0, applied.stderr
    assert "No changes" in _run(tmp_path, text, "plan").stdout
    fewer = text.replace("operations: [read, describe]", "operations: [read]")
    fewer += f"manage: {{prune: true, include: ['kafka/acl/User:{prefix}billing/*']}}\n"
    plan = _run(tmp_path, fewer, "plan")
    assert _plan_lines(plan)[0] == (
        f"- kafka/acl/User:{prefix}billing/topic/prefixed/{prefix}/describe/allow/*  [kafka.acl on events]")
    assert _run(tmp_path, fewer, "apply", "--auto-approve", "--allow-delete").returncode == 0
    assert "No changes" in _run(tmp_path, fewer, "plan").stdout


def test_unreachable_cluster_is_one_sentence_in_seconds(tmp_path: Path, prefix: str) -> None:
    result = _run(tmp_path, _doc(prefix, "  topics:\n    P.x: {}\n", bootstrap="127.0.0.1:1"), "plan", timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().startswith("Error: Kafka at 127.0.0.1:1 is not reachable")
    assert len(result.stderr.strip().splitlines()) == 1


def test_export_then_plan_gives_no_changes(tmp_path: Path, prefix: str) -> None:
    body = f"""  topics:
    P.orders: {{partitions: 3, config: {{retention.ms: 7d, cleanup.policy: "compact,delete"}}}}
  consumer_groups:
    P.billing: {{topics: [P.orders]}}
  acls:
    - principal: "User:{prefix}svc"
      resource: {{type: topic, name: "{prefix}orders"}}
      operations: [write]
"""
    assert _run(tmp_path, _doc(prefix, body), "apply", "--auto-approve").returncode == 0
    exported = tmp_path / "exported.topology.yaml"
    result = topology("export", "--target", f"events={KAFKA_BOOTSTRAP}", "--kind", "kafka", "--to", str(exported),
                      "--include", f"kafka/*{prefix}*", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    text = exported.read_text()
    assert f"{prefix}orders:" in text and "retention.ms: 604800000\n" in text  # typed, in Kafka's unit
    plan = topology("plan", str(exported), "--detailed-exitcode", cwd=tmp_path,
                    env={"TOPOLOGY_TARGET_EVENTS": KAFKA_BOOTSTRAP})
    assert plan.returncode == 0, plan.stdout + plan.stderr
