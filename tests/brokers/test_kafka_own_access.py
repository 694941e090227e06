"""Pruning never plans away an ACL that allows the principal topology runs as: over the test broker's
PLAINTEXT listener that is `User:ANONYMOUS`, and `User:*` allows it too. The plan is refused naming each,
unless the files declare it or `manage.exclude` leaves it out; deny ACLs and other principals' ACLs in the
same globs are pruned as before."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.brokers.test_kafka_safety import _doc, _run
from tests.conftest import unique

pytestmark = pytest.mark.kafka

_ANONYMOUS = "User:ANONYMOUS"


def _address(principal: str, name: str, operation: str, permission: str = "allow") -> str:
    return f"kafka/acl/{principal}/topic/literal/{name}/{operation}/{permission}/*"


@pytest.fixture
def acls(kafka_prefix: str, kafka_admin: Any) -> Iterator[dict[str, str]]:
    """On topic `<prefix>orders`: Write allowed to ANONYMOUS, Read to everyone, Describe denied to ANONYMOUS
    (it is the broker's super user: a deny changes nothing for it), Write allowed to another principal."""
    from confluent_kafka.admin import (
        AclBinding,
        AclBindingFilter,
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
        ResourceType,
    )

    topic, other = f"{kafka_prefix}orders", f"User:{unique('other')}"
    made = {"ours": (_ANONYMOUS, "write", "allow"), "everyone": ("User:*", "read", "allow"),
            "denied": (_ANONYMOUS, "describe", "deny"), "other": (other, "write", "allow")}
    bindings = [AclBinding(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, principal, "*",
                           AclOperation[operation.upper()], AclPermissionType[permission.upper()])
                for principal, operation, permission in made.values()]
    for future in kafka_admin.create_acls(bindings).values():
        future.result(timeout=30)
    yield {key: _address(principal, topic, operation, permission)
           for key, (principal, operation, permission) in made.items()}
    query = AclBindingFilter(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, None, None, AclOperation.ANY,
                             AclPermissionType.ANY)
    kafka_admin.delete_acls([query])[query].result(timeout=30)


def _pruning(prefix: str, exclude: tuple[str, ...] = ()) -> str:
    also = f", exclude: {json.dumps(list(exclude))}" if exclude else ""
    return f"manage: {{prune: true, include: ['kafka/acl/*/topic/literal/{prefix}*']{also}}}\n"


def _planned(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    assert result.returncode == 0, result.stderr
    return {c["address"]: c["action"] for c in json.loads(result.stdout)["changes"]}


def _live(kafka_admin: Any, topic: str) -> set[tuple[str, str, str]]:
    from confluent_kafka.admin import (
        AclBindingFilter,
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
        ResourceType,
    )

    query = AclBindingFilter(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, None, None, AclOperation.ANY,
                             AclPermissionType.ANY)
    return {(b.principal, b.operation.name.lower(), b.permission_type.name.lower())
            for b in kafka_admin.describe_acls(query).result(timeout=30)}


def test_pruning_an_acl_of_the_principal_topology_runs_as_is_refused(tmp_path: Path, kafka_prefix: str,
                                                                     acls: dict[str, str], kafka_admin: Any) -> None:
    body = "  topics:\n    P.keep: {partitions: 1}\n"
    refused = _run(tmp_path, _doc(kafka_prefix, body) + _pruning(kafka_prefix), "plan")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert (f"{acls['ours']}: the plan would delete an ACL allowing `User:ANONYMOUS`, the principal topology runs "
            "as, and so lock topology out of the rest of the apply") in refused.stderr
    assert (f"{acls['everyone']}: the plan would delete an ACL allowing `User:*`, which includes the principal "
            "topology runs as") in refused.stderr
    assert "add it to `manage.exclude`" in refused.stderr
    assert acls["denied"] not in refused.stderr and acls["other"] not in refused.stderr

    # Declared explicitly, they are the files' to keep: the plan passes, pruning the deny and the other's.
    declared = _doc(kafka_prefix, body + f"""  acls:
    - principal: {_ANONYMOUS}
      resource: {{type: topic, name: "P.orders"}}
      operations: [write]
    - principal: "User:*"
      resource: {{type: topic, name: "P.orders"}}
      operations: [read]
""") + _pruning(kafka_prefix)
    changes = _planned(_run(tmp_path, declared, "plan", "--format", "json"))
    assert {a: changes.get(a) for a in acls.values()} == {
        acls["ours"]: None, acls["everyone"]: None, acls["denied"]: "delete", acls["other"]: "delete"}

    # Left out by manage.exclude: the plan passes, and apply prunes only the deny and the other's.
    excluded = _doc(kafka_prefix, body) + _pruning(kafka_prefix, ("kafka/acl/User:ANONYMOUS/*/allow/*",
                                                                  "kafka/acl/User:[*]/*"))
    changes = _planned(_run(tmp_path, excluded, "plan", "--format", "json"))
    assert {a: changes.get(a) for a in acls.values()} == {
        acls["ours"]: None, acls["everyone"]: None, acls["denied"]: "delete", acls["other"]: "delete"}
    applied = _run(tmp_path, excluded, "apply", "--auto-approve", "--allow-delete")
    assert applied.returncode == 0, applied.stderr
    assert _live(kafka_admin, f"{kafka_prefix}orders") == {(_ANONYMOUS, "write", "allow"), ("User:*", "read", "allow")}
