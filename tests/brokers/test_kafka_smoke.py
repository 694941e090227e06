"""The local Kafka is real: topics are created and deleted through AdminClient, and the standard
authorizer stores ACLs."""

from __future__ import annotations

import time
from typing import Any

import pytest

pytestmark = pytest.mark.kafka


def _wait_for(predicate: Any, seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_topic_created_and_deleted_through_admin_client(kafka_admin: Any, kafka_prefix: str) -> None:
    from confluent_kafka.admin import NewTopic

    name = f"{kafka_prefix}orders"
    futures = kafka_admin.create_topics([NewTopic(name, num_partitions=3, replication_factor=1,
                                                  config={"retention.ms": "3600000"})])
    futures[name].result(timeout=30)
    assert _wait_for(lambda: name in kafka_admin.list_topics(timeout=10).topics)
    assert len(kafka_admin.list_topics(timeout=10).topics[name].partitions) == 3

    kafka_admin.delete_topics([name], operation_timeout=30)[name].result(timeout=30)
    assert _wait_for(lambda: name not in kafka_admin.list_topics(timeout=10).topics)


def test_authorizer_stores_and_removes_acls(kafka_admin: Any, kafka_prefix: str) -> None:
    from confluent_kafka.admin import (
        AclBinding,
        AclBindingFilter,
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
        ResourceType,
    )

    principal = f"User:{kafka_prefix}billing"
    binding = AclBinding(ResourceType.TOPIC, kafka_prefix, ResourcePatternType.PREFIXED, principal, "*",
                         AclOperation.READ, AclPermissionType.ALLOW)
    kafka_admin.create_acls([binding])[binding].result(timeout=30)

    query = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, principal, None,
                             AclOperation.ANY, AclPermissionType.ANY)
    found = kafka_admin.describe_acls(query).result(timeout=30)
    assert [(b.name, b.resource_pattern_type, b.operation) for b in found] == [
        (kafka_prefix, ResourcePatternType.PREFIXED, AclOperation.READ)]

    kafka_admin.delete_acls([query])[query].result(timeout=30)
    assert kafka_admin.describe_acls(query).result(timeout=30) == []
