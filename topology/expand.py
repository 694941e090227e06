"""From a Document (the user's vocabulary) to primitive Resources (the broker's objects).

`dead_letter` and `retry` become queues, topics and streams of their own; consumer groups take in
the retry topics they must read; an SNS subscription to a declared queue gives that queue a policy
letting the topic send. Attributes are in each broker's own names and units.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jinja2

from topology.kafka_config import acl_address, normalise_topic_config
from topology.load import LoadedFile
from topology.problems import Location, PathPart, Problem, dotted
from topology.resources import Resource
from topology.secrets import Secret
from topology.spec.aws import SQS_PLAIN, SQS_SECONDS, Sns, Sqs, SqsQueue
from topology.spec.document import Document
from topology.spec.kafka import Kafka
from topology.spec.rabbitmq import QUEUE_ARGUMENTS, Queue, RabbitMQ
from topology.spec.redis import Redis
from topology.templating import SafeTemplate
from topology.units import format_duration

__all__ = ["binding_address", "expand_file"]

MANAGED_BY = {"managed-by": "topology"}


def binding_address(vhost: str, kind: str, source: str, destination: str, key: str,
                    arguments: dict[str, Any]) -> str:
    """`rabbitmq/<vhost>/binding/<exchange>-><queue>[<key>]`, with `{k=v,...}` when it has arguments."""
    args = "{" + ",".join(f"{k}={arguments[k]}" for k in sorted(arguments)) + "}" if arguments else ""
    return f"rabbitmq/{vhost}/{kind}/{source}->{destination}[{key}]{args}"


@dataclass
class _Context:
    loaded: LoadedFile
    document: Document
    resources: list[Resource] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    _templates: dict[str, Callable[..., str]] = field(default_factory=dict)

    def where(self, path: tuple[PathPart, ...]) -> Location | None:
        return self.loaded.positions.at(path, key=True)

    def add(self, kind: str, address: str, target: str | None, attributes: dict[str, Any],
            path: tuple[PathPart, ...], *, name: str, scope: str = "", depends_on: tuple[str, ...] = (),
            protect: bool = False, generated_by: str | None = None, secrets: dict[str, Secret] | None = None) -> None:
        self.resources.append(Resource(
            kind=kind, address=address, name=name, scope=scope, target=target, attributes=attributes,
            depends_on=depends_on,
            protect=protect, generated_by=generated_by, origin=self.where(path), path=path,
            secrets=secrets or {}))

    def problem(self, message: str, path: tuple[PathPart, ...], hint: str | None = None,
                severity: str = "error") -> None:
        self.problems.append(Problem(message, self.where(path), dotted(path), hint,
                                     "warning" if severity == "warning" else "error"))

    def name(self, template_field: str, path: tuple[PathPart, ...], **values: str) -> str:
        source = getattr(self.document.naming, template_field)
        template = self._templates.get(source)
        try:
            if template is None:
                template = self._templates[source] = _compile_name_template(source)
            return template(**values).strip()
        except jinja2.TemplateError as exc:
            self.problem(f"naming.{template_field} cannot be rendered: {exc}", ("naming", template_field),
                         f"it may use {', '.join('{{ ' + k + ' }}' for k in values)}")
            return ".".join(values.values())


_PLACEHOLDER = re.compile(r"\{\{\s*(queue|topic|stream|delay)\s*\}\}")


def _compile_name_template(source: str) -> Callable[..., str]:
    """A `naming:` template as a function; plain `{{ name }}` templates skip jinja2 (thousands of names)."""
    if "{%" not in source and "{#" not in source and _PLACEHOLDER.sub("", source).count("{{") == 0:
        pattern = _PLACEHOLDER.sub(lambda m: "\0" + m.group(1) + "\0", source).split("\0")

        def fill(**values: str) -> str:
            return "".join(values[part] if index % 2 else part for index, part in enumerate(pattern))
        return fill
    return SafeTemplate(source).render  # sandboxed and bounded, its budget shared by every name it makes


def expand_file(loaded: LoadedFile) -> tuple[list[Resource], list[Problem]]:
    """The primitive resources one loaded file declares, and the problems found expanding it."""
    assert loaded.document is not None
    context = _Context(loaded, loaded.document)
    document = loaded.document
    if document.rabbitmq:
        _rabbitmq(context, document.rabbitmq)
    if document.kafka:
        _kafka(context, document.kafka)
    if document.sqs:
        _sqs(context, document.sqs)
    if document.sns:
        _sns(context, document.sns)
    if document.redis:
        _redis(context, document.redis)
    return context.resources, context.problems


# --------------------------------------------------------------------------------------- RabbitMQ



def _queue_arguments(context: _Context, queue: Queue, path: tuple[PathPart, ...]) -> dict[str, Any]:
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


def _rabbitmq(context: _Context, section: RabbitMQ) -> None:
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


def _rabbitmq_queue(context: _Context, target: str | None, vhost: str, name: str, queue: Queue) -> None:
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


# ------------------------------------------------------------------------------------------ Kafka


def _kafka(context: _Context, section: Kafka) -> None:
    target = section.target
    retry_topics: dict[str, list[str]] = {}
    for name, topic in section.topics.items():
        path: tuple[PathPart, ...] = ("kafka", "topics", name)
        config, config_problems = normalise_topic_config(dict(topic.config))
        for key, message in config_problems.items():
            context.problem(message, (*path, "config", key))
        attributes: dict[str, Any] = {"config": config}
        if topic.partitions is not None:
            attributes["partitions"] = topic.partitions
        if topic.replication_factor is not None:
            attributes["replication_factor"] = topic.replication_factor
        address = f"kafka/topic/{name}"
        context.add("kafka.topic", address, target, attributes, path, name=name, protect=topic.protect)
        if topic.retry is not None:
            retry_attributes = _with_config(context, attributes, topic.retry.config, (*path, "retry", "config"))
            for index, delay in enumerate(topic.retry.delays):
                retry = context.name("kafka_retry_topic", (*path, "retry"), topic=name, delay=format_duration(delay))
                retry_topics.setdefault(name, []).append(retry)
                context.add("kafka.topic", f"kafka/topic/{retry}", target, dict(retry_attributes),
                            (*path, "retry", "delays", index), name=retry, generated_by=address)
        if topic.dead_letter:
            extra = topic.dead_letter.config if not isinstance(topic.dead_letter, bool) else {}
            dlt = context.name("kafka_dead_letter_topic", (*path, "dead_letter"), topic=name)
            context.add("kafka.topic", f"kafka/topic/{dlt}", target,
                        _with_config(context, attributes, extra, (*path, "dead_letter", "config")),
                        (*path, "dead_letter"), name=dlt, generated_by=address)

    for name, group in section.consumer_groups.items():
        topics = [t for topic in group.topics for t in (topic, *retry_topics.get(topic, []))]
        context.add("kafka.group", f"kafka/group/{name}", target, {
            "topics": topics, "initial_offset": group.initial_offset,
        }, ("kafka", "consumer_groups", name), name=name, depends_on=tuple(f"kafka/topic/{t}" for t in topics),
            protect=group.protect)

    for index, acl in enumerate(section.acls):
        resource = acl.resource
        for operation in acl.operations:
            binding = {"principal": acl.principal, "host": acl.host, "resource_type": resource.type,
                       "resource_name": resource.name, "pattern_type": resource.pattern, "operation": operation,
                       "permission": acl.permission}
            context.add("kafka.acl", acl_address(binding), target, binding, ("kafka", "acls", index),
                        name=f"{acl.principal}/{operation}", protect=acl.protect)


def _with_config(context: _Context, attributes: dict[str, Any], extra: dict[str, Any],
                 path: tuple[PathPart, ...]) -> dict[str, Any]:
    """A generated topic's attributes: the topic's, with `extra` config over its config."""
    config, problems = normalise_topic_config(dict(extra))
    for key, message in problems.items():
        context.problem(message, (*path, key))
    return {**attributes, "config": {**attributes["config"], **config}}


# ------------------------------------------------------------------------------------ SQS and SNS


def _seconds(context: _Context, milliseconds: int, path: tuple[PathPart, ...]) -> int:
    if milliseconds % 1000:
        context.problem(f"SQS counts in whole seconds; {milliseconds}ms is not one", path,
                        f"write {milliseconds // 1000}s or {milliseconds // 1000 + 1}s")
    return milliseconds // 1000


def _fifo_name(base: str, fifo: bool) -> str:
    return f"{base}.fifo" if fifo else base


def _sqs(context: _Context, section: Sqs) -> None:
    target = section.target
    for name, queue in section.queues.items():
        path: tuple[PathPart, ...] = ("sqs", "queues", name)
        address = f"sqs/queue/{name}"
        base = name.removesuffix(".fifo")
        attributes = _sqs_attributes(context, queue, path)
        depends: list[str] = []
        redrive: dict[str, Any] | None = None
        if queue.dead_letter is not None:
            dlq = queue.dead_letter.queue or _fifo_name(
                context.name("sqs_dead_letter_queue", (*path, "dead_letter"), queue=base), queue.fifo)
            redrive = {"deadLetterQueue": dlq, "maxReceiveCount": queue.dead_letter.max_receives}
            attributes["RedrivePolicy"] = redrive
            dlq_attributes: dict[str, Any] = {"FifoQueue": queue.fifo, "MessageRetentionPeriod": 1_209_600,
                                              "tags": dict(MANAGED_BY)}
            context.add("sqs.queue", f"sqs/queue/{dlq}", target, dlq_attributes, (*path, "dead_letter"),
                        name=dlq, generated_by=address)
            depends.append(f"sqs/queue/{dlq}")
        context.add("sqs.queue", address, target, attributes, path, name=name, depends_on=tuple(depends),
                    protect=queue.protect)
        if queue.retry is not None:
            for index, delay in enumerate(queue.retry.delays):
                delay_path = (*path, "retry", "delays", index)
                retry = _fifo_name(context.name("sqs_retry_queue", (*path, "retry"), queue=base,
                                                delay=format_duration(delay)), queue.fifo)
                retry_attributes: dict[str, Any] = {
                    "FifoQueue": queue.fifo, "DelaySeconds": _seconds(context, delay, delay_path),
                    "tags": dict(MANAGED_BY)}
                if redrive is not None:
                    retry_attributes["RedrivePolicy"] = dict(redrive)
                context.add("sqs.queue", f"sqs/queue/{retry}", target, retry_attributes, delay_path,
                            name=retry, depends_on=tuple(depends), generated_by=address)


def _sqs_attributes(context: _Context, queue: SqsQueue, path: tuple[PathPart, ...]) -> dict[str, Any]:
    attributes: dict[str, Any] = {"FifoQueue": queue.fifo}
    for field_name, attribute in SQS_SECONDS.items():
        value = getattr(queue, field_name)
        if value is not None:
            attributes[attribute] = _seconds(context, value, (*path, field_name))
    for field_name, attribute in SQS_PLAIN.items():
        value = getattr(queue, field_name)
        if value is not None:
            attributes[attribute] = value
    if queue.redrive_allow is not None:
        attributes["RedriveAllowPolicy"] = {"redrivePermission": queue.redrive_allow.permission,
                                            "sourceQueues": sorted(queue.redrive_allow.source_queues)}
    attributes["tags"] = {**queue.tags, **MANAGED_BY}
    return attributes


def _sns(context: _Context, section: Sns) -> None:
    target = section.target
    for name, topic in section.topics.items():
        path: tuple[PathPart, ...] = ("sns", "topics", name)
        address = f"sns/topic/{name}"
        attributes: dict[str, Any] = {"FifoTopic": topic.fifo}
        if topic.content_based_deduplication is not None:
            attributes["ContentBasedDeduplication"] = topic.content_based_deduplication
        if topic.display_name is not None:
            attributes["DisplayName"] = topic.display_name
        attributes["tags"] = {**topic.tags, **MANAGED_BY}
        context.add("sns.topic", address, target, attributes, path, name=name, protect=topic.protect)
        for index, subscription in enumerate(topic.subscriptions):
            queue = subscription.queue
            depends = (address,) if queue.startswith("arn:") else (address, f"sqs/queue/{queue}")
            sub: dict[str, Any] = {"topic": name, "queue": queue,
                                   "RawMessageDelivery": subscription.raw_message_delivery}
            if subscription.filter_policy is not None:
                sub["FilterPolicy"] = subscription.filter_policy
            if subscription.filter_policy_scope is not None:
                sub["FilterPolicyScope"] = subscription.filter_policy_scope
            if subscription.dead_letter is not None:
                dlq = subscription.dead_letter.queue
                sub["RedrivePolicy"] = {"deadLetterQueue": dlq}
                if not dlq.startswith("arn:"):
                    depends = (*depends, f"sqs/queue/{dlq}")
            context.add("sns.subscription", f"sns/subscription/{name}->{queue}", target, sub,
                        (*path, "subscriptions", index), name=f"{name}->{queue}", depends_on=depends,
                        protect=subscription.protect)


# ------------------------------------------------------------------------------------------ Redis


def _redis(context: _Context, section: Redis) -> None:
    target = section.target
    for key, stream in section.streams.items():
        path: tuple[PathPart, ...] = ("redis", "streams", key)
        address = f"redis/stream/{key}"
        attributes: dict[str, Any] = {}
        if stream.max_length is not None:
            attributes["max_length"] = stream.max_length
        groups = {name: group.start for name, group in stream.groups.items()}
        streams: list[tuple[str, dict[str, Any], dict[str, str], tuple[PathPart, ...], str | None]] = [
            (key, attributes, groups, path, None)]
        if stream.retry is not None:
            for index, delay in enumerate(stream.retry.delays):
                retry = context.name("redis_retry_stream", (*path, "retry"), stream=key, delay=format_duration(delay))
                streams.append((retry, {}, dict(groups), (*path, "retry", "delays", index), address))
        if stream.dead_letter:
            dlq = context.name("redis_dead_letter_stream", (*path, "dead_letter"), stream=key)
            streams.append((dlq, {}, {"dlq": "0"}, (*path, "dead_letter"), address))
        for stream_key, stream_attributes, stream_groups, stream_path, generated_by in streams:
            stream_address = f"redis/stream/{stream_key}"
            context.add("redis.stream", stream_address, target, stream_attributes, stream_path, name=stream_key,
                        protect=stream.protect and generated_by is None, generated_by=generated_by)
            for group, start in stream_groups.items():
                group_path = (*path, "groups", group) if generated_by is None else stream_path
                context.add("redis.group", f"redis/group/{stream_key}/{group}", target,
                            {"stream": stream_key, "start": start}, group_path, name=group, scope=stream_key,
                            depends_on=(stream_address,),
                            protect=stream.groups[group].protect if group in stream.groups and generated_by is None
                            else False, generated_by=generated_by)
