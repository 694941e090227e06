"""Live routing probes on a real RabbitMQ that never touch the real queues.

The declared exchanges, queues and bindings of a vhost are mirrored under a unique prefix as
auto-delete exchanges and exclusive queues; a probe is published to the mirror and the mirrored
queues that receive it are the answer. Everything the probe declares disappears with its
connection (exchanges are also deleted explicitly).

Every pika call runs inside the driver's error boundary (`driver.errors`), so a broker that fails,
refuses or goes silent is one topology error naming it, never a pika exception.
"""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from topology.brokers.rabbitmq.routing import BUILTIN_EXCHANGES
from topology.core.resource import Resource
from topology.core.secrets import BrokerURL, parse_url
from topology.errors import TopologyError

__all__ = ["LiveProbe"]

_DOING = "for live probes"


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
        mine = [r for r in resources.values() if r.scope == vhost]
        exchanges = {r.name: r.attributes for r in mine if r.kind == "rabbitmq.exchange"}
        for name, kind in BUILTIN_EXCHANGES.items():
            exchanges.setdefault(name, {"type": kind, "internal": False, "arguments": {}})
        for name, attributes in sorted(exchanges.items()):
            self._mirror_exchange(name, attributes)
        for resource in sorted((r for r in mine if r.kind == "rabbitmq.queue"), key=lambda r: r.name):
            mirror = self._name(resource.name)
            self._channel.queue_declare(mirror, exclusive=True, auto_delete=True)
            self._queues[mirror] = resource.name
        for resource in mine:
            if resource.kind in ("rabbitmq.binding", "rabbitmq.exchange_binding"):
                self._mirror_binding(resource.attributes)

    def _mirror_exchange(self, name: str, attributes: Mapping[str, Any]) -> None:
        arguments = dict(attributes.get("arguments", {}))
        if isinstance(arguments.get("alternate-exchange"), str):
            arguments["alternate-exchange"] = self._name(arguments["alternate-exchange"])
        self._channel.exchange_declare(self._name(name), attributes["type"], durable=False, auto_delete=False,
                                       internal=bool(attributes.get("internal")), arguments=arguments)
        self._exchanges.append(self._name(name))

    def _mirror_binding(self, binding: Mapping[str, Any]) -> None:
        arguments: dict[str, Any] | None = binding.get("arguments") or None
        if binding["destination_type"] == "queue":
            self._channel.queue_bind(self._name(binding["destination"]), self._name(binding["source"]),
                                     binding["routing_key"], arguments)
        else:
            self._channel.exchange_bind(self._name(binding["destination"]), self._name(binding["source"]),
                                        binding["routing_key"], arguments)

    def route(self, exchange: str, routing_key: str = "", headers: Mapping[str, Any] | None = None) -> set[str]:
        """The declared queues a message published to `exchange` reaches, as the broker routes it."""
        import pika

        marker = uuid.uuid4().hex
        if exchange == "":
            target, key = "", self._name(routing_key)
        else:
            target, key = self._name(exchange), routing_key
        properties = pika.BasicProperties(headers=dict(headers or {}), message_id=marker)
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
