"""What a Kafka test makes and reads back through Kafka's own admin clients, never through topology:
librdkafka's AdminClient (topics, configs, groups, SCRAM credentials) and Kafka's own requests through
kafka-python (ACLs and client quotas, which librdkafka lacks), as the driver uses them. A snapshot of
everything under a prefix, to compare two copies, and the clean-up of everything under a prefix."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.conftest import KAFKA_BOOTSTRAP

# Kafka's protocol codes (AclOperation, ResourceType, PatternType, AclPermissionType), written out here
# so that the tests do not read them from the code under test.
OPERATIONS = {"all": 2, "read": 3, "write": 4, "create": 5, "delete": 6, "alter": 7, "describe": 8,
              "cluster_action": 9, "describe_configs": 10, "alter_configs": 11, "idempotent_write": 12,
              "create_tokens": 13, "describe_tokens": 14, "two_phase_commit": 15}
RESOURCE_TYPES = {"topic": 2, "group": 3, "cluster": 4, "transactional_id": 5, "delegation_token": 6, "user": 7}
PATTERNS = {"literal": 3, "prefixed": 4}
PERMISSIONS = {"deny": 2, "allow": 3}
MECHANISMS = {"SCRAM-SHA-256": 1, "SCRAM-SHA-512": 2}


@dataclass(frozen=True, order=True)
class Binding:
    principal: str
    resource_type: str
    resource_name: str
    pattern: str
    operation: str
    permission: str
    host: str


@dataclass
class Snapshot:
    """Everything under a prefix, as Kafka's admin clients report it."""

    topics: dict[str, tuple[int, int, dict[str, str]]] = field(default_factory=dict)  # partitions, RF, config
    groups: dict[str, set[str]] = field(default_factory=dict)  # group -> topics with a committed offset
    acls: set[Binding] = field(default_factory=set)
    scram: dict[tuple[str, str], int] = field(default_factory=dict)  # (user, mechanism) -> iterations
    quotas: dict[tuple[tuple[str, str | None], ...], dict[str, float]] = field(default_factory=dict)


class KafkaLive:
    """The two admin clients on the local Kafka."""

    def __init__(self, bootstrap: str = KAFKA_BOOTSTRAP) -> None:
        from confluent_kafka.admin import AdminClient
        from kafka import KafkaAdminClient

        self.admin = AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 10000})
        self.client = KafkaAdminClient(bootstrap_servers=bootstrap)

    def close(self) -> None:
        self.admin.__exit__(None, None, None)  # destroyed on this thread (see conftest.kafka_clients_freed)
        self.client.close()

    def send(self, request: Any) -> dict[str, Any]:
        manager = self.client._manager
        return dict(manager.run(manager.send, request).to_dict())

    # ------------------------------------------------------------------------------------ making

    def topic(self, name: str, partitions: int, replication: int, config: Mapping[str, str]) -> None:
        from confluent_kafka.admin import NewTopic

        self.admin.create_topics([NewTopic(name, partitions, replication, config=dict(config))])[name].result()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            topic = self.admin.list_topics(name, timeout=10).topics.get(name)
            if topic is not None and not topic.error and all(p.leader >= 0 for p in topic.partitions.values()):
                return
            time.sleep(0.05)
        raise AssertionError(f"topic {name} has no leader after 30 s")

    def commit(self, group: str, offsets: Iterable[tuple[str, int, int]]) -> None:
        from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition

        request = ConsumerGroupTopicPartitions(group, [TopicPartition(t, p, o) for t, p, o in offsets])
        self.admin.alter_consumer_group_offsets([request])[group].result()

    def acl(self, binding: Binding) -> None:
        from kafka.protocol.admin import CreateAclsRequest

        creation = CreateAclsRequest.AclCreation(
            resource_type=RESOURCE_TYPES[binding.resource_type], resource_name=binding.resource_name,
            resource_pattern_type=PATTERNS[binding.pattern], principal=binding.principal, host=binding.host,
            operation=OPERATIONS[binding.operation], permission_type=PERMISSIONS[binding.permission])
        result = self.send(CreateAclsRequest(creations=[creation]))["results"][0]
        assert result["error_code"] == 0, result

    def scram(self, user: str, mechanism: str, iterations: int, password: str) -> None:
        from confluent_kafka.admin import ScramCredentialInfo, ScramMechanism, UserScramCredentialUpsertion

        info = ScramCredentialInfo(ScramMechanism[mechanism.replace("-", "_")], iterations)
        upsert = UserScramCredentialUpsertion(user, info, password.encode())
        self.admin.alter_user_scram_credentials([upsert])[user].result()

    def quota(self, entity: Mapping[str, str | None], values: Mapping[str, float]) -> None:
        from kafka.protocol.admin import AlterClientQuotasRequest

        entry = AlterClientQuotasRequest.EntryData
        request = AlterClientQuotasRequest(entries=[entry(
            entity=[entry.EntityData(entity_type=k, entity_name=v) for k, v in entity.items()],
            ops=[entry.OpData(key=k, value=float(v), remove=False) for k, v in values.items()])], validate_only=False)
        result = self.send(request)["entries"][0]
        assert result["error_code"] == 0, result

    # ------------------------------------------------------------------------------------ reading

    def bindings(self) -> set[Binding]:
        from kafka.protocol.admin import DescribeAclsRequest

        answer = self.send(DescribeAclsRequest(resource_type_filter=1, resource_name_filter=None,
                                               pattern_type_filter=1, principal_filter=None, host_filter=None,
                                               operation=1, permission_type=1))
        if answer["error_code"] == 54:  # SECURITY_DISABLED: a cluster without an authorizer holds no ACLs
            return set()
        assert answer["error_code"] == 0, answer
        names = {field: {code: name for name, code in table.items()} for field, table in (
            ("type", RESOURCE_TYPES), ("pattern", PATTERNS), ("operation", OPERATIONS), ("permission", PERMISSIONS))}
        return {Binding(acl["principal"], names["type"][resource["resource_type"]], resource["resource_name"],
                        names["pattern"][resource["pattern_type"]], names["operation"][acl["operation"]],
                        names["permission"][acl["permission_type"]], acl["host"])
                for resource in answer["resources"] for acl in resource["acls"]}

    def credentials(self) -> dict[tuple[str, str], int]:
        described = self.admin.describe_user_scram_credentials().result()
        return {(user, info.mechanism.name.replace("_", "-")): info.iterations
                for user, description in described.items() for info in description.scram_credential_infos}

    def all_quotas(self) -> dict[tuple[tuple[str, str | None], ...], dict[str, float]]:
        from kafka.protocol.admin import DescribeClientQuotasRequest

        answer = self.send(DescribeClientQuotasRequest(components=[], strict=False))
        assert answer["error_code"] == 0, answer
        return {tuple(sorted((e["entity_type"], e["entity_name"]) for e in entry["entity"])):
                {v["key"]: v["value"] for v in entry["values"]} for entry in answer["entries"]}

    def snapshot(self, prefix: str, ips: Iterable[str] = ()) -> Snapshot:
        """Everything whose name (a topic, a group, a principal, a user, a quota entity) holds `prefix`,
        and the quotas of `ips`."""
        from confluent_kafka import ConsumerGroupTopicPartitions
        from confluent_kafka.admin import ConfigResource, ConfigSource, ResourceType

        snapshot = Snapshot()
        topics = {n: t for n, t in self.admin.list_topics(timeout=10).topics.items() if n.startswith(prefix)}
        if topics:
            resources = [ConfigResource(ResourceType.TOPIC, n) for n in topics]
            for resource, future in self.admin.describe_configs(resources).items():
                config = {k: e.value for k, e in future.result().items()
                          if e.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value}
                partitions = topics[resource.name].partitions
                snapshot.topics[resource.name] = (len(partitions), len(partitions[0].replicas), config)
        groups = [g.group_id for g in self.admin.list_consumer_groups().result().valid if prefix in g.group_id]
        for group in groups:
            result = self.admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result()
            committed = {tp.topic for tp in result.topic_partitions or [] if tp.offset >= 0}
            if committed:
                snapshot.groups[group] = committed
        snapshot.acls = {b for b in self.bindings() if prefix in b.principal}
        snapshot.scram = {key: n for key, n in self.credentials().items() if prefix in key[0]}
        snapshot.quotas = {entity: values for entity, values in self.all_quotas().items()
                           if any(prefix in (name or "") or name in ips for _, name in entity)}
        return snapshot

    # ------------------------------------------------------------------------------------ clean-up

    def clean(self, prefix: str, ips: Iterable[str] = ()) -> None:
        """Delete everything `snapshot(prefix, ips)` would show."""
        from confluent_kafka.admin import ScramMechanism, UserScramCredentialDeletion
        from kafka.protocol.admin import AlterClientQuotasRequest, DeleteAclsRequest

        found = self.snapshot(prefix, ips)
        if found.groups:
            for future in self.admin.delete_consumer_groups(list(found.groups)).values():
                future.result()
        if found.topics:
            for future in self.admin.delete_topics(list(found.topics), operation_timeout=30).values():
                future.result()
        if found.acls:
            filters = [DeleteAclsRequest.DeleteAclsFilter(
                resource_type_filter=RESOURCE_TYPES[b.resource_type], resource_name_filter=b.resource_name,
                pattern_type_filter=PATTERNS[b.pattern], principal_filter=b.principal, host_filter=b.host,
                operation=OPERATIONS[b.operation], permission_type=PERMISSIONS[b.permission]) for b in found.acls]
            self.send(DeleteAclsRequest(filters=filters))
        for user, mechanism in found.scram:  # one request per user and mechanism: Kafka refuses a user twice
            deletion = UserScramCredentialDeletion(user, ScramMechanism[mechanism.replace("-", "_")])
            self.admin.alter_user_scram_credentials([deletion])[user].result()
        if found.quotas:
            entry = AlterClientQuotasRequest.EntryData
            self.send(AlterClientQuotasRequest(entries=[entry(
                entity=[entry.EntityData(entity_type=k, entity_name=v) for k, v in entity],
                ops=[entry.OpData(key=key, value=0.0, remove=True) for key in values])
                for entity, values in found.quotas.items()], validate_only=False))
