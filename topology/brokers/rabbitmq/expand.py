"""The `rabbitmq:` section as primitive resources: vhosts, exchanges, queues (with their dead-letter
and retry queues), bindings, policies, users and permissions."""

from __future__ import annotations

from typing import Any

from topology.brokers.rabbitmq.parameters import expand_parameters
from topology.brokers.rabbitmq.spec import (
    QUEUE_ARGUMENTS,
    Policy,
    Queue,
    RabbitMQ,
    UserLimits,
    VHost,
    VHostLimits,
    policy_problems,
)
from topology.core.problems import PathPart
from topology.core.units import format_duration
from topology.format.expand import Expansion

__all__ = ["binding_address", "expand_rabbitmq"]


def binding_address(vhost: str, kind: str, source: str, destination: str, key: str,
                    arguments: dict[str, Any]) -> str:
    """`rabbitmq/<vhost>/binding/<exchange>-><queue>[<key>]`, with `{k=v,...}` when it has arguments."""
    args = "{" + ",".join(f"{k}={arguments[k]}" for k in sorted(arguments)) + "}" if arguments else ""
    return f"rabbitmq/{vhost}/{kind}/{source}->{destination}[{key}]{args}"


def _queue_arguments(context: Expansion, queue: Queue, queue_type: str, path: tuple[PathPart, ...]) -> dict[str, Any]:
    """The queue's x-arguments: its typed fields, then its raw `arguments`, each checked by RabbitMQ's rule."""
    arguments: dict[str, Any] = {}
    where: dict[str, tuple[PathPart, ...]] = {}  # argument -> where the file sets it
    for argument in QUEUE_ARGUMENTS.values():
        if argument.field is not None and getattr(queue, argument.field) is not None:
            arguments[argument.argument] = getattr(queue, argument.field)
            where[argument.argument] = (*path, argument.field)
    for key, value in queue.arguments.items():
        known = QUEUE_ARGUMENTS.get(key)
        if key in arguments and arguments[key] != value:
            context.problem(f"`{key}` is set both here and as `{known.field if known else key}`",
                            (*path, "arguments", key), f"keep only `{known.field if known else key}`")
        elif key == "x-queue-type":
            context.problem("the queue type is set with `type`, not as an argument", (*path, "arguments", key),
                            f"write `type: {value}`")
            continue
        elif known is not None and (wants := known.rule(value)) is not None:
            context.problem(f"RabbitMQ refuses {key} {value!r}: it takes {wants}", (*path, "arguments", key))
        arguments[key] = value
        where.setdefault(key, (*path, "arguments", key))
    _check_queue_type(context, queue, queue_type, arguments, where)
    return arguments


def _check_queue_type(context: Expansion, queue: Queue, queue_type: str, arguments: dict[str, Any],
                      where: dict[str, tuple[PathPart, ...]]) -> None:
    """The arguments RabbitMQ refuses on this type of queue ("invalid arg ... of queue type"), and those it
    takes but does not honour (it logs a warning and does otherwise)."""
    for key in arguments:
        known = QUEUE_ARGUMENTS.get(key)
        why = known.unsupported(queue_type) if known is not None else None
        if known is not None and why is not None:
            context.problem(why, where[key], f"{known.only()}: use another queue type, or remove it")
    if "x-dead-letter-routing-key" in queue.arguments and "x-dead-letter-exchange" not in arguments:
        context.problem("RabbitMQ refuses x-dead-letter-routing-key without x-dead-letter-exchange",
                        where["x-dead-letter-routing-key"], "add x-dead-letter-exchange, or use `dead_letter`")
    if queue_type == "quorum" and arguments.get("x-overflow") == "reject-publish-dlx":
        context.problem("quorum queues do not honour overflow reject-publish-dlx: RabbitMQ takes it, logs a warning "
                        "and drops from the head instead", where["x-overflow"], "use drop-head or reject-publish",
                        severity="warning")
    if arguments.get("x-dead-letter-strategy") == "at-least-once" and arguments.get("x-overflow") != "reject-publish":
        context.problem("at-least-once dead-lettering needs overflow reject-publish: without it RabbitMQ dead-letters "
                        "at most once", where["x-dead-letter-strategy"], "add `overflow: reject-publish`",
                        severity="warning")


def _check_binding(context: Expansion, routing_key: str, arguments: dict[str, Any], path: tuple[PathPart, ...]) -> None:
    """A binding RabbitMQ takes but its management API cannot list: with arguments and a `~` in its routing
    key, every listing of the vhost's bindings (and every definitions export) fails with HTTP 500."""
    if arguments and "~" in routing_key:
        context.problem("RabbitMQ's management API cannot list a binding that has arguments and a `~` in its routing "
                        "key: every listing of the vhost's bindings would fail (HTTP 500)", (*path, "routing_key"),
                        "leave the `~` out of the routing key, or the arguments out of the binding")


def _vhost_attributes(vhost: VHost) -> dict[str, Any]:
    """The vhost's metadata the file declares (only those are compared)."""
    attributes: dict[str, Any] = {}
    if vhost.description is not None:
        attributes["description"] = vhost.description
    if vhost.tags is not None:
        attributes["tags"] = sorted(vhost.tags)
    if vhost.default_queue_type is not None:
        attributes["default_queue_type"] = vhost.default_queue_type
    if vhost.tracing is not None:
        attributes["tracing"] = vhost.tracing
    return attributes


def _limits(limits: VHostLimits | UserLimits) -> dict[str, int]:
    """Limits by RabbitMQ's names (max-connections), the ones set."""
    return {name: value for name, value in limits.model_dump(by_alias=True).items() if value is not None}


def _policy(context: Expansion, policy: Policy, path: tuple[PathPart, ...], *, operator: bool) -> dict[str, Any]:
    for key, sentence, warning in policy_problems(policy.definition, operator=operator):
        context.problem(sentence, (*path, "definition", key) if key else (*path, "definition"),
                        severity="warning" if warning else "error")
    return {"pattern": policy.pattern, "apply-to": policy.apply_to, "priority": policy.priority,
            "definition": dict(policy.definition)}


def expand_rabbitmq(context: Expansion, section: RabbitMQ) -> None:
    target = section.target
    for vhost_name, vhost in section.vhosts.items():
        vpath: tuple[PathPart, ...] = ("rabbitmq", "vhosts", vhost_name)
        vaddress = f"rabbitmq/vhost/{vhost_name}"
        context.add("rabbitmq.vhost", vaddress, target, _vhost_attributes(vhost), vpath, name=vhost_name,
                    protect=vhost.protect)
        prefix = f"rabbitmq/{vhost_name}"

        for name, exchange in vhost.exchanges.items():
            arguments = dict(exchange.arguments)
            if exchange.alternate_exchange is not None:
                arguments["alternate-exchange"] = exchange.alternate_exchange
            context.add("rabbitmq.exchange", f"{prefix}/exchange/{name}", target, {
                "type": exchange.type, "durable": exchange.durable, "auto_delete": exchange.auto_delete,
                "internal": exchange.internal, "arguments": arguments,
            }, (*vpath, "exchanges", name), name=name, scope=vhost_name, depends_on=(vaddress,),
                protect=exchange.protect)

        for name, queue in vhost.queues.items():
            # a queue that names no type has the vhost's default queue type (classic when it declares none)
            queue_type = queue.type or vhost.default_queue_type or "classic"
            _rabbitmq_queue(context, target, vhost_name, name, queue, queue_type)
        if vhost.limits is not None:
            # after the vhost's queues: a max-queues below their number would refuse them
            queues = tuple(r.address for r in context.resources if r.kind == "rabbitmq.queue" and r.scope == vhost_name)
            context.add("rabbitmq.vhost_limits", f"{prefix}/limits", target, {"limits": _limits(vhost.limits)},
                        (*vpath, "limits"), name="limits", scope=vhost_name, depends_on=(vaddress, *queues))

        for index, binding in enumerate(vhost.exchange_bindings):
            _check_binding(context, binding.routing_key, binding.arguments, (*vpath, "exchange_bindings", index))
            depends = tuple(f"{prefix}/exchange/{e}" for e in (binding.source, binding.destination)
                            if e and not e.startswith("amq."))
            context.add("rabbitmq.exchange_binding", binding_address(
                vhost_name, "exchange-binding", binding.source, binding.destination, binding.routing_key,
                binding.arguments), target, {
                "source": binding.source, "destination": binding.destination, "destination_type": "exchange",
                "routing_key": binding.routing_key, "arguments": dict(binding.arguments),
            }, (*vpath, "exchange_bindings", index), name=f"{binding.source}->{binding.destination}", scope=vhost_name,
                depends_on=(vaddress, *depends), protect=binding.protect)

        for kind, policies in (("policy", vhost.policies), ("operator-policy", vhost.operator_policies)):
            for name, policy in policies.items():
                ppath = (*vpath, "policies" if kind == "policy" else "operator_policies", name)
                context.add(f"rabbitmq.{kind.replace('-', '_')}", f"{prefix}/{kind}/{name}", target,
                            _policy(context, policy, ppath, operator=kind != "policy"), ppath, name=name,
                            scope=vhost_name, depends_on=(vaddress,), protect=policy.protect)

    for user_name, user in section.users.items():
        upath: tuple[PathPart, ...] = ("rabbitmq", "users", user_name)
        uaddress = f"rabbitmq/user/{user_name}"
        secrets = {"password": user.password} if user.password is not None else {}
        attributes: dict[str, Any] = {"tags": sorted(user.tags)}
        if user.limits is not None:
            attributes["limits"] = _limits(user.limits)
        context.add("rabbitmq.user", uaddress, target, attributes, upath, name=user_name, protect=user.protect,
                    secrets=secrets)
        for vhost_name, permission in user.permissions.items():
            context.add("rabbitmq.permission", f"rabbitmq/{vhost_name}/permission/{user_name}", target, {
                "user": user_name, "configure": permission.configure, "write": permission.write,
                "read": permission.read,
            }, (*upath, "permissions", vhost_name), name=user_name, scope=vhost_name,
                depends_on=(uaddress, f"rabbitmq/vhost/{vhost_name}"))
        for vhost_name, exchanges in user.topic_permissions.items():
            for exchange_name, topic in exchanges.items():
                context.add("rabbitmq.topic_permission",
                            f"rabbitmq/{vhost_name}/topic-permission/{user_name}/{exchange_name}", target, {
                                "user": user_name, "exchange": exchange_name, "write": topic.write,
                                "read": topic.read,
                            }, (*upath, "topic_permissions", vhost_name, exchange_name), name=user_name,
                            scope=vhost_name, depends_on=(uaddress, f"rabbitmq/vhost/{vhost_name}"))
    expand_parameters(context, section)


def _rabbitmq_queue(context: Expansion, target: str | None, vhost: str, name: str, queue: Queue,
                    queue_type: str) -> None:
    path: tuple[PathPart, ...] = ("rabbitmq", "vhosts", vhost, "queues", name)
    prefix = f"rabbitmq/{vhost}"
    address = f"{prefix}/queue/{name}"
    arguments = _queue_arguments(context, queue, queue_type, path)
    depends: list[str] = [f"rabbitmq/vhost/{vhost}"]
    if queue.monitor is not None and queue.monitor.max_age is not None and queue_type != "classic":
        context.problem(f"RabbitMQ does not report the age of the oldest message of a {queue_type} queue, so "
                        "`topology status` and the exporter cannot measure max_age here", (*path, "monitor", "max_age"),
                        "watch max_depth instead, or use a classic queue whose publishers set the timestamp property",
                        severity="warning")

    if queue.dead_letter is not None:
        dead_letter = queue.dead_letter
        dlq = dead_letter.queue
        if dlq is None and dead_letter.exchange is None:
            dlq = context.name("rabbitmq_dead_letter_queue", path, queue=name)
        arguments["x-dead-letter-exchange"] = dead_letter.exchange or ""
        routing_key = dead_letter.routing_key or (dlq if dead_letter.exchange is None else None)
        if routing_key is not None:
            arguments["x-dead-letter-routing-key"] = routing_key
        if dlq is not None:
            context.add("rabbitmq.queue", f"{prefix}/queue/{dlq}", target, {
                "type": queue_type, "durable": True, "auto_delete": False, "arguments": {},
            }, (*path, "dead_letter"), name=dlq, scope=vhost, depends_on=(f"rabbitmq/vhost/{vhost}",),
                generated_by=address, role="dead_letter")
            depends.append(f"{prefix}/queue/{dlq}")
        if dead_letter.exchange is not None and not dead_letter.exchange.startswith("amq."):
            depends.append(f"{prefix}/exchange/{dead_letter.exchange}")

    context.add("rabbitmq.queue", address, target, {
        "type": queue_type, "durable": queue.durable, "auto_delete": queue.auto_delete, "arguments": arguments,
    }, path, name=name, scope=vhost, depends_on=tuple(depends), protect=queue.protect, role="work",
        monitor=queue.monitor)

    if queue.retry is not None:
        for index, delay in enumerate(queue.retry.delays):
            wait = context.name("rabbitmq_retry_queue", (*path, "retry"), queue=name, delay=format_duration(delay))
            context.add("rabbitmq.queue", f"{prefix}/queue/{wait}", target, {
                "type": queue_type, "durable": True, "auto_delete": False, "arguments": {
                    "x-message-ttl": delay, "x-dead-letter-exchange": "", "x-dead-letter-routing-key": name},
            }, (*path, "retry", "delays", index), name=wait, scope=vhost,
                depends_on=(f"rabbitmq/vhost/{vhost}", address), generated_by=address, role="retry")

    for index, binding in enumerate(queue.bindings):
        _check_binding(context, binding.routing_key, binding.arguments, (*path, "bindings", index))
        source = binding.exchange
        depends_on = [f"rabbitmq/vhost/{vhost}", address]
        if source and not source.startswith("amq."):
            depends_on.append(f"{prefix}/exchange/{source}")
        context.add("rabbitmq.binding", binding_address(vhost, "binding", source, name, binding.routing_key,
                                                        binding.arguments), target, {
            "source": source, "destination": name, "destination_type": "queue",
            "routing_key": binding.routing_key, "arguments": dict(binding.arguments),
        }, (*path, "bindings", index), name=f"{source}->{name}", scope=vhost, depends_on=tuple(depends_on),
            protect=binding.protect)
