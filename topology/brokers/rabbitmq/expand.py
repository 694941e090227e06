"""The `rabbitmq:` section as primitive resources: vhosts, exchanges, queues (with their dead-letter
and retry queues), bindings, policies, users and permissions."""

from __future__ import annotations

from typing import Any

from topology.brokers.rabbitmq.spec import QUEUE_ARGUMENTS, Queue, RabbitMQ
from topology.core.problems import PathPart
from topology.core.units import format_duration
from topology.format.expand import Expansion

__all__ = ["binding_address", "expand_rabbitmq"]


def binding_address(vhost: str, kind: str, source: str, destination: str, key: str,
                    arguments: dict[str, Any]) -> str:
    """`rabbitmq/<vhost>/binding/<exchange>-><queue>[<key>]`, with `{k=v,...}` when it has arguments."""
    args = "{" + ",".join(f"{k}={arguments[k]}" for k in sorted(arguments)) + "}" if arguments else ""
    return f"rabbitmq/{vhost}/{kind}/{source}->{destination}[{key}]{args}"


def _queue_arguments(context: Expansion, queue: Queue, path: tuple[PathPart, ...]) -> dict[str, Any]:
    arguments: dict[str, Any] = {}
    for field_name, (argument, convert) in QUEUE_ARGUMENTS.items():
        value = getattr(queue, field_name)
        if value is not None:
            arguments[argument] = convert(value)
    for key, value in queue.arguments.items():
        if key in arguments and arguments[key] != value:
            field_name = next(f for f, (a, _) in QUEUE_ARGUMENTS.items() if a == key)
            context.problem(f"`{key}` is set both here and as `{field_name}`", (*path, "arguments", key),
                            f"keep only `{field_name}`")
        elif key == "x-queue-type":
            context.problem("the queue type is set with `type`, not as an argument", (*path, "arguments", key),
                            f"write `type: {value}`")
            continue
        arguments[key] = value
    return arguments


def expand_rabbitmq(context: Expansion, section: RabbitMQ) -> None:
    target = section.target
    for vhost_name, vhost in section.vhosts.items():
        vpath: tuple[PathPart, ...] = ("rabbitmq", "vhosts", vhost_name)
        vaddress = f"rabbitmq/vhost/{vhost_name}"
        context.add("rabbitmq.vhost", vaddress, target, {}, vpath, name=vhost_name, protect=vhost.protect)
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
            _rabbitmq_queue(context, target, vhost_name, name, queue)

        for index, binding in enumerate(vhost.exchange_bindings):
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
                context.add(f"rabbitmq.{kind.replace('-', '_')}", f"{prefix}/{kind}/{name}", target, {
                    "pattern": policy.pattern, "apply-to": policy.apply_to.replace("_", "-"),
                    "priority": policy.priority, "definition": dict(policy.definition),
                }, (*vpath, "policies" if kind == "policy" else "operator_policies", name), name=name,
                    scope=vhost_name, depends_on=(vaddress,), protect=policy.protect)

    for user_name, user in section.users.items():
        upath: tuple[PathPart, ...] = ("rabbitmq", "users", user_name)
        uaddress = f"rabbitmq/user/{user_name}"
        secrets = {"password": user.password} if user.password is not None else {}
        context.add("rabbitmq.user", uaddress, target, {"tags": sorted(user.tags)}, upath, name=user_name,
                    protect=user.protect, secrets=secrets)
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


def _rabbitmq_queue(context: Expansion, target: str | None, vhost: str, name: str, queue: Queue) -> None:
    path: tuple[PathPart, ...] = ("rabbitmq", "vhosts", vhost, "queues", name)
    prefix = f"rabbitmq/{vhost}"
    address = f"{prefix}/queue/{name}"
    arguments = _queue_arguments(context, queue, path)
    depends: list[str] = [f"rabbitmq/vhost/{vhost}"]

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
                "type": queue.type, "durable": True, "auto_delete": False, "arguments": {},
            }, (*path, "dead_letter"), name=dlq, scope=vhost, depends_on=(f"rabbitmq/vhost/{vhost}",),
                generated_by=address)
            depends.append(f"{prefix}/queue/{dlq}")
        if dead_letter.exchange is not None and not dead_letter.exchange.startswith("amq."):
            depends.append(f"{prefix}/exchange/{dead_letter.exchange}")

    context.add("rabbitmq.queue", address, target, {
        "type": queue.type, "durable": queue.durable, "auto_delete": queue.auto_delete, "arguments": arguments,
    }, path, name=name, scope=vhost, depends_on=tuple(depends), protect=queue.protect)

    if queue.retry is not None:
        for index, delay in enumerate(queue.retry.delays):
            wait = context.name("rabbitmq_retry_queue", (*path, "retry"), queue=name, delay=format_duration(delay))
            context.add("rabbitmq.queue", f"{prefix}/queue/{wait}", target, {
                "type": queue.type, "durable": True, "auto_delete": False, "arguments": {
                    "x-message-ttl": delay, "x-dead-letter-exchange": "", "x-dead-letter-routing-key": name},
            }, (*path, "retry", "delays", index), name=wait, scope=vhost,
                depends_on=(f"rabbitmq/vhost/{vhost}", address), generated_by=address)

    for index, binding in enumerate(queue.bindings):
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
