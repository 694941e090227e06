"""RabbitMQ's rules over the whole expanded topology: reserved names, declared exchanges (bindings,
alternate and dead-letter exchanges, expectations), what each queue type supports."""

from __future__ import annotations

import datetime
import math
from collections.abc import Iterator
from typing import Any

from topology.brokers.rabbitmq.routing import X_MATCH_MODES
from topology.core.problems import PathPart, did_you_mean
from topology.core.resource import Resource
from topology.format.check import Checker
from topology.format.document import Publish
from topology.format.load import LoadedFile

__all__ = ["CHECKS", "check_publish", "exchange_known"]

def _rabbit_name(checker: Checker, resource: Resource, what: str) -> None:
    if resource.name.startswith("amq."):
        checker.report(resource, f"{what} names starting with `amq.` are reserved by RabbitMQ",
                       hint="choose another name")
    if len(resource.name.encode()) > 255:
        checker.report(resource, f"{what} names are at most 255 bytes", hint="shorten the name")


def exchange_known(checker: Checker, vhost: str, name: str) -> bool:
    return name.startswith("amq.") or f"rabbitmq/{vhost}/exchange/{name}" in checker.resources


def _unknown_exchange(checker: Checker, resource: Resource, vhost: str, name: str, *sub: PathPart,
                      dropped: str = "") -> None:
    """An exchange the file names but does not declare: an error for a binding (RabbitMQ refuses it); a
    warning for an alternate or dead-letter exchange (`dropped` says what: RabbitMQ takes the name, and
    drops those messages while no such exchange exists)."""
    declared = checker.names(f"rabbitmq/{vhost}/exchange/")
    hint = did_you_mean(name, declared) or f"declare it under rabbitmq.vhosts.{vhost}.exchanges"
    message = f"exchange `{name}` is not declared in vhost `{vhost}`"
    checker.report(resource, f"{message}: RabbitMQ drops {dropped}" if dropped else message, *sub, hint=hint,
                   warning=bool(dropped))


def _check_exchange(checker: Checker, resource: Resource) -> None:
    _rabbit_name(checker, resource, "exchange")
    alternate = resource.attributes["arguments"].get("alternate-exchange")
    if isinstance(alternate, str) and not exchange_known(checker, resource.scope, alternate):
        _unknown_exchange(checker, resource, resource.scope, alternate, "alternate_exchange",
                          dropped="what it would receive")


def _check_queue(checker: Checker, resource: Resource) -> None:
    _rabbit_name(checker, resource, "queue")
    attributes = resource.attributes
    arguments: dict[str, Any] = attributes["arguments"]
    queue_type = attributes["type"]
    vhost = resource.scope
    exchange = arguments.get("x-dead-letter-exchange")
    if exchange and resource.generated_by is None and not exchange_known(checker, vhost, exchange):
        _unknown_exchange(checker, resource, vhost, exchange, "dead_letter", "exchange",
                          dropped="the messages dead-lettered there")
    if queue_type == "classic":
        return
    if not attributes["durable"]:
        checker.report(resource, f"{queue_type} queues are always durable", "durable", hint="remove `durable: false`")
    if attributes["auto_delete"]:
        checker.report(resource, f"{queue_type} queues cannot be auto-delete", "auto_delete",
                       hint="remove `auto_delete: true`")
    # The arguments each queue type takes, and their values, are checked by the expansion (QUEUE_ARGUMENTS).
    if queue_type == "stream":
        generated = [r for r in checker.resources.values() if r.generated_by == resource.address]
        if generated:
            checker.report(resource, "stream queues cannot have retry tiers", "retry",
                           hint="use a quorum queue for retries and dead-lettering")


# Typed values: what RabbitMQ's management API takes in a binding argument (JSON: it types text as
# longstr, an integer as long, a float as double; it refuses null), and what an AMQP header carries as
# `topology test --live` sends it (routing.field_value); anything else is said at validate, not at apply.
_LONG = (-(2**63), 2**63 - 1)  # AMQP long-long-int
_TIMESTAMP = (0, 2**64 - 1)  # AMQP timestamp: unsigned seconds since 1970
_DATE_HINT = "quote it to give text, or write a time (2024-01-01T00:00:00Z) for an AMQP timestamp"
_Found = tuple[tuple[PathPart, ...], str, str | None]  # where inside the value, what is wrong, the hint


def _inside(value: Any, check: Any, at: tuple[PathPart, ...] = ()) -> Iterator[_Found]:
    """`check` over `value` and every value nested in its lists and mappings."""
    found = check(value)
    if found is not None:
        yield (at, *found)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _inside(item, check, (*at, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _inside(item, check, (*at, index))


def _json_argument(value: Any) -> tuple[str, str | None] | None:
    if value is None:
        return "RabbitMQ's management API refuses null in binding arguments", "remove it, or give a value"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value} is no number JSON (and so RabbitMQ's management API) can carry", None
    if isinstance(value, datetime.date):
        return f"{value} is a date or time, which RabbitMQ's management API cannot take as an argument", "quote it"
    if not isinstance(value, str | int | float | list | dict):
        return f"a {type(value).__name__} cannot be a binding argument (RabbitMQ's management API takes JSON)", None
    return None


def _amqp_header(value: Any) -> tuple[str, str | None] | None:
    if isinstance(value, bool) or value is None or isinstance(value, str | bytes | list):
        return None
    if isinstance(value, int) and not _LONG[0] <= value <= _LONG[1]:
        return f"{value} is out of the range of an AMQP long ({_LONG[0]} to {_LONG[1]})", "quote it to send text"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value} is no double RabbitMQ reads: it closes the connection", None
    if isinstance(value, datetime.datetime):
        seconds = value.replace(tzinfo=value.tzinfo or datetime.UTC).timestamp()
        return None if _TIMESTAMP[0] <= seconds <= _TIMESTAMP[1] else (
            f"{value} is before 1970, which no AMQP timestamp can say", "quote it to send text")
    if isinstance(value, datetime.date):
        return f"{value} is a date, which no AMQP header value is", _DATE_HINT
    if isinstance(value, dict):
        long_key = next((k for k in value if len(str(k).encode()) > 255), None)
        return None if long_key is None else (f"the table key `{long_key}` is longer than AMQP's 255 bytes", None)
    return None if isinstance(value, int | float) else (f"a {type(value).__name__} is no AMQP header value", None)


def _headers_exchange(checker: Checker, vhost: str, name: str) -> bool:
    if name in ("amq.headers", "amq.match"):
        return True
    exchange = checker.resources.get(f"rabbitmq/{vhost}/exchange/{name}")
    return exchange is not None and exchange.attributes.get("type") == "headers"


def _check_binding_arguments(checker: Checker, resource: Resource) -> None:
    """Arguments RabbitMQ's management API takes; a headers exchange's x-match one of RabbitMQ's modes."""
    arguments = resource.attributes.get("arguments") or {}
    for key, value in arguments.items():
        for at, message, hint in _inside(value, _json_argument):
            checker.report(resource, message, "arguments", key, *at, hint=hint)
    mode = arguments.get("x-match")
    if "x-match" in arguments and _headers_exchange(checker, resource.scope, resource.attributes["source"]) \
            and mode not in X_MATCH_MODES:
        checker.report(resource, f"x-match {mode!r} is not one RabbitMQ takes: it refuses the binding", "arguments",
                       "x-match", hint="use all, any, all-with-x or any-with-x")


def _check_binding(checker: Checker, resource: Resource) -> None:
    vhost = resource.scope
    source = resource.attributes["source"]
    if source == "":
        checker.report(resource, "the default exchange cannot be bound explicitly", "exchange",
                       hint="every queue is already reachable through it by its name")
    elif not exchange_known(checker, vhost, source):
        _unknown_exchange(checker, resource, vhost, source, "exchange")
    _check_binding_arguments(checker, resource)


def _check_exchange_binding(checker: Checker, resource: Resource) -> None:
    vhost = resource.scope
    for field_name in ("source", "destination"):
        name = resource.attributes[field_name]
        if name == "" or not exchange_known(checker, vhost, name):
            _unknown_exchange(checker, resource, vhost, name, field_name)
    _check_binding_arguments(checker, resource)


def _check_policy(checker: Checker, resource: Resource) -> None:
    """A policy's alternate or dead-letter exchange not declared in its vhost: RabbitMQ accepts it, and
    drops what it would have caught (a warning: the exchange may be another file's or another team's)."""
    definition = resource.attributes.get("definition") or {}
    for key in ("alternate-exchange", "dead-letter-exchange"):
        name = definition.get(key)
        if isinstance(name, str) and name and not exchange_known(checker, resource.scope, name):
            declared = checker.names(f"rabbitmq/{resource.scope}/exchange/")
            checker.report(resource, f"{key} `{name}` is not declared in vhost `{resource.scope}`: RabbitMQ drops "
                           "what it would receive", "definition", key,
                           hint=did_you_mean(name, declared) or "declare it, or check the name", warning=True)


def _check_permission(checker: Checker, resource: Resource) -> None:
    vhost = resource.scope
    if vhost != "/" and f"rabbitmq/vhost/{vhost}" not in checker.resources:
        checker.report(resource, f"vhost `{vhost}` is not declared; the permission needs it to exist on the broker",
                       hint=did_you_mean(vhost, checker.names("rabbitmq/vhost/")), warning=True)

def check_publish(checker: Checker, loaded: LoadedFile, path: tuple[PathPart, ...], publish: Publish) -> str:
    """An expectation's exchange must be declared, its routing key and headers sendable over AMQP; its
    queues are the vhost's."""
    vhost = publish.vhost or "/"
    if publish.exchange and not exchange_known(checker, vhost, publish.exchange):
        checker.report_at(loaded, (*path, "publish", "exchange"),
                          f"exchange `{publish.exchange}` is not declared in vhost `{vhost}`",
                          did_you_mean(publish.exchange, checker.names(f"rabbitmq/{vhost}/exchange/")))
    if len(publish.routing_key.encode()) > 255:
        checker.report_at(loaded, (*path, "publish", "routing_key"), "a routing key is at most 255 bytes (AMQP)")
    for key, value in publish.headers.items():
        where = (*path, "publish", "headers", key)
        if len(key.encode()) > 255:
            checker.report_at(loaded, where, f"the header name `{key}` is longer than AMQP's 255 bytes")
        for at, message, hint in _inside(value, _amqp_header):
            checker.report_at(loaded, (*where, *at), message, hint)
    return f"rabbitmq/{vhost}/queue/"


CHECKS = {
    "rabbitmq.exchange": _check_exchange,
    "rabbitmq.queue": _check_queue,
    "rabbitmq.binding": _check_binding,
    "rabbitmq.exchange_binding": _check_exchange_binding,
    "rabbitmq.policy": _check_policy,
    "rabbitmq.permission": _check_permission,
    "rabbitmq.topic_permission": _check_permission,
}
