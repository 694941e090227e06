"""Live RabbitMQ objects back into a `rabbitmq:` section (`topology export --format yaml`): adoption.

Typed fields for the x-arguments the format names (the same table expansion reads), defaults left
out. Users come without passwords, which leaves them unmanaged: secrets are never exported."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import TypeAdapter, ValidationError

from topology.brokers.base import Driver
from topology.brokers.rabbitmq.parameters import export_parameters
from topology.brokers.rabbitmq.spec import QUEUE_ARGUMENTS, Queue
from topology.core.notes import Noted
from topology.core.resource import Live, same

__all__ = ["export_rabbitmq", "export_target", "typed_field"]


@functools.cache
def _field(name: str) -> TypeAdapter[Any]:
    """The validator of one of Queue's typed fields, constraints included."""
    info = Queue.model_fields[name]
    annotation: Any = Annotated[info.annotation, *info.metadata] if info.metadata else info.annotation
    return TypeAdapter(annotation)


def typed_field(queue_type: str, argument: str, value: Any) -> str | None:
    """The typed field that says this argument exactly, or None: it stays in `arguments`, as it is. A value
    the field would read otherwise (x-delivery-limit is any AMQP value to RabbitMQ: "5" is no 5), or that
    the queue type does not take, keeps its raw form, so the exported file declares what the broker holds."""
    known = QUEUE_ARGUMENTS.get(argument)
    if known is None or known.field is None or known.unsupported(queue_type) is not None:
        return None
    try:
        read = _field(known.field).validate_python(value)
    except ValidationError:
        return None
    return known.field if same(read, value) else None


@dataclass
class _Section:
    """The `rabbitmq:` section being filled: its vhosts and its users, by name."""

    vhosts: dict[str, dict[str, Any]] = field(default_factory=dict)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    queue_types: dict[str, str] = field(default_factory=dict)  # vhost -> its default queue type, when not classic

    def vhost(self, name: str) -> dict[str, Any]:
        return self.vhosts.setdefault(name, {})

    def queue(self, scope: str, name: str) -> dict[str, Any]:
        queues: dict[str, dict[str, Any]] = self.vhost(scope).setdefault("queues", {})
        return queues.setdefault(name, {})

    def user(self, name: str) -> dict[str, Any]:
        return self.users.setdefault(name, {})


def _non_default(attributes: Mapping[str, Any], defaults: tuple[tuple[str, Any], ...]) -> dict[str, Any]:
    return {key: attributes[key] for key, default in defaults if attributes[key] != default}


def _routing(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """A binding's routing key and arguments, when set."""
    routing = {key: attributes[key] for key in ("routing_key", "arguments") if attributes[key]}
    if "arguments" in routing:
        routing["arguments"] = _noted(routing["arguments"])
    return routing


_BYTES = "Not UTF-8, base64 is: "  # how the management API shows an AMQP byte array that is not UTF-8
_VOID = "undefined"  # and an AMQP void


def _noted(value: Any) -> Any:
    """An argument's value with a note where the management API's JSON could not say its AMQP type (a byte
    array, a void): the file says what RabbitMQ showed, and applied it gives that text, not the value."""
    if isinstance(value, dict):
        return {key: _noted(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_noted(item) for item in value]
    if isinstance(value, str) and value.startswith(_BYTES):
        return Noted(value, "an AMQP byte array (the bytes are the base64 after `is:`) the management API can only "
                     "show as this text; applied from this file it is this text, not the bytes")
    if value == _VOID:
        return Noted(value, "if this is an AMQP void (no value), the management API can only show it as this "
                     "text; applied from this file it is the text `undefined`")
    return value


def _vhost(section: _Section, item: Live) -> None:
    """The metadata that differs from a new vhost's (no description, no tags, no default queue type, no
    tracing)."""
    vhost = section.vhost(item.name)
    attributes = item.attributes
    if attributes.get("description"):
        vhost["description"] = attributes["description"]
    if attributes.get("tags"):
        vhost["tags"] = list(attributes["tags"])
    if attributes.get("default_queue_type"):
        vhost["default_queue_type"] = attributes["default_queue_type"]
    if attributes.get("tracing"):
        vhost["tracing"] = True


def _vhost_limits(section: _Section, item: Live) -> None:
    section.vhost(item.scope)["limits"] = dict(item.attributes["limits"])


def _exchange(section: _Section, item: Live) -> None:
    attributes = item.attributes
    exchange: dict[str, Any] = {"type": attributes["type"]}
    arguments = dict(attributes["arguments"])
    if "alternate-exchange" in arguments:
        exchange["alternate_exchange"] = arguments.pop("alternate-exchange")
    exchange.update(_non_default(attributes, (("durable", True), ("auto_delete", False), ("internal", False))))
    if arguments:
        exchange["arguments"] = _noted(arguments)
    section.vhost(item.scope).setdefault("exchanges", {})[item.name] = exchange


def _queue(section: _Section, item: Live) -> None:
    attributes = item.attributes
    queue = section.queue(item.scope, item.name)
    if attributes["type"] != section.queue_types.get(item.scope, "classic"):
        queue["type"] = attributes["type"]
    queue.update(_non_default(attributes, (("durable", True), ("auto_delete", False))))
    raw = {}
    for key, value in attributes["arguments"].items():
        typed = typed_field(attributes["type"], key, value)
        if typed is not None:
            queue[typed] = value
        else:
            raw[key] = value
    if raw:
        queue["arguments"] = _noted(raw)


def _binding(section: _Section, item: Live) -> None:
    attributes = item.attributes
    binding: dict[str, Any] = {"exchange": attributes["source"], **_routing(attributes)}
    section.queue(item.scope, attributes["destination"]).setdefault("bindings", []).append(binding)


def _exchange_binding(section: _Section, item: Live) -> None:
    attributes = item.attributes
    entry = {"source": attributes["source"], "destination": attributes["destination"], **_routing(attributes)}
    section.vhost(item.scope).setdefault("exchange_bindings", []).append(entry)


def _policy(key: str) -> Callable[[_Section, Live], None]:
    """A policy or an operator policy, under `key` in its vhost."""

    def export(section: _Section, item: Live) -> None:
        attributes = item.attributes
        section.vhost(item.scope).setdefault(key, {})[item.name] = {
            "pattern": attributes["pattern"], "apply_to": attributes["apply-to"],
            "priority": attributes["priority"], "definition": attributes["definition"]}

    return export


def _user(section: _Section, item: Live) -> None:
    user = section.user(item.name)
    user["tags"] = item.attributes["tags"]
    if item.attributes.get("limits"):
        user["limits"] = dict(item.attributes["limits"])


def _topic_permission(section: _Section, item: Live) -> None:
    attributes = item.attributes
    section.user(item.name).setdefault("topic_permissions", {}).setdefault(item.scope, {})[
        attributes["exchange"]] = {"write": attributes["write"], "read": attributes["read"]}


def _permission(section: _Section, item: Live) -> None:
    section.user(item.name).setdefault("permissions", {})[item.scope] = {
        key: item.attributes[key] for key in ("configure", "write", "read")}


# a vhost's own fields, before its contents
_VHOST_FIRST = ("description", "tags", "default_queue_type", "tracing", "limits")

_EXPORTERS: dict[str, Callable[[_Section, Live], None]] = {
    "rabbitmq.vhost": _vhost,
    "rabbitmq.vhost_limits": _vhost_limits,
    "rabbitmq.exchange": _exchange,
    "rabbitmq.queue": _queue,
    "rabbitmq.binding": _binding,
    "rabbitmq.exchange_binding": _exchange_binding,
    "rabbitmq.policy": _policy("policies"),
    "rabbitmq.operator_policy": _policy("operator_policies"),
    "rabbitmq.user": _user,
    "rabbitmq.topic_permission": _topic_permission,
    "rabbitmq.permission": _permission,
}


_NO_PASSWORD = ("password not exported: topology keeps the one the broker has; created from this file the user "
                "has none, and cannot log in until you add `password:`")


def export_rabbitmq(live: Mapping[str, Live], target: str) -> dict[str, Any]:
    """The `rabbitmq:` section for the live objects, in address order (a kind it does not know is left out)."""
    section = _Section(queue_types={item.name: item.attributes["default_queue_type"] for item in live.values()
                                    if item.kind == "rabbitmq.vhost" and item.attributes.get("default_queue_type")})
    for _address, item in sorted(live.items()):
        exporter = _EXPORTERS.get(item.kind)
        if exporter is not None:
            exporter(section, item)
    top = export_parameters(live, section.vhost)  # global parameters; upstreams, sets, shovels in their vhosts
    vhosts = {name: {**{k: vhost[k] for k in _VHOST_FIRST if k in vhost},
                     **{k: v for k, v in vhost.items() if k not in _VHOST_FIRST}}
              for name, vhost in section.vhosts.items()}
    result: dict[str, Any] = {"target": target, "vhosts": vhosts}
    if section.users:  # a live user's password stays on the broker: said beside its name, never dropped unsaid
        result["users"] = {Noted(name, _NO_PASSWORD) if f"rabbitmq/user/{name}" in live else name: user
                           for name, user in section.users.items()}
    result.update(top)
    return {"rabbitmq": result}


def export_target(driver: Driver, reference: str) -> dict[str, Any]:
    return {"kind": "rabbitmq", "url": reference}
