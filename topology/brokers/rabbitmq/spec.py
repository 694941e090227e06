"""The `rabbitmq:` section: vhosts with exchanges, queues, bindings and policies; users."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from topology.core.secrets import Secret
from topology.format.common import Arguments, Duration, Protectable, RemoteTarget, Retry, Size, Spec, not_one_of

__all__ = [
    "QUEUE_ARGUMENTS",
    "Exchange",
    "ExchangeBinding",
    "Permission",
    "Policy",
    "Queue",
    "QueueBinding",
    "QueueDeadLetter",
    "RabbitMQ",
    "RabbitMQTarget",
    "TopicPermission",
    "User",
    "VHost",
]

# A queue's typed fields and the x-argument each is stored as, with its type: expansion writes them,
# export reads them back, from this one table.
QUEUE_ARGUMENTS: dict[str, tuple[str, type]] = {
    "message_ttl": ("x-message-ttl", int),
    "expires": ("x-expires", int),
    "max_length": ("x-max-length", int),
    "max_length_bytes": ("x-max-length-bytes", int),
    "overflow": ("x-overflow", str),
    "delivery_limit": ("x-delivery-limit", int),
    "max_priority": ("x-max-priority", int),
    "single_active_consumer": ("x-single-active-consumer", bool),
}


_EXCHANGE_TYPE = r"^(direct|fanout|topic|headers|x-[A-Za-z0-9_.-]+)$"


def _exchange_type(value: Any) -> Any:
    if isinstance(value, str) and not re.match(_EXCHANGE_TYPE, value):
        raise not_one_of(value, "an exchange type", ("direct", "fanout", "topic", "headers"),
                         "use direct, fanout, topic, headers or an x- plugin type")
    return value


class Exchange(Protectable):
    type: Annotated[str, BeforeValidator(_exchange_type)] = Field(
        pattern=_EXCHANGE_TYPE,
        description="direct, fanout, topic, headers, or a plugin type such as x-delayed-message. Immutable.")
    durable: bool = Field(True, description="Survives a broker restart. Immutable.")
    auto_delete: bool = Field(False, description="Deleted when its last binding goes. Immutable.")
    internal: bool = Field(False, description="Publishers cannot publish to it directly. Immutable.")
    alternate_exchange: str | None = Field(
        None, description="Exchange that receives what this one cannot route (the alternate-exchange argument).")
    arguments: Arguments = Field(default_factory=dict, description="Raw exchange arguments (escape hatch).")


class QueueBinding(Protectable):
    exchange: str = Field(description="The exchange this queue is bound to.")
    routing_key: str = Field("", description="Binding key; for topic exchanges `*` is one word, `#` any number.")
    arguments: Arguments = Field(default_factory=dict, description="Binding arguments, e.g. x-match for headers.")


class ExchangeBinding(Protectable):
    source: str = Field(description="The exchange messages come from.")
    destination: str = Field(description="The exchange they are routed to.")
    routing_key: str = Field("", description="Binding key.")
    arguments: Arguments = Field(default_factory=dict, description="Binding arguments.")


class QueueDeadLetter(Spec):
    queue: str | None = Field(
        None, description="The parking-lot queue; created unless declared. Default from `naming`.")
    exchange: str | None = Field(
        None, description="Dead-letter through this exchange instead of the default exchange; it must be declared.")
    routing_key: str | None = Field(None, description="Routing key for dead-lettered messages (default: the queue's).")


class Queue(Protectable):
    type: Literal["classic", "quorum", "stream"] = Field("classic", description="Queue type. Immutable.")
    durable: bool = Field(True, description="Survives a broker restart. Immutable.")
    auto_delete: bool = Field(False, description="Deleted when its last consumer goes. Immutable.")
    bindings: list[QueueBinding] = Field(default_factory=list, description="Exchanges that route to this queue.")
    message_ttl: Duration | None = Field(None, description="x-message-ttl: messages older than this expire.")
    expires: Duration | None = Field(None, description="x-expires: the queue is deleted after this long unused.")
    max_length: int | None = Field(None, ge=0, description="x-max-length: most messages kept.")
    max_length_bytes: Size | None = Field(None, description="x-max-length-bytes: most message bytes kept.")
    overflow: Literal["drop-head", "reject-publish", "reject-publish-dlx"] | None = Field(
        None, description="x-overflow: what happens when the queue is full.")
    delivery_limit: int | None = Field(
        None, ge=0, description="x-delivery-limit: redeliveries before dead-lettering (quorum queues only).")
    max_priority: int | None = Field(None, ge=1, le=255, description="x-max-priority (classic queues only).")
    single_active_consumer: bool | None = Field(None, description="x-single-active-consumer.")
    dead_letter: QueueDeadLetter | None = Field(
        None, description="Where rejected and expired messages go; the queue is created unless declared.")
    retry: Retry | None = Field(None, description="Retry tiers: one wait queue per delay, back to this queue.")
    arguments: Arguments = Field(default_factory=dict, description="Raw x- arguments (escape hatch). Immutable.")


class Policy(Spec):
    pattern: str = Field(description="Regular expression over queue or exchange names.")
    apply_to: Literal["queues", "exchanges", "all", "classic_queues", "quorum_queues", "streams"] = Field(
        "all", description="What the pattern matches.")
    priority: int = Field(0, description="The highest-priority matching policy wins.")
    definition: Arguments = Field(description="Policy keys, e.g. message-ttl, max-length, dead-letter-exchange.")
    protect: bool = Field(False, description="Never delete this policy.")


class VHost(Protectable):
    exchanges: dict[str, Exchange] = Field(default_factory=dict, description="Exchanges by name.")
    queues: dict[str, Queue] = Field(default_factory=dict, description="Queues by name.")
    exchange_bindings: list[ExchangeBinding] = Field(default_factory=list, description="Exchange-to-exchange bindings.")
    policies: dict[str, Policy] = Field(default_factory=dict, description="Policies by name.")
    operator_policies: dict[str, Policy] = Field(default_factory=dict, description="Operator policies by name.")


class Permission(Spec):
    configure: str = Field("^$", description="Regex of resources the user may declare and delete.")
    write: str = Field("^$", description="Regex of resources the user may publish to.")
    read: str = Field("^$", description="Regex of resources the user may consume from.")


class TopicPermission(Spec):
    write: str = Field("^$", description="Regex of routing keys the user may publish with.")
    read: str = Field("^$", description="Regex of routing keys the user may bind with.")


class User(Protectable):
    password: Secret | None = Field(
        None, description="Read it from the environment: \"${SVC_PASSWORD}\". Never printed.",
        json_schema_extra={"writeOnly": True})
    tags: list[str] = Field(default_factory=list, description="management, monitoring, administrator, ...")
    permissions: dict[str, Permission] = Field(default_factory=dict, description="Per vhost.")
    topic_permissions: dict[str, dict[str, TopicPermission]] = Field(
        default_factory=dict, description="Per vhost, per topic exchange (e.g. amq.topic): routing-key rules.")


class RabbitMQ(Spec):
    target: str | None = Field(None, description="A name under `targets`; none means the embedded local target.")
    vhosts: dict[str, VHost] = Field(default_factory=dict, description="Virtual hosts by name (`/` is the default).")
    users: dict[str, User] = Field(default_factory=dict, description="Users by name.")


class RabbitMQTarget(RemoteTarget):
    kind: Literal["rabbitmq"] = Field(description="The broker kind this target serves.")
    url: str = Field(description="Management API URL with credentials, e.g. ${RABBITMQ_URL}.")
    amqp_url: str | None = Field(
        None, description="AMQP URL, for exact message counts and live routing probes; default: the "
        "management host on port 5672 with the same credentials.")
    verify: bool = Field(True, description="Verify the management API's TLS certificate.")
    ca_file: str | None = Field(None, description="CA bundle for the management API's TLS certificate.")

