"""Live routing probes on a real RabbitMQ that never touch the real queues.

The declared exchanges, queues and bindings of a vhost are mirrored under a unique prefix as
auto-delete exchanges and exclusive queues; a probe is published to the mirror and the mirrored
queues that receive it are the answer. Everything the probe declares disappears with its
connection (exchanges are also deleted explicitly).

Every pika call runs inside the driver's error boundary (`driver.errors`), so a broker that fails,
refuses or goes silent is one topology error naming it, never a pika exception.

Fidelity. A mirrored exchange gets the alternate exchange the declared one has (its argument, or the
policy that applies to it: policies cannot be declared over AMQP, and the vhost's real policies, whose
patterns may match the mirror's names, must not send probes to real exchanges), so every mirrored
exchange carries an `alternate-exchange` argument, naming an exchange that does not exist when the
declared one has none. Binding arguments are sent with the types RabbitMQ's management API gives the
real bindings, and headers with the types `routing.field_value` documents (`amqp_value`).
"""

from __future__ import annotations

import calendar
import contextlib
import dataclasses
import datetime
import math
import struct
import threading
import uuid
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from topology.brokers.rabbitmq.routing import TABLE_ORDER_LIMIT, VhostRoutes
from topology.core.resource import Resource
from topology.core.secrets import BrokerURL, parse_url
from topology.errors import RoutingError, TopologyError

__all__ = ["LiveProbe", "amqp_value", "basic_properties"]

_DOING = "for live probes"
_LONG = (-(2**63), 2**63 - 1)  # AMQP long-long-int ('l')
_TIMESTAMP = (0, 2**64 - 1)  # AMQP timestamp ('T'): unsigned seconds
_DOUBLES_TAUGHT = threading.Lock()


def _teach_pika_doubles() -> None:
    """pika encodes no AMQP double ('d', an IEEE 754 binary64 that RabbitMQ parses, and the type the
    management API gives a JSON float): it raises UnsupportedAMQPFieldException on a float. Wrap its
    field encoder, once, so a float becomes a double; every other value is encoded by pika as before
    (and nested ones too: pika's encoder looks itself up in its module for arrays and tables)."""
    from pika import data

    with _DOUBLES_TAUGHT:
        if getattr(data.encode_value, "topology_doubles", False):
            return
        encode = data.encode_value

        def encode_value(pieces: list[bytes], value: Any) -> int:
            if isinstance(value, float):
                pieces.append(struct.pack(">cd", b"d", value))
                return 9
            size: int = encode(pieces, value)
            return size

        encode_value.topology_doubles = True  # type: ignore[attr-defined]
        setattr(data, "encode_value", encode_value)  # noqa: B010 - the module's own name, looked up at each call


def _within(value: int, bounds: tuple[int, int], what: str) -> int:
    if not bounds[0] <= value <= bounds[1]:
        raise RoutingError(f"{value} is out of the range of an AMQP {what} ({bounds[0]} to {bounds[1]})")
    return value


def amqp_value(value: Any) -> Any:
    """`value` (from YAML) ready for pika, with the AMQP type `routing.field_value` gives it: an integer a
    64-bit long (pika alone sends a 32-bit one when it fits), a float a double, a mapping a table with
    its keys sorted (the order RabbitMQ gives the tables it builds); text, bytes, booleans, None and
    date-times as pika sends them (longstr, byte array, bool, void, timestamp)."""
    from pika.compat import long

    if value is None or isinstance(value, str | bytes | bool):
        return value
    if isinstance(value, int):
        return long(_within(value, _LONG, "long"))
    if isinstance(value, float):
        if not math.isfinite(value):
            raise RoutingError(f"{value} is no number RabbitMQ reads from an AMQP double")
        return value
    if isinstance(value, datetime.datetime):
        _within(calendar.timegm(value.utctimetuple()), _TIMESTAMP, "timestamp")  # as pika reads it
        return value
    if isinstance(value, Mapping):
        return {str(k): amqp_value(v) for k, v in sorted(value.items(), key=lambda item: str(item[0]).encode())}
    if isinstance(value, Sequence):
        return [amqp_value(v) for v in value]
    raise RoutingError(f"{type(value).__name__} {value!r} is no AMQP field value")


def basic_properties(headers: Mapping[str, Any] | None, **properties: Any) -> Any:
    """pika's BasicProperties with `headers` typed as `amqp_value` says (a float sent as a double)."""
    import pika

    _teach_pika_doubles()
    return pika.BasicProperties(headers=amqp_value(dict(headers or {})), **properties)


def _large_table(value: Any) -> bool:
    """Whether `value` holds a table RabbitMQ keeps in an order of its own (more than TABLE_ORDER_LIMIT keys)."""
    if isinstance(value, Mapping):
        return len(value) > TABLE_ORDER_LIMIT or any(_large_table(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_large_table(v) for v in value)
    return False


class LiveProbe:
    """Use as a context manager; `route()` as often as needed."""

    def __init__(self, amqp_url: str | BrokerURL, vhost: str, resources: Mapping[str, Resource], *,
                 connect_timeout: float = 5.0, read_timeout: float = 30.0) -> None:
        import pika

        from topology.brokers.rabbitmq.driver import Where, amqp_parameters, errors

        url = parse_url(amqp_url, what="the amqp_url of the live probe's target", schemes=("amqp", "amqps"))
        self._where = Where(None, dataclasses.replace(url, path="/" + quote(vhost, safe="")), _DOING,
                            (connect_timeout, read_timeout))
        self._errors = errors
        self.prefix = f"topology-probe-{uuid.uuid4().hex[:12]}."
        self._exchanges: list[str] = []
        self._queues: dict[str, str] = {}  # mirror -> declared name
        self._channel: Any = None
        self._routes = VhostRoutes({}, set(), [], {})
        _teach_pika_doubles()
        with errors(self._where):
            self._connection = pika.BlockingConnection(amqp_parameters(
                url, vhost, connect_timeout=connect_timeout, read_timeout=read_timeout))
        try:
            with errors(self._where):
                self._channel = self._connection.channel()
                self._channel.confirm_delivery()
                self._mirror(vhost, resources)
        except BaseException:
            with contextlib.suppress(TopologyError):  # the error that stopped the mirror is the one to tell
                self.close()
            raise

    def __enter__(self) -> LiveProbe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _name(self, exchange: str) -> str:
        return self.prefix + exchange

    def _mirror(self, vhost: str, resources: Mapping[str, Resource]) -> None:
        self._routes = routes = VhostRoutes.of(resources, vhost)
        for name in sorted(routes.exchanges):
            self._mirror_exchange(name)
        for name in sorted(routes.queues):
            mirror = self._name(name)
            self._channel.queue_declare(mirror, exclusive=True, auto_delete=True)
            self._queues[mirror] = name
        for binding in routes.bindings:
            self._mirror_binding(binding)

    def _mirror_exchange(self, name: str) -> None:
        attributes = self._routes.exchanges[name]
        arguments = dict(attributes.get("arguments") or {})
        alternate = self._routes.alternate(name)
        if alternate is None or isinstance(alternate, str):  # the argument overrules the vhost's real policies
            arguments["alternate-exchange"] = self._name(alternate) if alternate is not None else self._nowhere
        self._channel.exchange_declare(self._name(name), attributes["type"], durable=False, auto_delete=False,
                                       internal=bool(attributes.get("internal")), arguments=amqp_value(arguments))
        self._exchanges.append(self._name(name))

    @property
    def _nowhere(self) -> str:
        """An exchange name no mirror and no declared exchange has (the prefix ends with a dot; this does not)."""
        return self.prefix.rstrip(".") + "-no-alternate-exchange"

    def _mirror_binding(self, binding: Mapping[str, Any]) -> None:
        arguments = binding.get("arguments") or {}
        if _large_table(arguments):
            raise RoutingError(f"a binding from exchange `{binding['source']}` to `{binding['destination']}` has an "
                               f"argument holding a table of more than {TABLE_ORDER_LIMIT} keys, which RabbitMQ keeps "
                               "in an order of its own: it cannot be mirrored for live probes")
        typed = amqp_value(arguments) or None
        if binding["destination_type"] == "queue":
            self._channel.queue_bind(self._name(binding["destination"]), self._name(binding["source"]),
                                     binding["routing_key"], typed)
        else:
            self._channel.exchange_bind(self._name(binding["destination"]), self._name(binding["source"]),
                                        binding["routing_key"], typed)

    def route(self, exchange: str, routing_key: str = "", headers: Mapping[str, Any] | None = None) -> set[str]:
        """The declared queues a message published to `exchange` reaches, as the broker routes it."""
        marker = uuid.uuid4().hex
        if exchange == "":
            target, key = "", self._name(routing_key)
        elif exchange not in self._routes.exchanges:
            raise RoutingError(f"exchange `{exchange}` is not declared in the probed vhost")
        elif self._routes.exchanges[exchange].get("internal"):
            raise RoutingError(f"exchange `{exchange}` is internal: clients cannot publish to it")
        else:
            target, key = self._name(exchange), routing_key
        properties = basic_properties(headers, message_id=marker)
        reached = set()
        with self._errors(self._where):
            self._channel.basic_publish(target, key, marker.encode(), properties)
            for mirror, name in self._queues.items():
                while True:
                    method, _properties, body = self._channel.basic_get(mirror, auto_ack=True)
                    if method is None:
                        break
                    if body == marker.encode():
                        reached.add(name)
        return reached

    def close(self) -> None:
        """Delete the mirrored exchanges and close the connection (the queues go with it). A connection
        that is already lost has nothing more to delete through: closing it then is quiet."""
        from topology.brokers.rabbitmq.driver import close_quietly

        try:
            if self._connection.is_open:
                with self._errors(self._where):
                    open_channel = self._channel is not None and self._channel.is_open
                    channel = self._channel if open_channel else self._connection.channel()
                    for exchange in self._exchanges:
                        channel.exchange_delete(exchange)
        finally:
            close_quietly(self._connection)
