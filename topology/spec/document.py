"""The whole topology document: version, targets, manage, naming, broker sections, expectations."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from topology.spec.aws import Sns, Sqs
from topology.spec.common import Duration, Spec
from topology.spec.kafka import Kafka
from topology.spec.rabbitmq import RabbitMQ
from topology.spec.redis import Redis

__all__ = [
    "DEFAULT_STATE", "AwsTarget", "Document", "Expectation", "KafkaTarget", "LocalTarget", "Manage", "Naming",
    "Publish", "RabbitMQTarget", "RedisTarget", "Target", "target_variable",
]


DEFAULT_STATE = ".topology/state.json"  # the embedded local target's state file, unless told otherwise


def target_variable(name: str) -> str:
    """The environment variable that says where target `name` lives: TOPOLOGY_TARGET_<NAME>, with any
    character a shell variable cannot hold (the `-` of `orders-eu`) written as `_`."""
    return "TOPOLOGY_TARGET_" + re.sub(r"[^A-Z0-9_]", "_", name.upper())


class _Remote(Spec):
    connect_timeout: Duration = Field(5000, description="How long to wait for a connection to the broker.")
    timeout: Duration = Field(30000, description="How long to wait for any one answer from the broker.")


class RabbitMQTarget(_Remote):
    kind: Literal["rabbitmq"] = Field(description="The broker kind this target serves.")
    url: str = Field(description="Management API URL with credentials, e.g. ${RABBITMQ_URL}.")
    amqp_url: str | None = Field(
        None, description="AMQP URL, for exact message counts and live routing probes; default: the "
        "management host on port 5672 with the same credentials.")
    verify: bool = Field(True, description="Verify the management API's TLS certificate.")
    ca_file: str | None = Field(None, description="CA bundle for the management API's TLS certificate.")


class KafkaTarget(_Remote):
    kind: Literal["kafka"] = Field(description="The broker kind this target serves.")
    bootstrap_servers: str = Field(description="host:port[,host:port...]")
    config: dict[str, str] = Field(default_factory=dict, description="librdkafka client settings (SASL, TLS).")


class AwsTarget(_Remote):
    kind: Literal["aws"] = Field(description="The broker kind this target serves.")
    region: str = Field(description="AWS region, e.g. us-east-1.")
    endpoint_url: str | None = Field(None, description="Endpoint override (moto, LocalStack); empty for AWS.")
    profile: str | None = Field(None, description="AWS profile name; default: the usual credential chain.")


class RedisTarget(_Remote):
    kind: Literal["redis"] = Field(description="The broker kind this target serves.")
    url: str = Field(description="redis://[:password@]host:port/db")


class LocalTarget(Spec):
    kind: Literal["local"] = Field(description="The broker kind this target serves.")
    path: str = Field(DEFAULT_STATE, description="The state file of the embedded local target.")


Target = Annotated[
    RabbitMQTarget | KafkaTarget | AwsTarget | RedisTarget | LocalTarget, Field(discriminator="kind")]


class Manage(Spec):
    prune: bool = Field(False, description="Delete live resources in scope that the files do not declare.")
    include: list[str] = Field(
        default_factory=list, description="Address globs apply may delete, e.g. kafka/topic/shop.*")
    exclude: list[str] = Field(default_factory=list, description="Address globs never deleted.")


class Naming(Spec):
    rabbitmq_retry_queue: str = Field("{{ queue }}.retry.{{ delay }}", description="Jinja2 template.")
    rabbitmq_dead_letter_queue: str = Field("{{ queue }}.dlq", description="Jinja2 template.")
    kafka_retry_topic: str = Field("{{ topic }}.retry.{{ delay }}", description="Jinja2 template.")
    kafka_dead_letter_topic: str = Field("{{ topic }}.dlt", description="Jinja2 template.")
    sqs_retry_queue: str = Field(
        "{{ queue }}-retry-{{ delay }}", description="Jinja2 template; `.fifo` is added for FIFO queues.")
    sqs_dead_letter_queue: str = Field(
        "{{ queue }}-dlq", description="Jinja2 template; `.fifo` is added for FIFO queues.")
    redis_retry_stream: str = Field("{{ stream }}:retry:{{ delay }}", description="Jinja2 template.")
    redis_dead_letter_stream: str = Field("{{ stream }}:dlq", description="Jinja2 template.")


class Publish(Spec):
    vhost: str | None = Field(None, description="RabbitMQ vhost of the exchange.")
    exchange: str | None = Field(None, description="RabbitMQ exchange to publish to (\"\" is the default exchange).")
    routing_key: str = Field("", description="Routing key.")
    headers: dict[str, Any] = Field(default_factory=dict, description="Message headers (headers exchanges).")
    sns_topic: str | None = Field(None, description="SNS topic to publish to.")
    attributes: dict[str, Any] = Field(default_factory=dict, description="SNS message attributes.")
    body: dict[str, Any] | None = Field(None, description="SNS message body, for body-scoped filter policies.")

    @model_validator(mode="after")
    def _one_broker(self) -> Publish:
        if (self.exchange is None) == (self.sns_topic is None):
            raise ValueError("give either `exchange` (with `vhost`) or `sns_topic`")
        if self.exchange is not None and self.vhost is None:
            raise ValueError("a RabbitMQ publish needs `vhost`")
        return self


class Expectation(Spec):
    publish: Publish = Field(description="The probe message: where it is published, with what key or attributes.")
    delivered_to: list[str] = Field(description="Exactly the queues that must receive the message.")


class Document(Spec):
    version: Literal[1] = Field(description="Format version; always 1.")
    vars: dict[str, Any] = Field(default_factory=dict, description="Values for jinja2: {{ vars.name }}.")
    environments: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Overlays selected with --env NAME, deep-merged over the document.")
    targets: dict[str, Target] = Field(default_factory=dict, description="Where each broker lives.")
    manage: Manage = Field(default_factory=Manage, description="What apply may delete; default: nothing.")
    naming: Naming = Field(default_factory=Naming, description="Templates for generated names.")
    rabbitmq: RabbitMQ | None = Field(None, description="RabbitMQ vhosts, exchanges, queues, policies, users.")
    kafka: Kafka | None = Field(None, description="Kafka topics, consumer groups and ACLs.")
    sqs: Sqs | None = Field(None, description="SQS queues.")
    sns: Sns | None = Field(None, description="SNS topics and their SQS subscriptions.")
    redis: Redis | None = Field(None, description="Redis streams and their consumer groups.")
    expectations: list[Expectation] = Field(default_factory=list, description="Routing assertions for `topology test`.")
