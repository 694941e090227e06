"""Where would a message go? A static evaluator of RabbitMQ routing over the declared (expanded)
topology, for `topology test` and `expectations:`.

RabbitMQ: the default exchange, direct, fanout, topic (`*` one word, `#` zero or more), headers
(x-match all, any, all-with-x, any-with-x), exchange-to-exchange bindings and alternate exchanges.
A differential test checks this module against the real broker's routing.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from topology.core.resource import Resource
from topology.errors import InputError, RoutingError
from topology.format.document import Publish

if TYPE_CHECKING:
    from topology.brokers.rabbitmq.probe import LiveProbe
    from topology.format.compile import Topology

__all__ = ["BUILTIN_EXCHANGES", "publishes", "route_expectation", "route_rabbitmq", "topic_matches"]

BUILTIN_EXCHANGES = {"amq.direct": "direct", "amq.fanout": "fanout", "amq.topic": "topic",
                     "amq.headers": "headers", "amq.match": "headers"}


def _words(key: str) -> list[str]:
    return key.split(".") if key else []


def topic_matches(pattern: str, routing_key: str) -> bool:
    """AMQP topic matching: `*` is exactly one word, `#` zero or more words."""
    pattern_words, key_words = _words(pattern), _words(routing_key)
    # Dynamic programming over (pattern position, key position).
    reachable = {(0, 0)}
    for p in range(len(pattern_words) + 1):
        for k in range(len(key_words) + 1):
            if (p, k) not in reachable or p == len(pattern_words):
                continue
            word = pattern_words[p]
            if word == "#":
                reachable.add((p + 1, k))
                if k < len(key_words):
                    reachable.add((p, k + 1))
            elif k < len(key_words) and word in ("*", key_words[k]):
                reachable.add((p + 1, k + 1))
    return (len(pattern_words), len(key_words)) in reachable


def _headers_match(arguments: Mapping[str, Any], headers: Mapping[str, Any]) -> bool:
    mode = str(arguments.get("x-match", "all"))
    with_x = mode.endswith("-with-x")
    wanted = {k: v for k, v in arguments.items() if k != "x-match" and (with_x or not k.startswith("x-"))}
    hits = [key in headers and (value is None or headers[key] == value) for key, value in wanted.items()]
    if mode.startswith("any"):
        return any(hits)
    return all(hits)


@dataclass
class _Vhost:
    exchanges: dict[str, dict[str, Any]]
    queues: set[str]
    bindings: list[dict[str, Any]]


def _vhost(resources: Mapping[str, Resource], vhost: str) -> _Vhost:
    exchanges, queues, bindings = {}, set(), []
    for resource in resources.values():
        if resource.scope != vhost:
            continue
        if resource.kind == "rabbitmq.exchange":
            exchanges[resource.name] = resource.attributes
        elif resource.kind == "rabbitmq.queue":
            queues.add(resource.name)
        elif resource.kind in ("rabbitmq.binding", "rabbitmq.exchange_binding"):
            bindings.append(resource.attributes)
    for name, kind in BUILTIN_EXCHANGES.items():
        exchanges.setdefault(name, {"type": kind, "arguments": {}, "internal": False})
    return _Vhost(exchanges, queues, bindings)


def route_rabbitmq(resources: Mapping[str, Resource], vhost: str, exchange: str, routing_key: str = "",
                   headers: Mapping[str, Any] | None = None) -> set[str]:
    """The queues of `vhost` a message published to `exchange` reaches."""
    space = _vhost(resources, vhost)
    headers = headers or {}
    if exchange == "":
        return {routing_key} if routing_key in space.queues else set()
    if exchange not in space.exchanges:
        raise RoutingError(f"exchange `{exchange}` is not declared in vhost `{vhost}`")
    if space.exchanges[exchange].get("internal"):
        raise RoutingError(f"exchange `{exchange}` is internal: clients cannot publish to it")
    delivered: set[str] = set()
    _route(space, exchange, routing_key, headers, delivered, set())
    return delivered


def _route(space: _Vhost, exchange: str, key: str, headers: Mapping[str, Any], delivered: set[str],
           visited: set[str]) -> None:
    if exchange in visited or exchange not in space.exchanges:
        return
    visited.add(exchange)
    attributes = space.exchanges[exchange]
    kind = attributes["type"]
    matched = []
    for binding in space.bindings:
        if binding["source"] != exchange:
            continue
        if kind == "fanout":
            hit = True
        elif kind == "direct":
            hit = binding["routing_key"] == key
        elif kind == "topic":
            hit = topic_matches(binding["routing_key"], key)
        elif kind == "headers":
            hit = _headers_match(binding.get("arguments", {}), headers)
        else:
            raise RoutingError(f"exchange `{exchange}` has type {kind}, which topology cannot evaluate")
        if hit:
            matched.append(binding)
    for binding in matched:
        if binding["destination_type"] == "queue":
            delivered.add(binding["destination"])
        else:
            _route(space, binding["destination"], key, headers, delivered, visited)
    alternate = attributes.get("arguments", {}).get("alternate-exchange")
    if not matched and isinstance(alternate, str):
        _route(space, alternate, key, headers, delivered, visited)


def publishes(publish: Publish) -> bool:
    """An expectation that publishes to an exchange is RabbitMQ's."""
    return publish.exchange is not None


def route_expectation(topology: Topology, publish: Publish, *, live: bool, probes: dict[str, Any],
                      stack: ExitStack) -> set[str]:
    """The queues `publish` reaches: by the declared topology, or `live` through a mirror of the vhost on
    the broker (one per vhost, kept in `probes` and closed with `stack`)."""
    vhost = publish.vhost or "/"
    if not live:
        return route_rabbitmq(topology.resources, vhost, publish.exchange or "", publish.routing_key, publish.headers)
    key = f"rabbitmq/{vhost}"
    if key not in probes:
        probes[key] = _probe(topology, vhost)
        stack.callback(probes[key].close)
    found: set[str] = probes[key].route(publish.exchange or "", publish.routing_key, publish.headers)
    return found


def _probe(topology: Topology, vhost: str) -> LiveProbe:
    from topology.brokers.rabbitmq.driver import default_amqp_url
    from topology.brokers.rabbitmq.probe import LiveProbe

    targets = {r.target for r in topology.resources.values() if r.kind.startswith("rabbitmq.") and r.scope == vhost}
    target: Any = topology.targets.get(next(iter(targets)) or "") if len(targets) == 1 else None
    if target is None or target.kind != "rabbitmq":
        raise InputError(f"`topology test --live` needs vhost `{vhost}` on a rabbitmq target (with `amqp_url` "
                         "or a management URL whose credentials also work over AMQP)")
    return LiveProbe(target.amqp_url or default_amqp_url(target.url), vhost, topology.resources)
