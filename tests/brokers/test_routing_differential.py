"""The static routing evaluator and the live probe's mirror against the real broker's routing.

The truth is the broker routing the real objects: the compiled resources declared through RabbitMQ's
management API (a definitions import: the JSON typing of binding arguments, real policies), a message
published with pika to the real exchange, and the real queues read. Every disagreement is a bug in the
evaluator or in the mirror (the broker is right by definition). The corpora cover every exchange type,
typed headers (booleans against integers, integers against floats, text against bytes, arrays, nested
tables, void, timestamps), topic keys with empty words, exchange-to-exchange bindings and alternate
exchanges set by arguments and by policies (pattern, apply-to, priority, a policy without one hiding
a lower one that has it).
"""

from __future__ import annotations

import datetime
import random
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import AMQP_URL, unique
from topology.brokers.rabbitmq.probe import LiveProbe, basic_properties
from topology.brokers.rabbitmq.routing import route_rabbitmq
from topology.core.resource import Resource
from topology.errors import RoutingError
from topology.format.compile import compile_topology

pytestmark = pytest.mark.rabbitmq

Probe = tuple[str, str, dict[str, Any]]  # exchange, routing key, headers


# ------------------------------------------------------------------------------------ the real broker


def _definitions(vhost: str, resources: Mapping[str, Resource]) -> dict[str, list[dict[str, Any]]]:
    """The vhost's compiled resources as a definitions file, in the broker's own words."""
    found: dict[str, list[dict[str, Any]]] = {"exchanges": [], "queues": [], "bindings": [], "policies": []}
    for r in resources.values():
        a = r.attributes
        if r.scope != vhost:
            continue
        if r.kind == "rabbitmq.exchange":
            found["exchanges"].append({"name": r.name, "vhost": vhost, "type": a["type"], "durable": a["durable"],
                                       "auto_delete": a["auto_delete"], "internal": a["internal"],
                                       "arguments": a["arguments"]})
        elif r.kind == "rabbitmq.queue":
            found["queues"].append({"name": r.name, "vhost": vhost, "durable": a["durable"],
                                    "auto_delete": a["auto_delete"], "arguments": a["arguments"]})
        elif r.kind in ("rabbitmq.binding", "rabbitmq.exchange_binding"):
            found["bindings"].append({"vhost": vhost, **{k: a[k] for k in (
                "source", "destination", "destination_type", "routing_key", "arguments")}})
        elif r.kind == "rabbitmq.policy":
            found["policies"].append({"vhost": vhost, "name": r.name, **a})
    return found


class RealVhost:
    """The real objects of a vhost and the broker's routing of a message published to them."""

    def __init__(self, api: Any, vhost: str, resources: Mapping[str, Resource]) -> None:
        import pika

        self.vhost = vhost
        self.foreign: list[bytes] = []  # messages no route of this object published: leaks from the probe
        v = quote(vhost, safe="")
        definitions = _definitions(vhost, resources)
        api.post(f"/api/definitions/{v}", json=definitions).raise_for_status()
        self.queues = sorted(q["name"] for q in definitions["queues"])
        parts = urlsplit(AMQP_URL)
        self._connection = pika.BlockingConnection(pika.URLParameters(f"{parts.scheme}://{parts.netloc}/{v}"))
        self._channel = self._connection.channel()
        self._channel.confirm_delivery()

    def route(self, exchange: str, key: str, headers: Mapping[str, Any]) -> set[str]:
        return self.route_all([(exchange, key, headers)])[0]

    def route_all(self, probes: list[Probe]) -> list[set[str]]:
        """Where each probe went: all published (confirmed, so enqueued), then each queue read once."""
        markers = {uuid.uuid4().hex.encode(): index for index in range(len(probes))}
        for marker, (exchange, key, headers) in zip(markers, probes, strict=True):
            self._channel.basic_publish(exchange, key, marker, basic_properties(headers))
        reached: list[set[str]] = [set() for _ in probes]
        for queue in self.queues:
            for _ in range(self._channel.queue_declare(queue, passive=True).method.message_count):
                body = self._channel.basic_get(queue, auto_ack=True)[2]
                if body in markers:
                    reached[markers[body]].add(queue)
                else:
                    self.foreign.append(body)
        return reached

    def close(self) -> None:
        self._connection.close()


@contextmanager
def _vhost(api: Any) -> Iterator[str]:
    vhost = unique("routing")
    v = quote(vhost, safe="")
    api.put(f"/api/vhosts/{v}").raise_for_status()
    api.put(f"/api/permissions/{v}/guest", json={"configure": ".*", "write": ".*", "read": ".*"}).raise_for_status()
    try:
        yield vhost
    finally:
        api.delete(f"/api/vhosts/{v}")


def _compile(tmp_path: Path, document: Mapping[str, Any]) -> dict[str, Resource]:
    path = tmp_path / f"{uuid.uuid4().hex}.topology.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True))  # YAML's own types: floats, bytes, times
    topology = compile_topology([str(path)])
    assert topology.errors == []
    return dict(topology.resources)


def _static(resources: Mapping[str, Resource], vhost: str, probe: Probe) -> set[str] | str:
    try:
        return route_rabbitmq(resources, vhost, *probe)
    except RoutingError as exc:
        return f"RoutingError: {exc}"


def _differences(api: Any, tmp_path: Path, vhost: str, document: Mapping[str, Any],
                 probes: list[Probe]) -> tuple[list[Any], dict[str, int]]:
    """Each probe where the static evaluator or the live mirror disagrees with the real broker, and how
    many probes each exchange delivered for real."""
    resources = _compile(tmp_path, document)
    real = RealVhost(api, vhost, resources)
    differences: list[Any] = []
    routed: dict[str, int] = {}
    try:
        with LiveProbe(AMQP_URL, vhost, resources) as mirror:
            for probe, truth in zip(probes, real.route_all(probes), strict=True):
                static, live = _static(resources, vhost, probe), mirror.route(*probe)
                routed[probe[0]] = routed.get(probe[0], 0) + bool(truth)
                if static != truth or live != truth:
                    differences.append((probe, {"real": sorted(truth), "static": static, "live": sorted(live)}))
            assert real.route("", "no-such-queue", {}) == set()  # drains anything the mirror leaked
    finally:
        real.close()
    assert real.foreign == []  # no probe of the mirror ever reached a real queue
    return differences, routed


# ------------------------------------------------------------------------------ a seeded corpus


def _words(rng: random.Random, alphabet: list[str], most: int) -> str:
    return ".".join(rng.choice(alphabet) for _ in range(rng.randint(0, most)))


HEADER_VALUES: dict[str, list[Any]] = {
    # per header: the value bindings ask for, then look-alikes a message may carry instead
    "a": [1, 1.0, True, "1", 2, [1]],
    "b": ["x", b"x", "y", ["x"], None],
    "c": [True, 1, False, "true"],
    "f": [1.5, 1.5, 2.5, "1.5", 1],
    "l": [[1, "x"], [1.0, "x"], ["x", 1], [True, "x"], [1]],
    "t": [{"k": 1, "j": "x"}, {"j": "x", "k": 1}, {"k": 1}, {"j": "x", "k": 1.0}, {"k": True, "j": "x"}],
    "s": [0, datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC), 1],
    "x-d": ["y", "z"],
}


def _corpus(seed: int) -> tuple[dict[str, Any], list[Probe]]:
    rng = random.Random(seed)
    queues: dict[str, list[dict[str, Any]]] = {}
    for i in range(30):
        queues[f"t{i}"] = [{"exchange": "topic", "routing_key": _words(rng, ["a", "b", "*", "#", ""], 4)}]
    for i in range(10):
        queues[f"d{i}"] = [{"exchange": "direct", "routing_key": rng.choice(["", "a", "b", "a.b"])}]
    queues["f0"], queues["f1"] = [{"exchange": "fanout"}], [{"exchange": "fanout"}]
    for i in range(30):
        arguments = {k: values[0] for k, values in HEADER_VALUES.items() if rng.random() < 0.3}
        if rng.random() < 0.9:
            arguments["x-match"] = rng.choice(["all", "any", "all-with-x", "any-with-x"])
        queues[f"h{i}"] = [{"exchange": "headers", "arguments": arguments}]
    queues["unrouted"] = [{"exchange": "fallback"}]
    queues["by-policy"] = [{"exchange": "policy-fallback"}]
    queues["via-e2e"] = [{"exchange": "inner", "routing_key": "k"}]
    queues["builtin"] = [{"exchange": "amq.topic", "routing_key": "a.#"}]
    document = {"version": 1, "rabbitmq": {"vhosts": {"V": {
        "exchanges": {"topic": {"type": "topic", "alternate_exchange": "fallback"}, "direct": {"type": "direct"},
                      "fanout": {"type": "fanout"}, "headers": {"type": "headers"}, "fallback": {"type": "fanout"},
                      "policy-fallback": {"type": "fanout"}, "inner": {"type": "direct"}},
        "exchange_bindings": [{"source": "topic", "destination": "inner", "routing_key": "b.#"}],
        "queues": {name: {"bindings": bindings} for name, bindings in queues.items()},
        "policies": {  # the direct and headers exchanges get an alternate exchange by policy; the topic
            # exchange's argument overrules one; amq.topic's policy of higher priority has none
            "ae": {"pattern": "^(dir|head|top|amq)", "apply_to": "exchanges", "priority": 1,
                   "definition": {"alternate-exchange": "policy-fallback"}},
            "other": {"pattern": "^amq\\.topic$", "apply_to": "all", "priority": 2,
                      "definition": {"message-ttl": 60000}},
        },
    }}}}
    probes: list[Probe] = [("topic", _words(rng, ["a", "b", "c", ""], 4), {}) for _ in range(120)]
    probes += [("direct", key, {}) for key in ["", "a", "b", "a.b", "c"]]
    probes += [("fanout", "anything", {})]
    probes += [("amq.topic", key, {}) for key in ["a", "a.b", "b", ""]]
    probes += [("", name, {}) for name in ["t0", "d3", "no-such-queue"]]
    for _ in range(80):
        probes.append(("headers", "", {k: rng.choice(values) for k, values in
                                       {**HEADER_VALUES, "e": [1]}.items() if rng.random() < 0.5}))
    return document, probes


def _in(vhost: str, document: dict[str, Any]) -> dict[str, Any]:
    return {**document, "rabbitmq": {"vhosts": {vhost: document["rabbitmq"]["vhosts"]["V"]}}}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_static_routing_and_the_mirror_agree_with_the_broker(tmp_path: Path, rabbitmq_api: Any, seed: int) -> None:
    document, probes = _corpus(seed)
    with _vhost(rabbitmq_api) as vhost:
        differences, routed = _differences(rabbitmq_api, tmp_path, vhost, _in(vhost, document), probes)
    assert differences == []
    assert len(probes) > 200
    # The corpus really exercises routing: most exchanges deliver some probes, not none.
    assert routed["topic"] >= 50 and routed["headers"] >= 20 and routed["direct"] == 5
    assert routed["fanout"] == 1 and routed[""] == 2 and routed["amq.topic"] == 2  # "other" hides "ae"


# ----------------------------------------------------------------------- generated: typed headers

_KEYS = ["a", "b", "x-c"]
_SCALARS = st.one_of(
    st.integers(-3, 3), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, 1.0, -0.0, 1.5]), st.booleans(), st.text(max_size=3), st.sampled_from(["", "1", "é"]))
_JSON = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.sampled_from(["k", "j", "é"]), inner, max_size=3), max_leaves=5)


def _lookalikes(value: Any) -> list[Any]:
    """Values a message may carry instead of `value`: equal to RabbitMQ, or equal only to Python."""
    found: list[Any] = [value]
    if isinstance(value, bool):
        found += [int(value), str(value).lower()]
    elif isinstance(value, int):
        found += [float(value) if abs(value) < 2**53 else value, str(value)]
        found += [True] if value == 1 else []
        found += [datetime.datetime.fromtimestamp(value, datetime.UTC)] if 0 <= value < 2**32 else []
    elif isinstance(value, float):
        found += [int(value)] if value.is_integer() and abs(value) < 2**63 else []
    elif isinstance(value, str):
        found += [value.encode()]
    elif isinstance(value, list):
        found += [list(reversed(value)), [_lookalikes(v)[-1] for v in value]]
    elif isinstance(value, dict):
        found += [dict(reversed(list(value.items()))), {k: _lookalikes(v)[-1] for k, v in value.items()}]
    return found


@st.composite
def _headers_case(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    pool = {key: draw(st.lists(_JSON, min_size=1, max_size=2)) for key in _KEYS}
    bindings = []
    for _ in range(draw(st.integers(1, 6))):
        arguments = {k: draw(st.sampled_from(pool[k])) for k in draw(st.sets(st.sampled_from(_KEYS), max_size=3))}
        mode = draw(st.sampled_from([None, "all", "any", "all-with-x", "any-with-x"]))
        bindings.append(arguments | ({"x-match": mode} if mode else {}))
    headers = []
    for _ in range(draw(st.integers(4, 10))):
        message = {}
        for key in draw(st.sets(st.sampled_from([*_KEYS, "x-match", "z"]), max_size=4)):
            known = [v for value in pool.get(key, []) for v in _lookalikes(value)]
            message[key] = draw(st.sampled_from(known) if known and draw(st.booleans()) else st.one_of(
                _JSON, st.none(), st.binary(max_size=2)))
        headers.append(message)
    return bindings, headers


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=_headers_case())
def test_typed_headers_route_as_on_the_broker(tmp_path: Path, rabbitmq_api: Any,
                                              case: tuple[list[dict[str, Any]], list[dict[str, Any]]]) -> None:
    bindings, headers = case
    with _vhost(rabbitmq_api) as vhost:
        document = {"version": 1, "rabbitmq": {"vhosts": {vhost: {
            "exchanges": {"h": {"type": "headers"}, "to": {"type": "headers"}},
            "exchange_bindings": [{"source": "h", "destination": "to", "arguments": bindings[0]}],
            "queues": {f"q{i}": {"bindings": [{"exchange": "h", "arguments": arguments}]}
                       for i, arguments in enumerate(bindings)} | {"via": {"bindings": [{"exchange": "to"}]}},
        }}}}
        differences, _ = _differences(rabbitmq_api, tmp_path, vhost, document, [("h", "", h) for h in headers])
    assert differences == []


# ------------------------------------------------------------------ generated: policies and AEs

_NAMES = ["a", "ab", "b.c", "é", "amq.topic"]
_PATTERNS = ["^a", "b", ".*", "^.$", "^a$", "c$", "^é", "^(a|b)", "^[ab]", "(?i)A", "^amq\\.", "\\.", "^.{2}$"]


@st.composite
def _policy_case(draw: st.DrawFn) -> dict[str, Any]:
    declared = draw(st.sets(st.sampled_from(_NAMES[:-1]), min_size=1)) | {"ae1", "ae2"}
    names = sorted(declared | {"amq.topic"})
    exchanges: dict[str, Any] = {}
    for name in sorted(declared):
        exchange: dict[str, Any] = {"type": draw(st.sampled_from(["direct", "topic", "fanout"]))}
        if draw(st.integers(0, 3)) == 0:
            exchange["alternate_exchange"] = draw(st.sampled_from(names))  # the format checks it is declared
        exchanges[name] = exchange
    queues = {f"q-{name}": {"bindings": [{"exchange": name, "routing_key": "k"}]}
              for name in names if draw(st.booleans()) or name.startswith("ae")}
    e2e = [{"source": s, "destination": d, "routing_key": key} for s, d, key in draw(st.lists(st.tuples(
        st.sampled_from(names), st.sampled_from(sorted(declared)), st.sampled_from(["k", "z", "#"])),
        max_size=2, unique=True))]
    priorities = draw(st.lists(st.integers(-5, 5), unique=True, max_size=4))
    policies = {f"p{i}": {
        "pattern": draw(st.sampled_from(_PATTERNS)), "apply_to": draw(st.sampled_from(["exchanges", "all", "queues"])),
        "priority": priority, "definition": draw(st.sampled_from([
            {"alternate-exchange": draw(st.sampled_from([*names, "missing"]))}, {"message-ttl": 1000}]))}
        for i, priority in enumerate(priorities)}
    return {"exchanges": exchanges, "queues": queues, "exchange_bindings": e2e, "policies": policies}


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(case=_policy_case())
def test_alternate_exchanges_of_arguments_and_policies_as_on_the_broker(tmp_path: Path, rabbitmq_api: Any,
                                                                       case: dict[str, Any]) -> None:
    with _vhost(rabbitmq_api) as vhost:
        document = {"version": 1, "rabbitmq": {"vhosts": {vhost: case}}}
        names = [*case["exchanges"], "amq.topic"]
        probes: list[Probe] = [(name, key, {}) for name in names for key in ("k", "z")]
        differences, _ = _differences(rabbitmq_api, tmp_path, vhost, document, probes)
    assert differences == []


# ---------------------------------------------------------------------------- what cannot be known


def test_what_the_broker_leaves_open_is_said_not_guessed(tmp_path: Path) -> None:
    """Two policies of the same priority setting different alternate exchanges (RabbitMQ applies
    either), a pattern Python would read otherwise than PCRE, a binding table of more than 32 keys
    (kept in an Erlang map's hash order): a RoutingError each, never a guess."""
    big = {f"k{i:02}": i for i in range(33)}
    document = {"version": 1, "rabbitmq": {"vhosts": {"v": {
        "exchanges": {"x": {"type": "direct"}, "y": {"type": "direct"}, "ae1": {"type": "fanout"},
                      "ae2": {"type": "fanout"}, "h": {"type": "headers", "alternate_exchange": "ae1"}},
        "queues": {"q": {"bindings": [{"exchange": "ae1"}, {"exchange": "ae2"},
                                      {"exchange": "h", "arguments": {"big": big, "n": 1}}]}},
        "policies": {"one": {"pattern": "^x$", "apply_to": "exchanges", "priority": 3,
                             "definition": {"alternate-exchange": "ae1"}},
                     "two": {"pattern": "x", "apply_to": "all", "priority": 3,
                             "definition": {"alternate-exchange": "ae2"}},
                     "pcre": {"pattern": "^[[:alpha:]]$", "apply_to": "exchanges", "priority": 0,
                              "definition": {"alternate-exchange": "ae1"}}},
    }}}}
    resources = _compile(tmp_path, document)
    with pytest.raises(RoutingError, match="policies `one` and `two` match exchange `x` with the same priority 3"):
        route_rabbitmq(resources, "v", "x", "unrouted")
    with pytest.raises(RoutingError, match="pattern '\\^\\[\\[:alpha:\\]\\]\\$'"):
        route_rabbitmq(resources, "v", "y", "unrouted")
    with pytest.raises(RoutingError, match="more than 32 keys"):
        route_rabbitmq(resources, "v", "h", "", {"big": dict(sorted(big.items())), "n": 1})
    # A miss elsewhere decides an `all` binding without the table: no error then; and h's own alternate
    # exchange argument overrules every policy, so the unknowable pattern is never needed.
    assert route_rabbitmq(resources, "v", "h", "", {"big": {}, "n": 2}) == {"q"}
