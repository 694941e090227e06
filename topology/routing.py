"""Where would a message go? A static evaluator of RabbitMQ routing and SNS filter policies over the
declared (expanded) topology, for `topology test` and `expectations:`.

RabbitMQ: the default exchange, direct, fanout, topic (`*` one word, `#` zero or more), headers
(x-match all, any, all-with-x, any-with-x), exchange-to-exchange bindings and alternate exchanges.
A differential test checks this module against the real broker's routing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from topology.resources import Resource

__all__ = ["RoutingError", "route_rabbitmq", "route_sns", "topic_matches"]

BUILTIN_EXCHANGES = {"amq.direct": "direct", "amq.fanout": "fanout", "amq.topic": "topic",
                     "amq.headers": "headers", "amq.match": "headers"}


class RoutingError(Exception):
    """The message cannot be routed by the rules this evaluator knows (a plugin exchange type, say)."""


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


# -------------------------------------------------------------------------------------------- SNS


def _rule_matches(rule: Any, value: Any, present: bool) -> bool:
    if isinstance(rule, dict):
        if "exists" in rule:
            return bool(rule["exists"]) == present
        if not present:
            return False
        if "prefix" in rule:
            return isinstance(value, str) and value.startswith(rule["prefix"])
        if "suffix" in rule:
            return isinstance(value, str) and value.endswith(rule["suffix"])
        if "anything-but" in rule:
            excluded = rule["anything-but"]
            excluded = excluded if isinstance(excluded, list) else [excluded]
            return value not in excluded
        if "numeric" in rule:
            return _numeric(rule["numeric"], value)
        if "equals-ignore-case" in rule:
            return isinstance(value, str) and value.lower() == str(rule["equals-ignore-case"]).lower()
        return False
    return present and (value == rule or (isinstance(value, list) and rule in value))


def _numeric(conditions: list[Any], value: Any) -> bool:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    checks = {"=": number.__eq__, "<": number.__lt__, "<=": number.__le__, ">": number.__gt__, ">=": number.__ge__}
    return all(checks[conditions[i]](float(conditions[i + 1])) for i in range(0, len(conditions), 2))


def _policy_matches(policy: Mapping[str, Any], message: Mapping[str, Any]) -> bool:
    for key, rules in policy.items():
        if key == "$or":
            if not any(_policy_matches(option, message) for option in rules):
                return False
            continue
        present = key in message
        value = message.get(key)
        if isinstance(rules, dict):  # nested (body scope)
            if not (present and isinstance(value, dict) and _policy_matches(rules, value)):
                return False
            continue
        if not any(_rule_matches(rule, value, present) for rule in rules):
            return False
    return True


def route_sns(resources: Mapping[str, Resource], topic: str, attributes: Mapping[str, Any] | None = None,
              body: Mapping[str, Any] | None = None) -> set[str]:
    """The queues subscribed to `topic` whose filter policy accepts the message."""
    if f"sns/topic/{topic}" not in resources:
        raise RoutingError(f"SNS topic `{topic}` is not declared")
    delivered = set()
    for resource in resources.values():
        if resource.kind != "sns.subscription" or resource.attributes["topic"] != topic:
            continue
        policy = resource.attributes.get("FilterPolicy")
        scope = resource.attributes.get("FilterPolicyScope", "MessageAttributes")
        message = (body or {}) if scope == "MessageBody" else (attributes or {})
        if policy is None or _policy_matches(policy, message):
            delivered.add(resource.attributes["queue"])
    return delivered
