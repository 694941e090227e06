"""Adopting what a Kafka cluster holds beyond topics: every ACL binding kept apart (host, permission,
names holding `/`), SCRAM credentials (the password a secret: written, never printed, never exported,
never compared) and client quotas (user, client-id, ip, defaults), on the real broker."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.brokers.kafka_live import Binding, KafkaLive
from tests.cli import topology, with_file
from tests.conftest import KAFKA_BOOTSTRAP, unique
from topology.brokers.kafka.config import acl_address
from topology.core.notes import Noted, dump_with_notes

pytestmark = pytest.mark.kafka

ENV = {"TOPOLOGY_TARGET_EVENTS": KAFKA_BOOTSTRAP}


@pytest.fixture
def live() -> Iterator[KafkaLive]:
    client = KafkaLive()
    yield client
    client.close()


@pytest.fixture
def prefix(live: KafkaLive) -> Iterator[str]:
    name = unique("adopt").replace("-", "") + "."
    yield name
    live.clean(name)


def _doc(body: str) -> str:
    return f"""version: 1
targets:
  events: {{kind: kafka, bootstrap_servers: "{KAFKA_BOOTSTRAP}"}}
kafka:
  target: events
{body}"""


def _run(folder: Path, text: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return with_file(folder, text, args[0], *args[1:], env=env, timeout=120)


def _export(folder: Path, *include: str) -> str:
    path = folder / "exported.topology.yaml"
    arguments = [a for glob in include for a in ("--include", glob)]
    result = topology("export", "--target", f"events={KAFKA_BOOTSTRAP}", "--kind", "kafka", "--to", str(path),
                      *arguments, cwd=folder)
    assert result.returncode == 0, result.stderr
    return path.read_text()


# --------------------------------------------------------------------------------------------- ACLs


def test_bindings_that_differ_in_host_permission_or_a_slash_are_all_kept(tmp_path: Path, live: KafkaLive,
                                                                         prefix: str) -> None:
    principal = f"User:{prefix}svc"
    topic = f"{prefix}orders"
    bindings = {Binding(principal, "topic", topic, "literal", "write", permission, host)
                for permission in ("allow", "deny") for host in ("*", "198.51.100.7")}
    # Two bindings whose fields, joined with `/`, are the same text: one name holds what the other's
    # host holds. They are two bindings to Kafka, and must be two to topology.
    bindings |= {Binding(principal, "group", "n", "literal", "read", "allow", "x/read/allow/y"),
                 Binding(principal, "group", "n/read/allow/x", "literal", "read", "allow", "y")}
    for binding in bindings:
        live.acl(binding)
    assert {b for b in live.bindings() if b.principal == principal} == bindings

    text = _export(tmp_path, f"kafka/acl/{principal}/*")
    assert text == _export(tmp_path, f"kafka/acl/{principal}/*")  # the same every time
    entries = yaml.safe_load(text)["kafka"]["acls"]
    exported = {Binding(e["principal"], e["resource"]["type"], e["resource"]["name"], e["resource"]["pattern"],
                        operation, e["permission"], e["host"]) for e in entries for operation in e["operations"]}
    assert exported == bindings
    addresses = {acl_address({"principal": b.principal, "resource_type": b.resource_type,
                              "resource_name": b.resource_name, "pattern_type": b.pattern, "operation": b.operation,
                              "permission": b.permission, "host": b.host}) for b in bindings}
    assert len(addresses) == len(bindings)

    path = tmp_path / "exported.topology.yaml"
    validated = topology("validate", str(path), cwd=tmp_path, env=ENV)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    plan = topology("plan", str(path), "--detailed-exitcode", cwd=tmp_path, env=ENV)
    assert plan.returncode == 0, plan.stdout + plan.stderr


def test_acl_vocabulary_is_kafkas_whole(tmp_path: Path, live: KafkaLive, prefix: str) -> None:
    """The resource types and operations librdkafka lacks (a user's delegation tokens, two-phase commit)."""
    body = f"""  acls:
    - principal: "User:{prefix}ops"
      resource: {{type: user, name: "{prefix}alice"}}
      operations: [create_tokens, describe_tokens]
    - principal: "User:{prefix}ops"
      resource: {{type: delegation_token, name: "{prefix}token", pattern: prefixed}}
      operations: [describe]
    - principal: "User:{prefix}ops"
      resource: {{type: transactional_id, name: "{prefix}tx"}}
      operations: [two_phase_commit]
      permission: deny
      host: ""
    - principal: "User:{prefix}ops"
      resource: {{type: cluster, name: kafka-cluster, pattern: prefixed}}
      operations: [cluster_action]
"""
    applied = _run(tmp_path, _doc(body), "apply", "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    found = {(b.resource_type, b.pattern, b.operation, b.permission, b.host) for b in live.bindings()
             if b.principal == f"User:{prefix}ops"}
    assert found == {("user", "literal", "create_tokens", "allow", "*"), ("user", "literal", "describe_tokens", "allow",
                                                                         "*"),
                     ("delegation_token", "prefixed", "describe", "allow", "*"),
                     ("transactional_id", "literal", "two_phase_commit", "deny", ""),
                     ("cluster", "prefixed", "cluster_action", "allow", "*")}
    assert _run(tmp_path, _doc(body), "plan", "--detailed-exitcode").returncode == 0

    other = body.replace("name: kafka-cluster", "name: other")
    refused = _run(tmp_path, _doc(other), "validate")
    assert refused.returncode == 1 and "a cluster ACL names the resource `kafka-cluster`" in refused.stderr


# ---------------------------------------------------------------------------------------- SCRAM


def test_scram_credentials_are_written_never_shown_and_follow_the_file(tmp_path: Path, live: KafkaLive,
                                                                       prefix: str) -> None:
    password, other = unique("Secret/%$pw"), unique("other-pw")
    user = f"{prefix}alice"
    body = f"""  users:
    {user}:
      SCRAM-SHA-256: {{password: "${{ALICE_PASSWORD}}", iterations: 8192}}
      SCRAM-SHA-512: {{password: "${{ALICE_PASSWORD}}"}}
"""
    env = {"ALICE_PASSWORD": password}
    missing = _run(tmp_path, _doc(body), "validate")
    assert missing.returncode == 1 and "environment variable ALICE_PASSWORD is not set" in missing.stderr

    plan = _run(tmp_path, _doc(body), "plan", env=env)
    assert f"+ kafka/user/{user}/SCRAM-SHA-256" in plan.stdout and "password   = (sensitive)" in plan.stdout
    applied = _run(tmp_path, _doc(body), "apply", "--auto-approve", env=env)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert live.credentials().get((user, "SCRAM-SHA-256")) == 8192
    assert live.credentials().get((user, "SCRAM-SHA-512")) == 4096  # Kafka's least, the default
    assert _run(tmp_path, _doc(body), "plan", "--detailed-exitcode", env=env).returncode == 0

    # Kafka gives no password back: a password changed alone is not seen (said in the schema and the
    # export); a change of iterations rewrites the credential with the file's password.
    assert _run(tmp_path, _doc(body), "plan", "--detailed-exitcode", env={"ALICE_PASSWORD": other}).returncode == 0
    fewer = body.replace("iterations: 8192", "iterations: 16384")
    plan = _run(tmp_path, _doc(fewer), "plan", env=env)
    assert "~ iterations = 8192 -> 16384" in plan.stdout
    applied = _run(tmp_path, _doc(fewer), "apply", "--auto-approve", env=env)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert live.credentials()[(user, "SCRAM-SHA-256")] == 16384

    too_many = _run(tmp_path, _doc(body.replace("iterations: 8192", "iterations: 16385")), "validate", env=env)
    assert too_many.returncode == 1 and "less than or equal to 16384" in too_many.stderr

    pruned = _doc(fewer.replace("      SCRAM-SHA-512: {password: \"${ALICE_PASSWORD}\"}\n", "")) + \
        f"manage: {{prune: true, include: ['kafka/user/{user}/*']}}\n"
    applied = _run(tmp_path, pruned, "apply", "--auto-approve", "--allow-delete", env=env)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert (user, "SCRAM-SHA-512") not in live.credentials()

    text = _export(tmp_path, f"kafka/user/{user}/*")
    assert password not in text
    credential = yaml.safe_load(text)["kafka"]["users"][user]["SCRAM-SHA-256"]
    assert credential == {"password": "${KAFKA_SCRAM_SHA_256_" + prefix.upper().replace(".", "_") + "ALICE}",
                          "iterations": 16384}
    assert "Kafka never gives a SCRAM password back: set KAFKA_SCRAM_SHA_256_" in text
    for output in (plan.stdout + plan.stderr, applied.stdout + applied.stderr):
        assert password not in output


# --------------------------------------------------------------------------------------- quotas


def test_client_quotas_follow_the_file_and_leave_out_what_it_leaves_out(tmp_path: Path, live: KafkaLive,
                                                                        prefix: str) -> None:
    ip = f"198.18.{int(prefix[5:7], 16)}.{int(prefix[7:9], 16) % 254 + 1}"
    body = f"""  quotas:
    - entity: {{user: "{prefix}alice"}}
      producer_byte_rate: 1MiB
      request_percentage: 50
    - entity: {{user: "{prefix}alice", client-id: <default>}}
      consumer_byte_rate: 2048
    - entity: {{ip: "{ip}"}}
      connection_creation_rate: 10
"""
    try:
        applied = _run(tmp_path, _doc(body), "apply", "--auto-approve")
        assert applied.returncode == 0, applied.stdout + applied.stderr
        quotas = live.all_quotas()
        assert quotas[(("user", f"{prefix}alice"),)] == {"producer_byte_rate": 1048576.0, "request_percentage": 50.0}
        assert quotas[(("client-id", None), ("user", f"{prefix}alice"))] == {"consumer_byte_rate": 2048.0}
        assert quotas[(("ip", ip),)] == {"connection_creation_rate": 10.0}
        assert _run(tmp_path, _doc(body), "plan", "--detailed-exitcode").returncode == 0

        less = body.replace("      request_percentage: 50\n", "")
        plan = _run(tmp_path, _doc(less), "plan")
        assert '~ quotas = {"producer_byte_rate": 1048576, "request_percentage": 50.0} -> ' \
               '{"producer_byte_rate": 1048576}' in plan.stdout
        assert _run(tmp_path, _doc(less), "apply", "--auto-approve").returncode == 0
        assert live.all_quotas()[(("user", f"{prefix}alice"),)] == {"producer_byte_rate": 1048576.0}

        pruned = _doc(less.split("    - entity: {ip")[0]) + "manage: {prune: true, include: ['kafka/quota/*']}\n"
        plan = _run(tmp_path, pruned, "plan")
        assert f"- kafka/quota/ip={ip}" in plan.stdout
    finally:
        live.clean(prefix, [ip])


@pytest.mark.parametrize(("quota", "problem"), [
    ("{entity: {ip: 192.0.2.1}, producer_byte_rate: 5}", "producer_byte_rate is not a quota of ip entities"),
    ("{entity: {user: a, ip: 192.0.2.1}, producer_byte_rate: 5}", "Kafka refuses ip and user"),
    ("{entity: {user: a}, producer_byte_rate: 1.5}", "expected a integer"),
    ("{entity: {user: a}, consumer_byte_rate: 0}", "must be greater than 0"),
    ("{entity: {user: a}, request_percentage: .inf}", "must be greater than 0 and finite"),
    ("{entity: {client-id: ''}, request_percentage: 5}", "an empty client-id is refused by Kafka"),
    ("{entity: {user: a}}", "a quota sets at least one value"),
    ("{entity: {ip: 192.0.2.1}, connection_creation_rate: 2147483648}", "at most 2,147,483,647"),
])
def test_a_quota_kafka_would_refuse_is_a_located_problem(tmp_path: Path, quota: str, problem: str) -> None:
    result = _run(tmp_path, _doc(f"  quotas:\n    - {quota}\n"), "validate")
    assert result.returncode == 1
    assert problem in result.stderr, result.stderr
    assert "t.topology.yaml:7" in result.stderr  # the line of the quota


def test_the_default_user_quota_is_kafkas_default_entity(tmp_path: Path, live: KafkaLive) -> None:
    """`<default>` is the entity Kafka names with no name (kafka-configs --entity-default). A value far above
    anything this machine does, so no other test is slowed while it exists."""
    body = "  quotas:\n    - {entity: {user: <default>}, controller_mutation_rate: 1000000000}\n"
    try:
        applied = _run(tmp_path, _doc(body), "apply", "--auto-approve")
        assert applied.returncode == 0, applied.stdout + applied.stderr
        assert live.all_quotas()[(("user", None),)] == {"controller_mutation_rate": 1e9}
        assert _run(tmp_path, _doc(body), "plan", "--detailed-exitcode").returncode == 0
        text = _export(tmp_path, "kafka/quota/user=<default>")
        assert yaml.safe_load(text)["kafka"]["quotas"] == [{"entity": {"user": "<default>"},
                                                           "controller_mutation_rate": 1e9}]
    finally:
        from kafka.protocol.admin import AlterClientQuotasRequest

        entry = AlterClientQuotasRequest.EntryData
        live.send(AlterClientQuotasRequest(entries=[entry(entity=[entry.EntityData(entity_type="user",
                                                                                   entity_name=None)],
                                                          ops=[entry.OpData(key="controller_mutation_rate",
                                                                            value=0.0, remove=True)])],
                                           validate_only=False))


# ---------------------------------------------------------------------------------------- notes


def test_a_noted_value_is_written_with_its_comment_on_its_own_line() -> None:
    document = {"a": {"v": "0", "w": Noted("0", "first\nnote"), "x": "${A}", Noted("0", "a key"): Noted("${A}", "2nd"),
                      "y": Noted("two\nlines", "third"), "z": "${A}"}}
    assert dump_with_notes(document) == ("a:\n  v: '0'\n  w: '0'  # first note\n  x: ${A}\n"
                                         "  '0': ${A}  # a key  # 2nd\n"
                                         '  y: "two\\nlines"  # third\n  z: ${A}\n')


def test_names_holding_dollar_signs_are_exported_as_they_are(tmp_path: Path, live: KafkaLive, prefix: str) -> None:
    """A group, a principal or a user named with `${...}` or `$$` (free text to Kafka) is written so that
    reading the file back gives the name, never a variable."""
    topic, group, principal = f"{prefix}t", f"{prefix}g${{HOME}}$$x$", f"User:{prefix}${{USER}}"
    live.topic(topic, 1, 1, {})
    live.commit(group, [(topic, 0, 0)])
    live.acl(Binding(principal, "topic", topic, "literal", "read", "allow", "$$"))
    text = _export(tmp_path, f"kafka/*{prefix}*")
    path = tmp_path / "exported.topology.yaml"
    plan = topology("plan", str(path), "--detailed-exitcode", cwd=tmp_path, env={**ENV, "HOME": "/h", "USER": "u"})
    assert plan.returncode == 0, plan.stdout + plan.stderr + text
