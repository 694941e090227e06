"""Kafka keeps the promises a plan makes: what was empty when planned is re-checked when applied,
groups count their committed offsets, every apply converges at once (the very next plan is empty,
on one broker and on three), ACL flips replace the old binding, two applies exclude each other,
and a wrong protocol or a silent endpoint is one bounded sentence that never shows a password."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli import topology, with_file
from tests.conftest import KAFKA_BOOTSTRAP, KAFKA_CLUSTER_BOOTSTRAP, unique
from tests.faults import SilentServer

pytestmark = pytest.mark.kafka


def _doc(prefix: str, body: str, bootstrap: str = KAFKA_BOOTSTRAP, target: str = "") -> str:
    return f"""version: 1
targets:
  events: {{kind: kafka, bootstrap_servers: "{bootstrap}"{target}}}
kafka:
  target: events
{body.replace("P.", prefix)}"""


def _run(folder: Path, text: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return with_file(folder, text, args[0], *args[1:], timeout=timeout)


def _produce(topic: str, count: int, bootstrap: str = KAFKA_BOOTSTRAP) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap})
    for index in range(count):
        producer.produce(topic, f"m{index}".encode())
    assert producer.flush(30) == 0


def _dynamic_config(admin: Any, topic: str) -> dict[str, str]:
    from confluent_kafka.admin import ConfigResource, ConfigSource, ResourceType

    resource = ConfigResource(ResourceType.TOPIC, topic)
    entries = admin.describe_configs([resource])[resource].result()
    return {k: e.value for k, e in entries.items() if e.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value}


def _bindings(admin: Any, principal: str) -> set[tuple[str, str, str]]:
    from confluent_kafka.admin import (
        AclBindingFilter,
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
        ResourceType,
    )

    query = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, principal, None, AclOperation.ANY,
                             AclPermissionType.ANY)
    return {(b.operation.name.lower(), b.permission_type.name.lower(), b.host)
            for b in admin.describe_acls(query).result()}


@pytest.fixture
def prefix(kafka_prefix: str) -> str:
    return kafka_prefix


@pytest.fixture
def principal(kafka_admin: Any) -> Iterator[str]:
    from confluent_kafka.admin import (
        AclBindingFilter,
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
        ResourceType,
    )

    name = f"User:{unique('safety')}"
    yield name
    query = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, name, None, AclOperation.ANY,
                             AclPermissionType.ANY)
    kafka_admin.delete_acls([query])[query].result()


# ------------------------------------------------------------------------------ saved plans


def test_saved_plan_refuses_to_delete_a_topic_that_filled_since(tmp_path: Path, prefix: str, kafka_admin: Any) -> None:
    kept = "  topics:\n    P.orders: {partitions: 2}\n"
    assert _run(tmp_path, _doc(prefix, kept + "    P.audit: {partitions: 2}\n"), "apply", "--auto-approve"
                ).returncode == 0
    pruned = _doc(prefix, kept) + f"manage: {{prune: true, include: ['kafka/topic/{prefix}*']}}\n"
    saved = tmp_path / "prune.plan"
    plan = _run(tmp_path, pruned, "plan", "--out", str(saved))
    assert plan.returncode == 0 and f"- kafka/topic/{prefix}audit" in plan.stdout
    assert "loses data" not in plan.stdout  # empty when planned: only --allow-delete is needed

    _produce(f"{prefix}audit", 20)
    applied = topology("apply", str(saved), "--auto-approve", "--allow-delete", cwd=tmp_path)
    assert applied.returncode == 1
    assert "refused to delete it: it was empty when planned but now holds 20 messages" in applied.stderr
    assert f"{prefix}audit" in kafka_admin.list_topics(timeout=10).topics  # nothing lost


def test_saved_plan_refuses_to_shorten_retention_of_a_topic_that_filled_since(tmp_path: Path, prefix: str,
                                                                              kafka_admin: Any) -> None:
    long = _doc(prefix, "  topics:\n    P.orders: {partitions: 1, config: {retention.ms: 7d}}\n")
    assert _run(tmp_path, long, "apply", "--auto-approve").returncode == 0
    saved = tmp_path / "shorten.plan"
    assert _run(tmp_path, long.replace("7d", "1h"), "plan", "--out", str(saved)).returncode == 0

    _produce(f"{prefix}orders", 5)
    applied = topology("apply", str(saved), "--auto-approve", cwd=tmp_path)
    assert applied.returncode == 1
    assert "refused to change it: it was empty when planned but now holds 5 messages" in applied.stderr
    assert _dynamic_config(kafka_admin, f"{prefix}orders") == {"retention.ms": "604800000"}

    # Planned now, the loss is said up front and needs the flag.
    plan = _run(tmp_path, long.replace("7d", "1h"), "plan")
    assert "loses data: up to 5 messages (retention.ms 604800000 -> 3600000)" in plan.stdout


# --------------------------------------------------------------------------- consumer positions


def test_a_group_counts_its_committed_offsets_and_pruning_it_is_data_loss(tmp_path: Path, prefix: str) -> None:
    body = ("  topics:\n    P.orders: {partitions: 3}\n"
            "  consumer_groups:\n    P.billing: {topics: [P.orders], initial_offset: earliest}\n")
    assert _run(tmp_path, _doc(prefix, body), "apply", "--auto-approve").returncode == 0
    without = _doc(prefix, "  topics:\n    P.orders: {partitions: 3}\n") + \
        f"manage: {{prune: true, include: ['kafka/group/{prefix}*']}}\n"
    plan = _run(tmp_path, without, "plan")
    assert f"- kafka/group/{prefix}billing" in plan.stdout
    assert "loses data: 3 committed offsets" in plan.stdout
    refused = _run(tmp_path, without, "apply", "--auto-approve", "--allow-delete")
    assert refused.returncode == 1 and "--allow-data-loss" in refused.stderr


def test_a_group_delete_planned_empty_is_refused_once_it_has_committed_offsets(prefix: str,
                                                                               kafka_admin: Any) -> None:
    from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
    from confluent_kafka.admin import NewTopic

    from topology.brokers.kafka.driver import KafkaDriver
    from topology.engine.plan import Change

    topic, group = f"{prefix}orders", f"{prefix}billing"
    kafka_admin.create_topics([NewTopic(topic, 2, 1)])[topic].result()
    deadline = time.monotonic() + 30
    while not all(p.leader >= 0 for p in kafka_admin.list_topics(topic, timeout=10).topics[topic].partitions.values()
                  ) and time.monotonic() < deadline:
        time.sleep(0.1)
    # A saved plan made while the group held nothing: a delete that must find it still empty.
    change = Change(address=f"kafka/group/{group}", kind="kafka.group", target="events", name=group,
                    action="delete", before={"topics": []}, messages=0, needs_empty=True)
    request = ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0, 1), TopicPartition(topic, 1, 1)])
    kafka_admin.alter_consumer_group_offsets([request])[group].result()
    with KafkaDriver(KAFKA_BOOTSTRAP) as driver:
        [result] = driver.apply([change], {})
    assert not result.ok
    assert result.error is not None and "now holds 2 committed offsets" in result.error
    kept = kafka_admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result()
    assert sorted(tp.offset for tp in kept.topic_partitions) == [1, 1]


# ------------------------------------------------------------------------------- convergence


def _round_body(prefix: str, principal: str, round_: int, acls: bool) -> str:
    body = (f"  topics:\n    P.orders:\n      partitions: {round_ + 1}\n"
            f"      config: {{retention.ms: {round_ + 1}h, max.message.bytes: {1000 + round_}, "
            f"segment.ms: {round_ + 1}d}}\n")
    if acls:
        operations = ["read", "write", "describe"][:1 + round_ % 3]
        body += f"""  acls:
    - principal: "{principal}"
      resource: {{type: topic, name: "P.orders"}}
      operations: [{", ".join(operations)}]
      permission: {"allow" if round_ % 2 else "deny"}
"""
    return body


def _converge_rounds(folder: Path, prefix: str, principal: str, bootstrap: str, acls: bool) -> None:
    """Ten applies, each followed at once (same process, no start-up delay) by a plan that must be empty."""
    from topology.engine.session import Engine

    path = folder / "t.topology.yaml"
    for round_ in range(10):
        path.write_text(_doc(prefix, _round_body(prefix, principal, round_, acls), bootstrap=bootstrap))
        with Engine([str(path)], lock=True, lock_wait=20) as engine:
            plan = engine.plan()
            assert not plan.is_empty, f"round {round_}: nothing to do"
            report = engine.apply(plan)
            assert not report.failed, f"round {round_}: {report.failed}"
        with Engine([str(path)]) as engine:
            after = engine.plan()
        assert after.is_empty, f"round {round_}: the next plan is not empty: {[c.address for c in after.changes]}"
    last = _run(folder, path.read_text(), "plan", "--detailed-exitcode")
    assert last.returncode == 0, last.stdout + last.stderr


def test_every_apply_converges_at_once_on_one_broker(tmp_path: Path, prefix: str, principal: str) -> None:
    _converge_rounds(tmp_path, prefix, principal, KAFKA_BOOTSTRAP, acls=True)


def test_every_apply_converges_at_once_on_three_brokers(tmp_path: Path, kafka_cluster_admin: Any) -> None:
    prefix = unique("converge").replace("-", ".") + "."
    try:
        _converge_rounds(tmp_path, prefix, "", KAFKA_CLUSTER_BOOTSTRAP, acls=False)
    finally:
        topics = [t for t in kafka_cluster_admin.list_topics(timeout=10).topics if t.startswith(prefix)]
        for future in kafka_cluster_admin.delete_topics(topics, operation_timeout=30).values():
            future.result()


# --------------------------------------------------------------------------------------- ACLs


def test_allow_to_deny_replaces_the_binding(tmp_path: Path, prefix: str, principal: str, kafka_admin: Any) -> None:
    allow = _doc(prefix, f"""  acls:
    - principal: "{principal}"
      resource: {{type: topic, name: "P.orders"}}
      operations: [write]
""")
    assert _run(tmp_path, allow, "apply", "--auto-approve").returncode == 0
    assert _bindings(kafka_admin, principal) == {("write", "allow", "*")}
    deny = allow.replace("operations: [write]", "operations: [write]\n      permission: deny")
    plan = _run(tmp_path, deny, "plan")
    assert f"-/+ kafka/acl/{principal}/topic/literal/{prefix}orders/write/deny/*" in plan.stdout
    assert 'permission = "allow" -> "deny"   # forces replacement' in plan.stdout
    applied = _run(tmp_path, deny, "apply", "--auto-approve")
    assert applied.returncode == 0, applied.stderr
    assert _bindings(kafka_admin, principal) == {("write", "deny", "*")}  # the allow is gone
    assert _run(tmp_path, deny, "plan", "--detailed-exitcode").returncode == 0


def test_allow_from_everywhere_and_deny_from_one_host_are_two_bindings(tmp_path: Path, prefix: str,
                                                                       principal: str, kafka_admin: Any) -> None:
    # The pattern Kafka's documentation gives for "everyone but one host".
    body = f"""  acls:
    - principal: "{principal}"
      resource: {{type: topic, name: "P.orders"}}
      operations: [write]
    - principal: "{principal}"
      resource: {{type: topic, name: "P.orders"}}
      operations: [write]
      permission: deny
      host: 198.51.100.7
"""
    text = _doc(prefix, body)
    assert _run(tmp_path, text, "validate").returncode == 0
    applied = _run(tmp_path, text, "apply", "--auto-approve")
    assert applied.returncode == 0, applied.stderr
    assert _bindings(kafka_admin, principal) == {("write", "allow", "*"), ("write", "deny", "198.51.100.7")}
    assert _run(tmp_path, text, "plan", "--detailed-exitcode").returncode == 0

    exported = tmp_path / "exported.topology.yaml"
    result = topology("export", "--target", f"events={KAFKA_BOOTSTRAP}", "--kind", "kafka", "--to", str(exported),
                      cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    import yaml

    acls = [a for a in yaml.safe_load(exported.read_text())["kafka"]["acls"] if a["principal"] == principal]
    assert sorted((a["permission"], a["host"], a["operations"]) for a in acls) == [
        ("allow", "*", ["write"]), ("deny", "198.51.100.7", ["write"])]


# --------------------------------------------------------------------------------------- lock


_HOLD = """
import sys, time
from topology.brokers.kafka.driver import KafkaDriver
driver = KafkaDriver(sys.argv[1])
driver.lock(sys.argv[2], 0)
print("locked", flush=True)
time.sleep(600)
"""


def test_two_applies_exclude_each_other_and_a_killed_holder_frees_the_lock(kafka_admin: Any) -> None:
    from topology.brokers.kafka.driver import KafkaDriver
    from topology.errors import LockedError

    holder = f"ci@runner pid {unique('holder')}"
    process = subprocess.Popen([sys.executable, "-c", _HOLD, KAFKA_BOOTSTRAP, holder], stdout=subprocess.PIPE,
                               text=True, env={**os.environ})
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "locked"
        with KafkaDriver(KAFKA_BOOTSTRAP) as second:
            started = time.monotonic()
            with pytest.raises(LockedError) as refused:
                second.lock("second", 1)
            assert holder in str(refused.value) and KAFKA_BOOTSTRAP in str(refused.value)
            assert time.monotonic() - started < 10
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        with KafkaDriver(KAFKA_BOOTSTRAP) as third:
            started = time.monotonic()
            third.lock("third", 30)  # the broker drops the dead member after its session timeout
            freed_after = time.monotonic() - started
        assert freed_after < 15
        with KafkaDriver(KAFKA_BOOTSTRAP) as fourth:  # closing released it at once
            fourth.lock("fourth", 0)
    finally:
        process.kill()
        process.wait(10)


# ------------------------------------------------------------------------------------- errors


def _one_sentence(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert result.returncode == 1
    error = result.stderr.strip()
    assert len(error.splitlines()) == 1 and "Traceback" not in error, error
    for needle in needles:
        assert needle in error, error
    return error


@pytest.mark.parametrize("protocol, mechanism, says", [("SASL_SSL", "PLAIN", "answered as plaintext"),
                                                        ("SASL_PLAINTEXT", "SCRAM-SHA-512", "does not do SASL")])
def test_tls_or_sasl_against_the_plaintext_port_says_so_without_the_password(
        tmp_path: Path, prefix: str, protocol: str, mechanism: str, says: str) -> None:
    secret = unique("hunter2")
    target = f", config: {{security.protocol: {protocol}, sasl.mechanism: {mechanism}, sasl.username: u, " \
             f"sasl.password: {secret}}}"
    started = time.monotonic()
    result = _run(tmp_path, _doc(prefix, "  topics:\n    P.x: {}\n", target=target), "plan")
    assert time.monotonic() - started < 10
    _one_sentence(result, f"Kafka at {KAFKA_BOOTSTRAP}", says, "check security.protocol")
    assert secret not in result.stderr + result.stdout


def test_an_endpoint_that_accepts_and_never_answers_is_bounded_by_the_connect_timeout(
        tmp_path: Path, prefix: str, silent_server: SilentServer) -> None:
    address = f"127.0.0.1:{silent_server.port}"
    started = time.monotonic()
    result = _run(tmp_path, _doc(prefix, "  topics:\n    P.x: {}\n", bootstrap=address,
                                 target=", connect_timeout: 2s"), "plan")
    elapsed = time.monotonic() - started
    _one_sentence(result, f"Kafka at {address}", "did not answer as Kafka within 2s", "security.protocol")
    assert silent_server.accepted  # it did accept the connection
    assert elapsed < 8


def test_an_invalid_client_setting_is_one_sentence_without_its_value(tmp_path: Path, prefix: str) -> None:
    secret = unique("hunter2")
    target = f", config: {{sasl.pasword: {secret}}}"
    result = _run(tmp_path, _doc(prefix, "  topics:\n    P.x: {}\n", target=target), "plan")
    _one_sentence(result, f"the config of the Kafka target at {KAFKA_BOOTSTRAP} is not valid", "sasl.pasword")
    assert secret not in result.stderr + result.stdout


@pytest.mark.parametrize("key, field", [("bootstrap.servers", "bootstrap_servers"),
                                        ("socket.timeout.ms", "timeout")])
def test_a_client_setting_the_target_gives_is_refused_not_overridden(tmp_path: Path, prefix: str, key: str,
                                                                     field: str) -> None:
    result = _run(tmp_path, _doc(prefix, "  topics:\n    P.x: {}\n", target=f", config: {{{key}: '9'}}"), "plan")
    _one_sentence(result, f"sets {key}, which topology sets from the target itself; use {field} instead")
