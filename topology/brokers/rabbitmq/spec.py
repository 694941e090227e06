"""The `rabbitmq:` section: vhosts with exchanges, queues, bindings and policies; users.

Every value the section checks is checked against RabbitMQ's own rule (`QUEUE_ARGUMENTS`,
`POLICY_KEYS`): what the broker refuses, validate refuses; what it takes, validate takes, so any
live object `topology export` writes validates again."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import AllowInfNan, BeforeValidator, Field, Strict

from topology.brokers.rabbitmq.parameters import FederationUpstream, FederationUpstreamSet, GlobalParameter, Shovel
from topology.core.secrets import Secret
from topology.format.common import Arguments, Duration, Protectable, RemoteTarget, Retry, Size, Spec, not_one_of
from topology.format.monitoring import QueueMonitor

__all__ = [
    "OPERATOR_POLICY_KEYS",
    "POLICY_KEYS",
    "QUEUE_ARGUMENTS",
    "QUEUE_TYPES",
    "Exchange",
    "ExchangeBinding",
    "Integer",
    "OneOf",
    "Permission",
    "Policy",
    "Queue",
    "QueueArgument",
    "QueueBinding",
    "QueueDeadLetter",
    "RabbitMQ",
    "RabbitMQTarget",
    "TopicPermission",
    "User",
    "UserLimits",
    "VHost",
    "VHostLimits",
    "anything",
    "boolean",
    "max_age",
    "policy_problems",
    "string",
]

# ------------------------------------------------------------------------------ RabbitMQ's rules
#
# Where the numbers come from: the checks RabbitMQ runs on a queue declaration (rabbit_amqqueue's
# declare_args/0 and each queue type's list of the arguments it takes) and on a policy (the policy
# validators of rabbit_policies, rabbit_mirror_queue_misc, rabbit_queue_location_validator and the
# federation plugin), each tried at its edges on RabbitMQ 3.10.8 over the management API and AMQP.
# A rule answers None when the broker takes a value, else what the broker wants instead.

QUEUE_TYPES = ("classic", "quorum", "stream")
Rule = Callable[[Any], str | None]


@dataclass(frozen=True)
class Integer:
    """An integer (never a boolean, never a float: RabbitMQ says "expected integer, got double"), within
    the bounds."""

    minimum: int | None = None
    maximum: int | None = None

    def __call__(self, value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int) or \
                (self.minimum is not None and value < self.minimum) or \
                (self.maximum is not None and value > self.maximum):
            return "an integer" + self.range()
        return None

    def range(self) -> str:
        if self.minimum is not None and self.maximum is not None:
            return f" from {self.minimum} to {self.maximum}"
        if self.minimum is not None:
            return f" of {self.minimum} or more"
        return f" of {self.maximum} or less" if self.maximum is not None else ""



@dataclass(frozen=True)
class OneOf:
    choices: tuple[Any, ...]

    def __call__(self, value: Any) -> str | None:
        if any(type(value) is type(choice) and value == choice for choice in self.choices):
            return None
        return "one of " + ", ".join(str(choice) for choice in self.choices)


def boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else "true or false"


def string(value: Any) -> str | None:
    return None if isinstance(value, str) else "a string"


def anything(value: Any) -> str | None:
    return None


MAX_AGE = re.compile(r"[0-9]+[YMDhms]")  # rabbit_amqqueue:check_max_age/1, with the number above 0


def max_age(value: Any) -> str | None:
    if isinstance(value, str) and MAX_AGE.fullmatch(value) and value[:-1].strip("0"):
        return None
    return "a whole number above 0 and one unit of Y, M (30 days), D, h, m or s, such as 7D"


_NON_NEGATIVE = Integer(0)
_POSITIVE = Integer(1)
_LEADER_LOCATORS = ("client-local", "balanced", "random", "least-leaders")
_MASTER_LOCATORS = ("min-masters", "client-local", "random")
_OVERFLOWS = ("drop-head", "reject-publish", "reject-publish-dlx")
_DEAD_LETTER_STRATEGIES = ("at-most-once", "at-least-once")
_QUEUE_MODES = ("default", "lazy")
MAX_PRIORITY = Integer(0, 255)  # ?MAX_SUPPORTED_PRIORITY
MAX_SEGMENT_SIZE = Integer(0, 3_000_000_000)  # "Exceeded max value for x-stream-max-segment-size-bytes" above it


@dataclass(frozen=True)
class QueueArgument:
    """A queue argument RabbitMQ knows: its typed field (None: written another way), the queue types that
    take it (the others refuse it: "invalid arg ... of queue type"), and its rule."""

    argument: str
    field: str | None
    queue_types: tuple[str, ...]
    rule: Rule
    what: str | None = None  # how "quorum queues do not support ..." names it; default: the field

    def unsupported(self, queue_type: str) -> str | None:
        """Why a queue of `queue_type` cannot have it, or None when it can."""
        if queue_type in self.queue_types:
            return None
        return f"{queue_type} queues do not support {self.what or f'`{self.field or self.argument}`'}"

    def only(self) -> str:
        kinds = [t for t in QUEUE_TYPES if t in self.queue_types]
        return f"{self.field or self.argument} works on {' and '.join(kinds)} queues only"


_CLASSIC, _QUORUM, _STREAM = ("classic",), ("quorum",), ("stream",)
_CLASSIC_QUORUM = ("classic", "quorum")

# Every queue argument RabbitMQ checks, by argument. An argument not here (x-custom, or one a plugin
# reads) is the broker's to take as it is: the format keeps it in `arguments`, of any type.
QUEUE_ARGUMENTS: dict[str, QueueArgument] = {a.argument: a for a in (
    QueueArgument("x-message-ttl", "message_ttl", _CLASSIC_QUORUM, _NON_NEGATIVE),
    QueueArgument("x-expires", "expires", _CLASSIC_QUORUM, _POSITIVE),
    QueueArgument("x-max-length", "max_length", _CLASSIC_QUORUM, _NON_NEGATIVE),
    QueueArgument("x-max-length-bytes", "max_length_bytes", QUEUE_TYPES, _NON_NEGATIVE),
    QueueArgument("x-overflow", "overflow", _CLASSIC_QUORUM, OneOf(_OVERFLOWS)),
    # RabbitMQ 3.10 does not check x-delivery-limit at all: -1 ("no limit", common in real code) is taken
    QueueArgument("x-delivery-limit", "delivery_limit", _QUORUM, anything),
    QueueArgument("x-max-priority", "max_priority", _CLASSIC, MAX_PRIORITY, "priorities"),
    QueueArgument("x-single-active-consumer", "single_active_consumer", _CLASSIC_QUORUM, boolean),
    QueueArgument("x-dead-letter-exchange", None, _CLASSIC_QUORUM, string, "`dead_letter`"),
    QueueArgument("x-dead-letter-routing-key", None, _CLASSIC_QUORUM, string, "`dead_letter`"),
    QueueArgument("x-dead-letter-strategy", "dead_letter_strategy", _QUORUM, OneOf(_DEAD_LETTER_STRATEGIES)),
    QueueArgument("x-max-in-memory-length", "max_in_memory_length", _QUORUM, _NON_NEGATIVE),
    QueueArgument("x-max-in-memory-bytes", "max_in_memory_bytes", _QUORUM, _NON_NEGATIVE),
    QueueArgument("x-quorum-initial-group-size", "initial_group_size", _QUORUM, _POSITIVE),
    QueueArgument("x-queue-leader-locator", "leader_locator", ("quorum", "stream"), OneOf(_LEADER_LOCATORS)),
    QueueArgument("x-max-age", "max_age", _STREAM, max_age),
    QueueArgument("x-stream-max-segment-size-bytes", "stream_max_segment_size_bytes", _STREAM, MAX_SEGMENT_SIZE),
    QueueArgument("x-initial-cluster-size", "initial_cluster_size", _STREAM, _POSITIVE),
    QueueArgument("x-queue-mode", "queue_mode", _CLASSIC, OneOf(_QUEUE_MODES)),
    QueueArgument("x-queue-version", "queue_version", _CLASSIC, OneOf((1, 2))),
    QueueArgument("x-queue-master-locator", "master_locator", _CLASSIC, OneOf(_MASTER_LOCATORS)),
)}


# Policy keys and their rules (a key a plugin adds is not here: see policy_problems). Operator policies
# take only the limits (rabbit_policies' operator_policy_validator list).
POLICY_KEYS: dict[str, Rule] = {
    "alternate-exchange": string,
    "dead-letter-exchange": string,
    "dead-letter-routing-key": string,
    "dead-letter-strategy": OneOf(_DEAD_LETTER_STRATEGIES),
    "message-ttl": _NON_NEGATIVE,
    "expires": _POSITIVE,
    "max-length": _NON_NEGATIVE,
    "max-length-bytes": _NON_NEGATIVE,
    "max-in-memory-length": _NON_NEGATIVE,
    "max-in-memory-bytes": _NON_NEGATIVE,
    "delivery-limit": _NON_NEGATIVE,  # unlike the queue argument, the policy key is checked: -1 is refused
    "overflow": OneOf(_OVERFLOWS),
    "queue-mode": OneOf(_QUEUE_MODES),
    "queue-version": OneOf((1, 2)),
    "max-age": max_age,
    "stream-max-segment-size-bytes": MAX_SEGMENT_SIZE,
    "initial-cluster-size": _NON_NEGATIVE,
    "queue-leader-locator": OneOf(_LEADER_LOCATORS),
    "queue-master-locator": OneOf(_MASTER_LOCATORS),
    "ha-mode": OneOf(("all", "exactly", "nodes")),
    "ha-params": anything,  # checked with ha-mode (_ha_problems)
    "ha-sync-mode": OneOf(("manual", "automatic")),
    "ha-sync-batch-size": _POSITIVE,
    "ha-promote-on-shutdown": OneOf(("always", "when-synced")),
    "ha-promote-on-failure": OneOf(("always", "when-synced")),
    "federation-upstream": string,
    "federation-upstream-set": string,
    "federation-upstream-pattern": string,
}
OPERATOR_POLICY_KEYS = frozenset({"expires", "message-ttl", "max-length", "max-length-bytes", "max-in-memory-length",
                                  "max-in-memory-bytes", "delivery-limit"})
_FEDERATION = ("federation-upstream", "federation-upstream-set", "federation-upstream-pattern")


def _ha_problems(definition: Mapping[str, Any]) -> list[tuple[str, str]]:
    """rabbit_mirror_queue_misc's rules across keys: every ha- key needs ha-mode, whose ha-params they are."""
    mode, params = definition.get("ha-mode"), definition.get("ha-params")
    if any(key.startswith("ha-") for key in definition) and mode is None:
        first = next(key for key in definition if key.startswith("ha-"))
        return [(first, "needs ha-mode")]
    if mode == "all" and "ha-params" in definition:
        return [("ha-params", "is not taken with ha-mode all")]
    if mode == "exactly" and Integer(1)(params) is not None:
        return [("ha-params", "must be an integer of 1 or more with ha-mode exactly")]
    if mode == "nodes" and not (isinstance(params, list) and params and all(isinstance(p, str) for p in params)):
        return [("ha-params", "must be a list of node names with ha-mode nodes")]
    return []


def policy_problems(definition: Mapping[str, Any], *, operator: bool) -> list[tuple[str, str, bool]]:
    """What RabbitMQ would refuse in a policy definition: (key, sentence, only a warning). A key RabbitMQ
    and its bundled plugins do not define is a warning (a plugin may add it; the broker refuses it otherwise)."""
    found: list[tuple[str, str, bool]] = []
    if not definition:
        found.append(("", "a policy needs at least one key in its definition (RabbitMQ: \"no policy provided\")",
                      False))
    for key, value in definition.items():
        rule = POLICY_KEYS.get(key)
        if operator and key not in OPERATOR_POLICY_KEYS:
            found.append((key, f"operator policies take only {', '.join(sorted(OPERATOR_POLICY_KEYS))}; RabbitMQ "
                          f"refuses `{key}` in one", rule is None))
        elif rule is None:
            found.append((key, f"`{key}` is not a policy key of RabbitMQ or of its bundled plugins; the broker "
                          "refuses it unless a plugin adds it", True))
        elif (wants := rule(value)) is not None:
            found.append((key, f"RabbitMQ refuses {key} {value!r}: it takes {wants}", False))
    if not operator:
        found += [(key, f"{key} {sentence}", False) for key, sentence in _ha_problems(definition)]
        federation = [key for key in _FEDERATION if key in definition]
        if len(federation) > 1:
            found.append((federation[1], f"RabbitMQ takes only one of {', '.join(_FEDERATION)} in a policy", False))
    return found


_EXCHANGE_TYPE = r"^(direct|fanout|topic|headers|x-[A-Za-z0-9_.-]+)$"


def _exchange_type(value: Any) -> Any:
    if isinstance(value, str) and not re.match(_EXCHANGE_TYPE, value):
        raise not_one_of(value, "an exchange type", ("direct", "fanout", "topic", "headers"),
                         "use direct, fanout, topic, headers or an x- plugin type")
    return value


def _max_age_field(value: Any) -> Any:
    wants = max_age(value)
    if wants is not None:
        raise ValueError(f"{value!r} is not a max age RabbitMQ takes: write {wants}")
    return value


MaxAge = Annotated[str, BeforeValidator(_max_age_field)]
Int = Annotated[int, Strict()]  # RabbitMQ takes no boolean nor float where it wants an integer
Bool = Annotated[bool, Strict()]  # nor 1 or "true" where it wants a boolean


def _not_boolean(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("RabbitMQ wants an integer here, not true or false")
    return value

# A number as RabbitMQ's JSON holds it: an integer or a finite float (JSON has no infinity nor NaN)
Number = Annotated[int, Strict()] | Annotated[float, Strict(), AllowInfNan(False)]


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
    """A queue. Each typed field is one x-argument (QUEUE_ARGUMENTS says which queue types take it);
    like every argument, it is immutable: a change replaces the queue."""

    type: Literal["classic", "quorum", "stream"] | None = Field(
        None, description="Queue type; default: the vhost's default_queue_type, else classic. Immutable.")
    durable: bool = Field(True, description="Survives a broker restart. Immutable.")
    auto_delete: bool = Field(False, description="Deleted when its last consumer goes. Immutable.")
    bindings: list[QueueBinding] = Field(default_factory=list, description="Exchanges that route to this queue.")
    message_ttl: Duration | None = Field(
        None, ge=_NON_NEGATIVE.minimum, description="x-message-ttl: messages older than this expire.")
    expires: Duration | None = Field(
        None, ge=_POSITIVE.minimum, description="x-expires: the queue is deleted after this long unused.")
    max_length: Int | None = Field(None, ge=_NON_NEGATIVE.minimum, description="x-max-length: most messages kept.")
    max_length_bytes: Size | None = Field(None, description="x-max-length-bytes: most message bytes kept.")
    overflow: Literal["drop-head", "reject-publish", "reject-publish-dlx"] | None = Field(
        None, description="x-overflow: what happens when the queue is full.")
    delivery_limit: Int | None = Field(
        None, description="x-delivery-limit: redeliveries before dead-lettering (quorum queues only); RabbitMQ "
        "takes any integer, -1 for no limit.")
    max_priority: Int | None = Field(
        None, ge=MAX_PRIORITY.minimum, le=MAX_PRIORITY.maximum, description="x-max-priority (classic queues only).")
    single_active_consumer: Bool | None = Field(None, description="x-single-active-consumer.")
    dead_letter_strategy: Literal["at-most-once", "at-least-once"] | None = Field(
        None, description="x-dead-letter-strategy (quorum queues only); at-least-once needs overflow reject-publish.")
    max_in_memory_length: Int | None = Field(
        None, ge=_NON_NEGATIVE.minimum, description="x-max-in-memory-length (quorum queues only).")
    max_in_memory_bytes: Size | None = Field(None, description="x-max-in-memory-bytes (quorum queues only).")
    initial_group_size: Int | None = Field(
        None, ge=_POSITIVE.minimum, description="x-quorum-initial-group-size: how many nodes hold the queue's "
        "replicas when it is declared (quorum queues only).")
    leader_locator: Literal["client-local", "balanced", "random", "least-leaders"] | None = Field(
        None, description="x-queue-leader-locator: which node leads a new queue (quorum and stream queues).")
    max_age: MaxAge | None = Field(
        None, description="x-max-age (streams only), in RabbitMQ's units: 7D, 12h, 1Y (Y 365 days, M 30 days, D, h, "
        "m, s).")
    stream_max_segment_size_bytes: Size | None = Field(
        None, le=MAX_SEGMENT_SIZE.maximum, description="x-stream-max-segment-size-bytes (streams only).")
    initial_cluster_size: Int | None = Field(
        None, ge=_POSITIVE.minimum, description="x-initial-cluster-size: replicas of a new stream (streams only).")
    queue_mode: Literal["default", "lazy"] | None = Field(None, description="x-queue-mode (classic queues only).")
    queue_version: Annotated[Literal[1, 2], BeforeValidator(_not_boolean)] | None = Field(
        None, description="x-queue-version (classic queues only).")
    master_locator: Literal["min-masters", "client-local", "random"] | None = Field(
        None, description="x-queue-master-locator (classic queues only).")
    dead_letter: QueueDeadLetter | None = Field(
        None, description="Where rejected and expired messages go; the queue is created unless declared.")
    retry: Retry | None = Field(None, description="Retry tiers: one wait queue per delay, back to this queue.")
    arguments: Arguments = Field(default_factory=dict, description="Raw x- arguments (escape hatch). Immutable.")
    monitor: QueueMonitor | None = Field(  # type: ignore[valid-type]
        None, description="Limits `topology status`, `alerts` and `exporter` watch; never changes a plan.")


class Policy(Spec):
    pattern: str = Field(description="Regular expression over queue or exchange names.")
    apply_to: Literal["queues", "exchanges", "all", "classic_queues", "quorum_queues", "streams"] = Field(
        "all", description="What the pattern matches (classic_queues, quorum_queues and streams: RabbitMQ 3.12+).")
    priority: Number = Field(0, description="The highest-priority matching policy wins.")
    definition: Arguments = Field(description="Policy keys, e.g. message-ttl, max-length, dead-letter-exchange.")
    protect: bool = Field(False, description="Never delete this policy.")


class VHostLimits(Spec):
    """`rabbitmqctl set_vhost_limits`: any integer; a negative one lifts the limit, 0 allows none."""

    max_connections: Int | None = Field(None, alias="max-connections", description="Most client connections.")
    max_queues: Int | None = Field(None, alias="max-queues", description="Most queues.")


class VHost(Protectable):
    description: str | None = Field(None, description="The vhost's description (metadata).")
    tags: list[str] | None = Field(None, description="The vhost's tags (metadata).")
    default_queue_type: Literal["classic", "quorum", "stream"] | None = Field(
        None, description="The type of queues declared here without x-queue-type; RabbitMQ 3.10 sets it only when "
        "it creates the vhost.")
    tracing: bool | None = Field(None, description="Whether the firehose tracer publishes this vhost's messages to "
                                 "amq.rabbitmq.trace.")
    limits: VHostLimits | None = Field(
        None, description="max-connections, max-queues; the limits not named are lifted.")
    exchanges: dict[str, Exchange] = Field(default_factory=dict, description="Exchanges by name.")
    queues: dict[str, Queue] = Field(default_factory=dict, description="Queues by name.")
    exchange_bindings: list[ExchangeBinding] = Field(default_factory=list, description="Exchange-to-exchange bindings.")
    policies: dict[str, Policy] = Field(default_factory=dict, description="Policies by name.")
    operator_policies: dict[str, Policy] = Field(default_factory=dict, description="Operator policies by name.")
    federation_upstreams: dict[str, FederationUpstream] = Field(
        default_factory=dict, description="Federation upstreams by name (`federation-upstream` parameters).")
    federation_upstream_sets: dict[str, FederationUpstreamSet] = Field(
        default_factory=dict, description="Federation upstream sets by name (`federation-upstream-set` parameters).")
    shovels: dict[str, Shovel] = Field(default_factory=dict, description="Dynamic shovels by name.")


class Permission(Spec):
    configure: str = Field("^$", description="Regex of resources the user may declare and delete.")
    write: str = Field("^$", description="Regex of resources the user may publish to.")
    read: str = Field("^$", description="Regex of resources the user may consume from.")


class TopicPermission(Spec):
    write: str = Field("^$", description="Regex of routing keys the user may publish with.")
    read: str = Field("^$", description="Regex of routing keys the user may bind with.")


class UserLimits(Spec):
    """`rabbitmqctl set_user_limits` (RabbitMQ 3.8.10+): any integer; a negative one lifts the limit."""

    max_connections: Int | None = Field(None, alias="max-connections", description="Most connections of the user.")
    max_channels: Int | None = Field(None, alias="max-channels", description="Most channels on each connection.")


class User(Protectable):
    password: Secret | None = Field(
        None, description="Read it from the environment: \"${SVC_PASSWORD}\". Never printed.",
        json_schema_extra={"writeOnly": True})
    tags: list[str] = Field(default_factory=list, description="management, monitoring, administrator, ...")
    limits: UserLimits | None = Field(None, description="max-connections, max-channels; the limits not named are "
                                      "lifted.")
    permissions: dict[str, Permission] = Field(default_factory=dict, description="Per vhost.")
    topic_permissions: dict[str, dict[str, TopicPermission]] = Field(
        default_factory=dict, description="Per vhost, per topic exchange (e.g. amq.topic): routing-key rules.")


class RabbitMQ(Spec):
    target: str | None = Field(None, description="A name under `targets`; none means the embedded local target.")
    vhosts: dict[str, VHost] = Field(default_factory=dict, description="Virtual hosts by name (`/` is the default).")
    users: dict[str, User] = Field(default_factory=dict, description="Users by name.")
    global_parameters: dict[str, GlobalParameter] = Field(
        default_factory=dict, description="Global parameters by name, e.g. cluster_name (never `internal...`).")


class RabbitMQTarget(RemoteTarget):
    kind: Literal["rabbitmq"] = Field(description="The broker kind this target serves.")
    url: str = Field(description="Management API URL with credentials, e.g. ${RABBITMQ_URL}.")
    amqp_url: str | None = Field(
        None, description="AMQP URL, for exact message counts and live routing probes; default: the "
        "management host on port 5672 with the same credentials.")
    verify: bool = Field(True, description="Verify the management API's TLS certificate.")
    ca_file: str | None = Field(None, description="CA bundle for the management API's TLS certificate.")
