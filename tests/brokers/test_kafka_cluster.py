"""On the three-broker KRaft cluster: replication factor changes by reassignment, min.insync.replicas,
and ACL sections refused clearly on a cluster without an authorizer."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli import with_file
from tests.conftest import KAFKA_CLUSTER_BOOTSTRAP, unique

pytestmark = pytest.mark.kafka


@pytest.fixture
def prefix(kafka_cluster_admin: Any) -> Iterator[str]:
    name = unique("cluster").replace("-", ".") + "."
    yield name
    topics = [t for t in kafka_cluster_admin.list_topics(timeout=10).topics if t.startswith(name)]
    if topics:
        for future in kafka_cluster_admin.delete_topics(topics, operation_timeout=30).values():
            future.result()


def _run(folder: Path, body: str, *args: str) -> subprocess.CompletedProcess[str]:
    return with_file(folder, f"""version: 1
targets:
  events: {{kind: kafka, bootstrap_servers: "{KAFKA_CLUSTER_BOOTSTRAP}"}}
kafka:
  target: events
{body}""", args[0], *args[1:])


def test_replication_factor_one_to_three_by_reassignment(tmp_path: Path, prefix: str,
                                                        kafka_cluster_admin: Any) -> None:
    one = f"  topics:\n    {prefix}orders: {{partitions: 3, replication_factor: 1}}\n"
    assert _run(tmp_path, one, "apply", "--auto-approve").returncode == 0
    three = one.replace("replication_factor: 1", "replication_factor: 3")
    plan = _run(tmp_path, three, "plan")
    assert "~ replication_factor = 1 -> 3" in plan.stdout
    applied = _run(tmp_path, three, "apply", "--auto-approve")
    assert applied.returncode == 0, applied.stderr
    partitions = kafka_cluster_admin.list_topics(timeout=10).topics[f"{prefix}orders"].partitions
    assert [sorted(p.replicas) for p in partitions.values()] == [[1, 2, 3]] * 3
    leaders = sorted(p.replicas[0] for p in partitions.values())
    assert leaders == sorted(set(leaders))  # the preferred leaders stay spread over the brokers
    assert "No changes" in _run(tmp_path, three, "plan").stdout


def test_min_insync_replicas_on_a_replicated_topic(tmp_path: Path, prefix: str, kafka_cluster_admin: Any) -> None:
    from confluent_kafka.admin import ConfigResource, ResourceType

    body = (f"  topics:\n    {prefix}payments: {{partitions: 2, replication_factor: 3, "
            "config: {min.insync.replicas: 2}}\n")
    assert _run(tmp_path, body, "apply", "--auto-approve").returncode == 0
    resource = ConfigResource(ResourceType.TOPIC, f"{prefix}payments")
    entries = kafka_cluster_admin.describe_configs([resource])[resource].result()
    assert entries["min.insync.replicas"].value == "2"
    assert "No changes" in _run(tmp_path, body, "plan").stdout
    too_many = _run(tmp_path, body.replace("replication_factor: 3", "replication_factor: 4"), "apply",
                    "--auto-approve")
    assert too_many.returncode == 1
    assert "replication factor 4 needs 4 brokers; the cluster has 3" in too_many.stderr


def test_acls_on_a_cluster_without_an_authorizer_are_one_clear_error(tmp_path: Path, prefix: str) -> None:
    body = f"""  acls:
    - principal: "User:{prefix}x"
      resource: {{type: topic, name: "{prefix}x"}}
      operations: [read]
"""
    # Kafka answers DescribeAcls with an empty list when no authorizer is configured, so the plan
    # cannot tell; the first CreateAcls says SECURITY_DISABLED and apply reports it in one sentence.
    result = _run(tmp_path, body, "apply", "--auto-approve")
    assert result.returncode == 1
    assert "has no authorizer, so ACLs cannot be managed" in result.stderr
    assert "Traceback" not in result.stderr


def test_scram_credentials_and_quotas_converge_on_every_broker(tmp_path: Path, prefix: str) -> None:
    """Every broker learns credentials and quotas from the metadata log, one after the other: after each
    apply the very next plan, whichever broker it asks, is empty."""
    from tests.brokers.kafka_live import KafkaLive
    from topology.engine.session import Engine

    live = KafkaLive(KAFKA_CLUSTER_BOOTSTRAP)
    path = tmp_path / "t.topology.yaml"
    try:
        for round_ in range(4):
            path.write_text(f"""version: 1
targets:
  events: {{kind: kafka, bootstrap_servers: "{KAFKA_CLUSTER_BOOTSTRAP}"}}
kafka:
  target: events
  users:
    {prefix}alice:
      SCRAM-SHA-512: {{password: "secret-{round_}", iterations: {4096 + round_}}}
  quotas:
    - {{entity: {{user: "{prefix}alice", client-id: <default>}}, consumer_byte_rate: {1024 * (round_ + 1)}}}
""")
            with Engine([str(path)]) as engine:
                report = engine.apply(engine.plan())
                assert not report.failed, f"round {round_}: {report.failed}"
            with Engine([str(path)]) as engine:
                after = engine.plan()
            assert after.is_empty, f"round {round_}: the next plan is not empty: {[c.address for c in after.changes]}"
        assert live.credentials()[(f"{prefix}alice", "SCRAM-SHA-512")] == 4099
    finally:
        live.clean(prefix)
        live.close()


def test_a_replicated_topic_is_adopted_with_its_replication(tmp_path: Path, prefix: str) -> None:
    from tests.brokers.kafka_live import KafkaLive
    from tests.cli import topology

    live = KafkaLive(KAFKA_CLUSTER_BOOTSTRAP)
    copy = prefix.replace("cluster.", "copy.")
    try:
        live.topic(f"{prefix}payments", 3, 3, {"min.insync.replicas": "2", "retention.ms": "-1"})
        exported = tmp_path / "exported.topology.yaml"
        result = topology("export", "--target", f"events={KAFKA_CLUSTER_BOOTSTRAP}", "--kind", "kafka", "--to",
                          str(exported), "--include", f"kafka/topic/{prefix}*", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        env = {"TOPOLOGY_TARGET_EVENTS": KAFKA_CLUSTER_BOOTSTRAP}
        plan = topology("plan", str(exported), "--detailed-exitcode", cwd=tmp_path, env=env)
        assert plan.returncode == 0, plan.stdout + plan.stderr
        copied = tmp_path / "copy.topology.yaml"
        copied.write_text(exported.read_text().replace(prefix, copy))
        applied = topology("apply", str(copied), "--auto-approve", cwd=tmp_path, env=env)
        assert applied.returncode == 0, applied.stdout + applied.stderr
        original = live.snapshot(prefix).topics[f"{prefix}payments"]
        assert live.snapshot(copy).topics[f"{copy}payments"] == original == (3, 3, {
            "min.insync.replicas": "2", "retention.ms": "-1"})
    finally:
        live.clean(copy)
        live.close()
