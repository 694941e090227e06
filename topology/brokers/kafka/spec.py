"""The `kafka:` section: topics, consumer groups, ACLs."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from topology.brokers.kafka.config import SCRAM_ITERATIONS
from topology.core.secrets import Secret
from topology.format.common import Protectable, RemoteTarget, Retry, Spec
from topology.format.monitoring import GroupMonitor

__all__ = ["Acl", "AclResource", "ConsumerGroup", "Kafka", "KafkaDeadLetter", "KafkaRetry", "KafkaTarget", "Quota",
           "QuotaEntity", "ScramCredential", "Topic", "User"]

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
    monitor: GroupMonitor | None = Field(  # type: ignore[valid-type]
        None, description="Limits per topic the group reads, which `topology status`, `alerts` and `exporter` "
        "watch; never changes a plan.")


class AclResource(Spec):
    type: Literal["topic", "group", "cluster", "transactional_id", "delegation_token", "user"] = Field(
        description="Kafka resource type.")
    name: str = Field(min_length=1, description="Resource name, or prefix when pattern is prefixed; `*` is every "
                                                "resource of the type; a cluster is `kafka-cluster`.")
    pattern: Literal["literal", "prefixed"] = Field("literal", description="How name matches.")


class Acl(Protectable):
    principal: str = Field(pattern=r"^[^:]*:", description="Principal type and name, e.g. User:billing, User:* "
                                                           "(Kafka needs the colon).")
    resource: AclResource = Field(description="What the entry applies to: a topic, group, cluster, transactional id, "
                                              "delegation token or user.")
    operations: list[Literal[
        "all", "read", "write", "create", "delete", "alter", "describe", "cluster_action",
        "describe_configs", "alter_configs", "idempotent_write", "create_tokens", "describe_tokens",
        "two_phase_commit",
    ]] = Field(min_length=1, description="Operations this entry allows or denies.")
    permission: Literal["allow", "deny"] = Field("allow", description="allow or deny.")
    host: str = Field("*", description="Client host, `*` for any.")


class ScramCredential(Spec):
    password: Secret = Field(
        description="Read it from the environment: \"${ALICE_PASSWORD}\". Never printed. Kafka never gives it back, "
                    "so plan cannot compare it: apply sets it when it creates the credential or changes its "
                    "iterations.", json_schema_extra={"writeOnly": True})
    iterations: int = Field(SCRAM_ITERATIONS[0], ge=SCRAM_ITERATIONS[0], le=SCRAM_ITERATIONS[1],
                            description="SCRAM iterations (Kafka accepts 4096 to 16384).")


class User(Protectable):
    """A user's SCRAM credentials, as `kafka-configs --entity-type users --add-config 'SCRAM-SHA-256=[...]'`."""

    scram_sha_256: ScramCredential | None = Field(None, alias="SCRAM-SHA-256",
                                                  description="The user's SCRAM-SHA-256 credential.")
    scram_sha_512: ScramCredential | None = Field(None, alias="SCRAM-SHA-512",
                                                  description="The user's SCRAM-SHA-512 credential.")


class QuotaEntity(Spec):
    user: str | None = Field(None, description="User principal name; `<default>` for the default user.")
    client_id: str | None = Field(None, alias="client-id",
                                  description="Client id; `<default>` for the default client id.")
    ip: str | None = Field(None, description="Client IP address; `<default>` for the default IP.")


class Quota(Protectable):
    """Client quotas of one entity (Kafka's AlterClientQuotas); the values not written are removed."""

    entity: QuotaEntity = Field(description="A user, a client-id, a user and a client-id, or an ip.")
    producer_byte_rate: int | str | None = Field(None, description="Bytes per second a producer may send to each "
                                                                   "broker (`1MiB` taken); user and client-id.")
    consumer_byte_rate: int | str | None = Field(None, description="Bytes per second a consumer may fetch from each "
                                                                   "broker (`1MiB` taken); user and client-id.")
    request_percentage: float | None = Field(None, description="Percentage of one request handler and network "
                                                               "thread per quota window; user and client-id.")
    controller_mutation_rate: float | None = Field(None, description="Partition mutations per second (creations, "
                                                                     "growth, deletions); user and client-id.")
    connection_creation_rate: int | None = Field(None, description="New connections per second; ip only.")


class Kafka(Spec):
    target: str | None = Field(None, description="A name under `targets`; none means the embedded local target.")
    topics: dict[str, Topic] = Field(default_factory=dict, description="Topics by name.")
    consumer_groups: dict[str, ConsumerGroup] = Field(default_factory=dict, description="Consumer groups by name.")
    acls: list[Acl] = Field(default_factory=list, description="Access control entries.")
    users: dict[str, User] = Field(default_factory=dict, description="SCRAM credentials by user name.")
    quotas: list[Quota] = Field(default_factory=list, description="Client quotas, one entry per entity.")


class KafkaTarget(RemoteTarget):
    kind: Literal["kafka"] = Field(description="The broker kind this target serves.")
    bootstrap_servers: str = Field(description="host:port[,host:port...]")
    config: dict[str, str] = Field(default_factory=dict, description="librdkafka client settings (SASL, TLS).")

