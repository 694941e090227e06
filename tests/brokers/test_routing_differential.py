"""The static routing evaluator against the real broker's routing, over generated keys and bindings.

Every disagreement is a bug in the evaluator (the broker is right by definition)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.conftest import AMQP_URL, unique
from topology.brokers.rabbitmq.probe import LiveProbe
from topology.brokers.rabbitmq.routing import route_rabbitmq
from topology.format.compile import compile_topology

pytestmark = pytest.mark.rabbitmq


def _words(rng: random.Random, alphabet: str, most: int) -> str:
    return ".".join(rng.choice(alphabet) for _ in range(rng.randint(0, most)))


def _corpus(vhost: str, seed: int) -> tuple[str, list[tuple[str, str, dict[str, Any]]]]:
    rng = random.Random(seed)
    queues: dict[str, list[dict[str, Any]]] = {}
    for i in range(40):
        queues[f"t{i}"] = [{"exchange": "topic", "routing_key": _words(rng, "ab*#", 4).replace("a", "a")}]
    for i in range(12):
        queues[f"d{i}"] = [{"exchange": "direct", "routing_key": rng.choice(["", "a", "b", "a.b"])}]
    queues["f0"], queues["f1"] = [{"exchange": "fanout"}], [{"exchange": "fanout"}]
    header_values = {"a": 1, "b": "x", "c": True, "x-d": "y"}
    for i in range(30):
        arguments = {k: v for k, v in header_values.items() if rng.random() < 0.5}
        arguments["x-match"] = rng.choice(["all", "any", "all-with-x", "any-with-x"])
        queues[f"h{i}"] = [{"exchange": "headers", "arguments": arguments}]
    queues["unrouted"] = [{"exchange": "fallback"}]
    queues["via-e2e"] = [{"exchange": "inner", "routing_key": "k"}]
    queues["builtin"] = [{"exchange": "amq.topic", "routing_key": "a.#"}]
    document = {
        "version": 1,
        "rabbitmq": {"vhosts": {vhost: {
            "exchanges": {"topic": {"type": "topic", "alternate_exchange": "fallback"}, "direct": {"type": "direct"},
                          "fanout": {"type": "fanout"}, "headers": {"type": "headers"},
                          "fallback": {"type": "fanout"}, "inner": {"type": "direct"}},
            "exchange_bindings": [{"source": "topic", "destination": "inner", "routing_key": "b.#"}],
            "queues": {name: {"bindings": bindings} for name, bindings in queues.items()},
        }}},
    }
    probes: list[tuple[str, str, dict[str, Any]]] = []
    probes += [("topic", _words(rng, "abc", 4), {}) for _ in range(150)]
    probes += [("direct", key, {}) for key in ["", "a", "b", "a.b", "c"]]
    probes += [("fanout", "anything", {})]
    probes += [("amq.topic", key, {}) for key in ["a", "a.b", "b", ""]]
    probes += [("", name, {}) for name in ["t0", "d3", "no-such-queue"]]
    for _ in range(80):
        probes.append(("headers", "", {k: rng.choice([v, 2, "z"]) for k, v in
                                       {**header_values, "e": 1}.items() if rng.random() < 0.5}))
    return json.dumps(document), probes


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_static_routing_agrees_with_the_broker(tmp_path: Path, rabbitmq_api: Any, seed: int) -> None:
    vhost = unique("routing")
    rabbitmq_api.put(f"/api/vhosts/{quote(vhost, safe='')}").raise_for_status()
    rabbitmq_api.put(f"/api/permissions/{quote(vhost, safe='')}/guest",
                     json={"configure": ".*", "write": ".*", "read": ".*"}).raise_for_status()
    try:
        text, probes = _corpus(vhost, seed)
        path = tmp_path / "corpus.topology.yaml"
        path.write_text(text)
        topology = compile_topology([str(path)])
        assert topology.errors == []
        disagreements = []
        routed: dict[str, int] = {}
        with LiveProbe(AMQP_URL, vhost, topology.resources) as probe:
            for exchange, key, headers in probes:
                static = route_rabbitmq(topology.resources, vhost, exchange, key, headers)
                live = probe.route(exchange, key, headers)
                routed[exchange] = routed.get(exchange, 0) + bool(live)
                if static != live:
                    disagreements.append((exchange, key, headers, sorted(static - live), sorted(live - static)))
        assert disagreements == []
        assert len(probes) > 200
        # The corpus really exercises routing: most exchanges deliver some probes, not none.
        assert routed["topic"] >= 50 and routed["headers"] >= 20 and routed["direct"] >= 3
        assert routed["fanout"] == 1 and routed[""] == 2 and routed["amq.topic"] == 2
    finally:
        rabbitmq_api.delete(f"/api/vhosts/{quote(vhost, safe='')}")
