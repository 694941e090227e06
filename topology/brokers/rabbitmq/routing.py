"""Where would a message go? A static evaluator of RabbitMQ routing over the declared (expanded)
topology, for `topology test` and `expectations:`.

RabbitMQ: the default exchange, direct, fanout, topic (`*` one word, `#` zero or more), headers
(x-match all, any, all-with-x, any-with-x, over typed AMQP field values), exchange-to-exchange
bindings and alternate exchanges, set by the exchange's argument or by the policy that applies to it.
Differential tests check this module against the real broker's routing.

Typed values. RabbitMQ's headers exchange compares a binding argument with a message header as
Erlang terms (`rabbit_exchange_type_headers`): `PV == DV` on the values, the field types left out at
the top level but kept inside arrays and tables (an array is a list of {Type, Value}, a table a list
of {Key, Type, Value} in its own order). So `true` is not `1`, `1` is `1.0`, text equals a byte array
of the same bytes, and `[1]` sent as 32-bit integers is not `[1]` declared as 64-bit ones. The types
a value has here:
- a binding argument is typed as RabbitMQ's management API types JSON (`rabbit_mgmt_format:type_val`,
  the API topology declares bindings with): text longstr, integer long, float double, boolean bool,
  list array, mapping table (an Erlang map's order: sorted by key up to 32 keys, hashed beyond);
  null is refused.
- a header of an expectation is sent by `topology test --live` with the same types (an integer is a
  64-bit long, a mapping's keys sorted), plus what YAML can say beyond JSON: null is void, `!!binary`
  a byte array, a date-time (`2024-01-01T00:00:00Z`) a timestamp in seconds. `field_value()` is that table.
"""

from __future__ import annotations

import calendar
import datetime
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from topology.brokers.rabbitmq.kinds import as_bytes, policy_regex
from topology.core.resource import Resource
from topology.errors import InputError, ProblemsError, RoutingError
from topology.format.document import Publish

if TYPE_CHECKING:
    from topology.brokers.rabbitmq.probe import LiveProbe
    from topology.format.compile import Topology

__all__ = ["BUILTIN_EXCHANGES", "TABLE_ORDER_LIMIT", "X_MATCH_MODES", "Field", "VhostRoutes", "field_value",
           "headers_match", "publishes", "route_expectation", "route_rabbitmq", "topic_matches"]

BUILTIN_EXCHANGES = {"amq.direct": "direct", "amq.fanout": "fanout", "amq.topic": "topic",
                     "amq.headers": "headers", "amq.match": "headers"}
X_MATCH_MODES = ("all", "any", "all-with-x", "any-with-x")
# An Erlang map of up to 32 keys (a "flatmap") keeps them sorted; a larger one is a hash trie whose
# order Python cannot know. RabbitMQ builds a binding argument's table from such a map.
TABLE_ORDER_LIMIT = 32


def _words(key: str) -> list[str]:
    return key.split(".") if key else []


def topic_matches(pattern: str, routing_key: str) -> bool:
    """AMQP topic matching: `*` is exactly one word (an empty one too), `#` zero or more words; the empty
    key has no words (RabbitMQ's `split_topic_key`)."""
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


# ------------------------------------------------------------------------------ typed field values


@dataclass(frozen=True)
class _Atom:
    """An Erlang atom (true, false, undefined): equal only to itself, never to a number."""

    name: str


_VOID = _Atom("undefined")


class _Unordered(Exception):
    """A table of more than TABLE_ORDER_LIMIT keys built by RabbitMQ: its order cannot be known."""


@dataclass(frozen=True)
class Field:
    """An AMQP field value as RabbitMQ holds it: its type (an atom of `rabbit_binary_parser`) and the
    Erlang term compared. Python's `==` on terms is Erlang's `==`: numbers by value (1 == 1.0), atoms
    and binaries by identity, tuples element by element."""

    type: str
    term: Any


def field_value(value: Any, *, binding: bool = False) -> Field:
    """`value` (from YAML) as RabbitMQ holds it: a binding argument from the management API's JSON, or
    a header as `topology test --live` sends it (see the module's docstring). A binding's table of more
    than TABLE_ORDER_LIMIT keys raises `_Unordered`; a value no AMQP field can carry, RoutingError."""
    if isinstance(value, str):
        return Field("longstr", value.encode())
    if isinstance(value, bytes):
        return Field("binary", bytes(value))
    if isinstance(value, bool):
        return Field("bool", _Atom(str(value).lower()))
    if isinstance(value, int):
        return Field("long", value)
    if isinstance(value, float):
        return Field("double", value)
    if value is None:
        return Field("void", _VOID)
    if isinstance(value, datetime.datetime):
        return Field("timestamp", calendar.timegm(value.utctimetuple()))
    if isinstance(value, Mapping):
        if binding and len(value) > TABLE_ORDER_LIMIT:
            raise _Unordered
        items = sorted(value.items(), key=lambda item: str(item[0]).encode())
        return Field("table", tuple((str(k).encode(), f.type, f.term)
                                    for k, f in ((k, field_value(v, binding=binding)) for k, v in items)))
    if isinstance(value, Sequence):
        return Field("array", tuple((f.type, f.term) for f in (field_value(v, binding=binding) for v in value)))
    raise RoutingError(f"{type(value).__name__} {value!r} is no AMQP field value")


def _x_match(arguments: Mapping[str, Any]) -> str:
    """The binding's x-match mode; anything else (absent, say) is `all`, as RabbitMQ's parse_x_match."""
    mode = arguments.get("x-match")
    return mode if isinstance(mode, str) and mode in X_MATCH_MODES else "all"


def _hit(key: str, wanted: Any, headers: Mapping[str, Any]) -> bool | None:
    """Whether the header `key` satisfies the binding's `wanted` value; None when it cannot be known."""
    if key not in headers:
        return False
    if wanted is None:  # a void binding value asks for the header's presence only
        return True
    try:
        pattern = field_value(wanted, binding=True)
    except _Unordered:
        return None
    return bool(pattern.term == field_value(headers[key]).term)  # the types count only inside arrays and tables


def headers_match(arguments: Mapping[str, Any], headers: Mapping[str, Any]) -> bool:
    """RabbitMQ's headers exchange: every (`all`) or some (`any`) binding argument equals the header of
    that name; `x-match` itself never counts, nor (unless the mode ends in `-with-x`) arguments whose
    name starts with `x-`."""
    mode = _x_match(arguments)
    with_x = mode.endswith("-with-x")
    hits = [_hit(key, value, headers) for key, value in arguments.items()
            if key != "x-match" and (with_x or not key.startswith("x-"))]
    deciding = mode.startswith("any")  # any: one hit decides (True); all: one miss decides (False)
    if any(hit is deciding for hit in hits):
        return deciding
    if all(hit is not None for hit in hits):
        return not deciding
    raise RoutingError(f"a binding argument holds a table of more than {TABLE_ORDER_LIMIT} keys, which RabbitMQ "
                       "keeps in an order of its own (an Erlang map's), so whether a header equals it is unknown")


# ------------------------------------------------------------------------------------- policies


def _applies(policy: str, attributes: Mapping[str, Any], exchange: str) -> bool:
    if attributes.get("apply-to", "all") not in ("exchanges", "all"):
        return False
    regex = policy_regex(str(attributes.get("pattern", "")))
    if regex is None:
        raise RoutingError(f"policy `{policy}` has pattern {attributes.get('pattern')!r}, which topology cannot "
                           "match as RabbitMQ's regular expressions (PCRE) do, so whether it sets exchange "
                           f"`{exchange}`'s alternate exchange is unknown")
    return regex.search(as_bytes(exchange)) is not None


def _policy_alternate(policies: Mapping[str, Mapping[str, Any]], exchange: str) -> Any:
    """The alternate-exchange of the policy that applies to `exchange`: the matching one of highest
    priority (policies never merge, so one without the key hides lower ones that have it)."""
    levels: dict[int | float, dict[str, Mapping[str, Any]]] = {}  # RabbitMQ compares priorities as numbers: 1.5 > 1
    for name, policy in policies.items():
        levels.setdefault(policy.get("priority", 0), {})[name] = policy
    for priority in sorted(levels, reverse=True):  # a pattern below the one that applies is never needed
        matching = {name: p for name, p in levels[priority].items() if _applies(name, p, exchange)}
        if not matching:
            continue
        alternates = {name: (p.get("definition") or {}).get("alternate-exchange") for name, p in matching.items()}
        if len(set(map(repr, alternates.values()))) > 1:
            names = " and ".join(f"`{n}`" for n in sorted(alternates))
            raise RoutingError(f"policies {names} match exchange `{exchange}` with the same priority {priority} and "
                               "set different alternate exchanges: RabbitMQ applies either one")
        return next(iter(alternates.values()))
    return None


# ---------------------------------------------------------------------------------------- routing


@dataclass
class VhostRoutes:
    """The routing objects of one vhost: exchanges (the built-in ones included), queues, bindings of
    queues and exchanges, and policies."""

    exchanges: dict[str, dict[str, Any]]
    queues: set[str]
    bindings: list[dict[str, Any]]
    policies: dict[str, dict[str, Any]]

    @classmethod
    def of(cls, resources: Mapping[str, Resource], vhost: str) -> VhostRoutes:
        routes = cls({}, set(), [], {})
        for resource in resources.values():
            if resource.scope != vhost:
                continue
            if resource.kind == "rabbitmq.exchange":
                routes.exchanges[resource.name] = resource.attributes
            elif resource.kind == "rabbitmq.queue":
                routes.queues.add(resource.name)
            elif resource.kind in ("rabbitmq.binding", "rabbitmq.exchange_binding"):
                routes.bindings.append(resource.attributes)
            elif resource.kind == "rabbitmq.policy":  # operator policies cannot hold alternate-exchange
                routes.policies[resource.name] = resource.attributes
        for name, kind in BUILTIN_EXCHANGES.items():
            routes.exchanges.setdefault(name, {"type": kind, "arguments": {}, "internal": False})
        return routes

    def alternate(self, exchange: str) -> Any:
        """The exchange's alternate exchange: its `alternate-exchange` argument when it has one (whatever
        its value: the argument overrules a policy), otherwise the applying policy's; None for none."""
        arguments = self.exchanges[exchange].get("arguments") or {}
        if "alternate-exchange" in arguments:
            return arguments["alternate-exchange"]
        return _policy_alternate(self.policies, exchange)


def route_rabbitmq(resources: Mapping[str, Resource], vhost: str, exchange: str, routing_key: str = "",
                   headers: Mapping[str, Any] | None = None) -> set[str]:
    """The queues of `vhost` a message published to `exchange` reaches."""
    routes = VhostRoutes.of(resources, vhost)
    headers = headers or {}
    if exchange == "":  # the default exchange: no bindings, no alternate exchange
        return {routing_key} if routing_key in routes.queues else set()
    if exchange not in routes.exchanges:
        raise RoutingError(f"exchange `{exchange}` is not declared in vhost `{vhost}`")
    if routes.exchanges[exchange].get("internal"):
        raise RoutingError(f"exchange `{exchange}` is internal: clients cannot publish to it")
    delivered: set[str] = set()
    _route(routes, exchange, routing_key, headers, delivered, set())
    return delivered


def _binding_hit(kind: str, exchange: str, binding: Mapping[str, Any], key: str, headers: Mapping[str, Any]) -> bool:
    if kind == "fanout":
        return True
    if kind == "direct":
        return bool(binding["routing_key"] == key)
    if kind == "topic":
        return topic_matches(binding["routing_key"], key)
    if kind == "headers":
        return headers_match(binding.get("arguments") or {}, headers)
    raise RoutingError(f"exchange `{exchange}` has type {kind}, which topology cannot evaluate")


def _route(routes: VhostRoutes, exchange: str, key: str, headers: Mapping[str, Any], delivered: set[str],
           visited: set[str]) -> None:
    """RabbitMQ's route1: each exchange reached once; one that routes to nothing (no queue, no exchange)
    hands the message to its alternate exchange, when that exists."""
    if exchange in visited or exchange not in routes.exchanges:
        return
    visited.add(exchange)
    kind = routes.exchanges[exchange]["type"]
    matched = [b for b in routes.bindings if b["source"] == exchange and _binding_hit(kind, exchange, b, key, headers)]
    for binding in matched:
        if binding["destination_type"] == "queue":
            delivered.add(binding["destination"])
        else:
            _route(routes, binding["destination"], key, headers, delivered, visited)
    if not matched:
        alternate = routes.alternate(exchange)
        if isinstance(alternate, str):
            _route(routes, alternate, key, headers, delivered, visited)


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
    from topology.format.load import unset_in_target

    targets = {r.target for r in topology.resources.values() if r.kind.startswith("rabbitmq.") and r.scope == vhost}
    name = (next(iter(targets)) or "") if len(targets) == 1 else ""
    target: Any = topology.targets.get(name) if len(targets) == 1 else None
    if target is None or target.kind != "rabbitmq":
        raise InputError(f"`topology test --live` needs vhost `{vhost}` on a rabbitmq target (with `amqp_url` "
                         "or a management URL whose credentials also work over AMQP)")
    unset = unset_in_target(topology.files, name)
    if unset:  # its connection values need a variable not set: said where it is written
        raise ProblemsError(unset)
    return LiveProbe(target.amqp_url or default_amqp_url(target.url), vhost, topology.resources)
