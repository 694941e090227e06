"""The `kafka:` section: topics, consumer groups, ACLs."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from topology.format.common import Protectable, RemoteTarget, Retry, Spec

__all__ = ["Acl", "AclResource", "ConsumerGroup", "Kafka", "KafkaDeadLetter", "KafkaRetry", "KafkaTarget", "Topic"]

ConfigValue = str | int | float | bool


class KafkaRetry(Retry):
    config: dict[str, ConfigValue] = Field(
        default_factory=dict, description="Config for the retry topics, over the topic's own config.")


class KafkaDeadLetter(Spec):
    config: dict[str, ConfigValue] = Field(
        default_factory=dict, description="Config for the dead-letter topic, over the topic's own config.")


class Topic(Protectable):
    partitions: int | None = Field(None, ge=1, le=2**31 - 1,  # Kafka's INT32
                                   description="Partition count; may only grow. Default: the broker's.")
    replication_factor: int | None = Field(
        None, ge=1, le=2**15 - 1,  # Kafka's INT16
        description="Replicas per partition; a change is a reassignment. Default: the broker's.")
    config: dict[str, ConfigValue] = Field(
        default_factory=dict, description="Topic config overrides; human units where Kafka expects ms or bytes.")
    retry: KafkaRetry | None = Field(
        None, description="Retry topics, one per delay, with the topic's partitions, replication and config.")
    dead_letter: bool | KafkaDeadLetter = Field(
        False, description="A dead-letter topic, `<topic>.dlt` by default: true, or {config: {...}} to adjust it.")


class ConsumerGroup(Protectable):
    topics: list[str] = Field(min_length=1, description="Topics the group consumes (retry topics are added).")
    initial_offset: Literal["earliest", "latest"] = Field(
        "latest", description="Where a new group starts; used only when the group does not exist yet.")


class AclResource(Spec):
    type: Literal["topic", "group", "cluster", "transactional_id"] = Field(description="Kafka resource type.")
    name: str = Field(description="Resource name, or prefix when pattern is prefixed.")
    pattern: Literal["literal", "prefixed"] = Field("literal", description="How name matches.")


class Acl(Protectable):
    principal: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]*:.+$", description="e.g. User:billing")
    resource: AclResource = Field(description="What the entry applies to: a topic, group, cluster or transactional id.")
    operations: list[Literal[
        "all", "read", "write", "create", "delete", "alter", "describe", "cluster_action",
        "describe_configs", "alter_configs", "idempotent_write",
    ]] = Field(min_length=1, description="Operations this entry allows or denies.")
    permission: Literal["allow", "deny"] = Field("allow", description="allow or deny.")
    host: str = Field("*", description="Client host, `*` for any.")


class Kafka(Spec):
    target: str | None = Field(None, description="A name under `targets`; none means the embedded local target.")
    topics: dict[str, Topic] = Field(default_factory=dict, description="Topics by name.")
    consumer_groups: dict[str, ConsumerGroup] = Field(default_factory=dict, description="Consumer groups by name.")
    acls: list[Acl] = Field(default_factory=list, description="Access control entries.")


class KafkaTarget(RemoteTarget):
    kind: Literal["kafka"] = Field(description="The broker kind this target serves.")
    bootstrap_servers: str = Field(description="host:port[,host:port...]")
    config: dict[str, str] = Field(default_factory=dict, description="librdkafka client settings (SASL, TLS).")

