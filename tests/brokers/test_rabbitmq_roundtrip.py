"""Adopting a RabbitMQ vhost loses nothing: hypothesis builds a vhost through the management API (httpx,
not topology) with what RabbitMQ holds - its metadata and limits, exchanges of every type with arguments,
classic, quorum and stream queues with every argument RabbitMQ checks (edge values: -1, 0, the largest)
and arguments of every AMQP type, bindings with typed arguments, exchange bindings, policies and operator
policies, users with tags and limits, permissions and topic permissions, under unicode names - then:
`topology export` (scoped to the vhost and its users) -> `validate` -> `plan` is empty -> `apply` of the
exported file, with the vhost's name replaced, to a fresh vhost -> the same objects, read through the
management API (and a plan of the copy is empty too)."""

from __future__ import annotations

import json
import string
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from tests.cli import topology
from tests.conftest import RABBITMQ_URL, unique

pytestmark = pytest.mark.rabbitmq

# ----------------------------------------------------------------------------------- the strategies

# Names: letters of any script, digits, punctuation (`{{`, `$$` and `~` included) and symbols, spaces inside.
# RabbitMQ 3.10 garbles non-ASCII vhost and user tags (it stores their UTF-8 bytes as Latin-1), so tags are ASCII.
_NAME_CHARACTERS = st.characters(codec="utf-8", categories=("L", "N", "P", "S", "Zs"))
# `.` and `..` are left out: as a path segment of the management API they are the folder itself or its
# parent (HTTP clients resolve them), so no API call can name such an object.
_NAMES = st.text(_NAME_CHARACTERS, min_size=1, max_size=8).filter(
    lambda n: n == n.strip() and n not in (".", "..") and not n.startswith("amq.") and not n.startswith("topology."))
_TAGS = st.lists(st.text(string.ascii_lowercase + string.digits + "-_", min_size=1, max_size=8), max_size=3,
                 unique=True)
_INT64 = st.integers(-(2**63), 2**63 - 1)
_SCALARS = st.one_of(_INT64, st.floats(allow_nan=False, allow_infinity=False), st.booleans(),
                     st.text(_NAME_CHARACTERS, max_size=6), st.sampled_from(["007", "true", "1.0", "", "null", "~"]))
_VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.text(_NAME_CHARACTERS, min_size=1, max_size=5), inner, max_size=3), max_leaves=6)
_CUSTOM = st.dictionaries(st.text(_NAME_CHARACTERS, min_size=1, max_size=6).map(lambda k: f"x-custom-{k}"),
                          _VALUES, max_size=2)

# Every queue argument RabbitMQ checks, with values it takes (edges included), by the queue types that take it.
_ARGUMENTS: dict[str, tuple[tuple[str, ...], st.SearchStrategy[Any]]] = {
    "x-message-ttl": (("classic", "quorum"), st.sampled_from([0, 1, 4_294_967_295, 99_999_999_999])),
    "x-expires": (("classic", "quorum"), st.sampled_from([3_600_000, 4_294_967_296])),  # short ones delete it
    "x-max-length": (("classic", "quorum"), st.sampled_from([0, 1, 2**62])),
    "x-max-length-bytes": (("classic", "quorum", "stream"), st.sampled_from([0, 1, 10**12])),
    "x-overflow": (("classic", "quorum"), st.sampled_from(["drop-head", "reject-publish", "reject-publish-dlx"])),
    "x-delivery-limit": (("quorum",), st.one_of(st.sampled_from([-1, 0, 1, 2**40]), _SCALARS)),
    "x-max-priority": (("classic",), st.sampled_from([0, 1, 255])),
    "x-single-active-consumer": (("classic", "quorum"), st.booleans()),
    "x-dead-letter-strategy": (("quorum",), st.sampled_from(["at-most-once", "at-least-once"])),
    "x-max-in-memory-length": (("quorum",), st.sampled_from([0, 1, 10**9])),
    "x-max-in-memory-bytes": (("quorum",), st.sampled_from([0, 1, 10**12])),
    "x-quorum-initial-group-size": (("quorum",), st.sampled_from([1, 3, 7])),
    "x-queue-leader-locator": (("quorum", "stream"),
                               st.sampled_from(["client-local", "balanced", "random", "least-leaders"])),
    "x-max-age": (("stream",), st.sampled_from(["1Y", "3M", "7D", "12h", "30m", "10s", "07D"])),
    "x-stream-max-segment-size-bytes": (("stream",), st.sampled_from([0, 1, 3_000_000_000])),
    "x-initial-cluster-size": (("stream",), st.sampled_from([1, 2, 5])),
    "x-queue-mode": (("classic",), st.sampled_from(["default", "lazy"])),
    "x-queue-version": (("classic",), st.sampled_from([1, 2])),
    "x-queue-master-locator": (("classic",), st.sampled_from(["min-masters", "client-local", "random"])),
}
_POLICY_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "message-ttl": st.sampled_from([0, 1, 99_999_999_999]), "expires": st.sampled_from([1, 4_294_967_296]),
    "max-length": st.sampled_from([0, 10**9]), "max-length-bytes": st.sampled_from([0, 10**12]),
    "max-in-memory-length": st.sampled_from([0, 5]), "max-in-memory-bytes": st.sampled_from([0, 5]),
    "delivery-limit": st.sampled_from([0, 20]), "overflow": st.sampled_from(["drop-head", "reject-publish-dlx"]),
    "dead-letter-exchange": _NAMES, "dead-letter-routing-key": _NAMES, "alternate-exchange": _NAMES,
    "dead-letter-strategy": st.sampled_from(["at-most-once", "at-least-once"]),
    "queue-mode": st.sampled_from(["default", "lazy"]), "queue-version": st.sampled_from([1, 2]),
    "max-age": st.sampled_from(["1Y", "7D"]), "stream-max-segment-size-bytes": st.sampled_from([0, 3_000_000_000]),
    "initial-cluster-size": st.sampled_from([0, 3]), "queue-leader-locator": st.sampled_from(["balanced", "random"]),
    "queue-master-locator": st.sampled_from(["min-masters", "random"]), "federation-upstream-set": _NAMES,
}
_OPERATOR_KEYS = ("expires", "message-ttl", "max-length", "max-length-bytes", "max-in-memory-length",
                  "max-in-memory-bytes", "delivery-limit")
_HA = st.sampled_from([{}, {"ha-mode": "all", "ha-sync-mode": "automatic"},
                       {"ha-mode": "exactly", "ha-params": 2, "ha-promote-on-shutdown": "always"},
                       {"ha-mode": "nodes", "ha-params": ["rabbit@nowhere"], "ha-sync-batch-size": 5}])
_REGEXES = st.sampled_from(["", "^$", ".*", "^ü.*", "^(a|b)\\.✓$", "[[:alpha:]]+"])


@dataclass
class World:
    """What hypothesis asks the broker to hold, in the management API's own shapes."""

    vhost: dict[str, Any]
    limits: dict[str, int]
    exchanges: dict[str, dict[str, Any]]
    queues: dict[str, dict[str, Any]]
    bindings: list[tuple[str, str, str, dict[str, Any]]]  # source, "q"/"e", destination, body
    policies: dict[str, dict[str, Any]] = field(default_factory=dict)
    operator_policies: dict[str, dict[str, Any]] = field(default_factory=dict)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)  # suffix -> tags, limits, permissions


@st.composite
def _queue(draw: st.DrawFn, exchanges: list[str]) -> dict[str, Any]:
    queue_type = draw(st.sampled_from(["classic", "quorum", "stream"]))
    taken = [a for a, (types, _values) in _ARGUMENTS.items() if queue_type in types]
    arguments = {a: draw(_ARGUMENTS[a][1]) for a in draw(st.lists(st.sampled_from(taken), unique=True, max_size=5))}
    if queue_type != "stream" and draw(st.booleans()):
        arguments["x-dead-letter-exchange"] = draw(st.sampled_from(["", *exchanges, "not-declared"]))
        if draw(st.booleans()):
            arguments["x-dead-letter-routing-key"] = draw(_NAMES)
    classic = queue_type == "classic"
    return {"durable": draw(st.booleans()) if classic else True, "auto_delete": classic and draw(st.booleans()),
            "arguments": {**arguments, **draw(_CUSTOM), "x-queue-type": queue_type}}


@st.composite
def _binding_arguments(draw: st.DrawFn, source_type: str) -> dict[str, Any]:
    headers = draw(st.dictionaries(st.text(_NAME_CHARACTERS, min_size=1, max_size=5), _VALUES, max_size=2))
    if source_type == "headers":
        return {"x-match": draw(st.sampled_from(["all", "any", "all-with-x", "any-with-x"])), **headers}
    return headers


@st.composite
def _policy(draw: st.DrawFn, operator: bool) -> dict[str, Any]:
    keys = _OPERATOR_KEYS if operator else tuple(_POLICY_VALUES)
    definition = {k: draw(_POLICY_VALUES[k]) for k in draw(st.lists(st.sampled_from(keys), min_size=1, max_size=3,
                                                                     unique=True))}
    if not operator:
        definition.update(draw(_HA))
    # a pattern that matches none of the world's objects: a policy's expires would delete them
    return {"pattern": "^never-" + draw(st.sampled_from(["", "ü", "(a|b)", "\\.✓$"])),
            "apply-to": draw(st.sampled_from(["queues", "exchanges", "all"])),
            "priority": draw(st.one_of(st.integers(-5, 2**40), st.sampled_from([0.5, -1.5]))), "definition": definition}


@st.composite
def worlds(draw: st.DrawFn) -> World:
    vhost = {"description": draw(st.text(_NAME_CHARACTERS, max_size=12)), "tags": draw(_TAGS),
             # RabbitMQ 3.10 reads a new vhost's default queue type as `defaultqueuetype`
             "defaultqueuetype": draw(st.sampled_from([None, "classic", "quorum", "stream"])),
             "tracing": draw(st.booleans())}
    exchange_names = draw(st.lists(_NAMES, max_size=3, unique=True))
    exchanges = {}
    for name in exchange_names:
        arguments = draw(_CUSTOM)
        if draw(st.booleans()):
            arguments["alternate-exchange"] = draw(st.sampled_from([*exchange_names, "amq.fanout", "not-declared"]))
        exchanges[name] = {"type": draw(st.sampled_from(["direct", "fanout", "topic", "headers"])),
                           "durable": draw(st.booleans()), "auto_delete": draw(st.booleans()),
                           "internal": draw(st.booleans()), "arguments": arguments}
    queue_names = draw(st.lists(_NAMES, max_size=4, unique=True))
    queues = {name: draw(_queue(exchange_names)) for name in queue_names}
    sources = [*exchange_names, "amq.direct", "amq.headers", "amq.topic"]
    types = {**{n: e["type"] for n, e in exchanges.items()}, "amq.direct": "direct", "amq.headers": "headers",
             "amq.topic": "topic"}
    bindings = []
    for _ in range(draw(st.integers(0, 4))):
        source = draw(st.sampled_from(sources))
        destinations = [*queue_names, *(e for e in exchange_names if e != source)]
        if not destinations:
            break
        destination = draw(st.sampled_from(destinations))
        arguments = draw(_binding_arguments(types[source]))
        # with arguments, no `~`: RabbitMQ's management API cannot list such a binding (a test of its own)
        key = draw(st.text(_NAME_CHARACTERS, max_size=8).filter(lambda k, a=arguments: not (a and "~" in k)))
        bindings.append((source, "q" if destination in queues else "e", destination,
                         {"routing_key": key, "arguments": arguments}))
    limits = draw(st.dictionaries(st.sampled_from(["max-connections", "max-queues"]),
                                  st.sampled_from([-1, 0, 1, 2**40]), max_size=2))
    policies = draw(st.dictionaries(_NAMES, _policy(False), max_size=2))
    operator_policies = draw(st.dictionaries(_NAMES, _policy(True), max_size=1))
    users = {}
    for suffix in draw(st.lists(_NAMES, max_size=2, unique=True)):
        users[suffix] = {
            "tags": draw(_TAGS), "limits": draw(st.dictionaries(st.sampled_from(["max-connections", "max-channels"]),
                                                                st.sampled_from([-1, 0, 7]), max_size=2)),
            "permission": draw(st.none() | st.fixed_dictionaries({"configure": _REGEXES, "write": _REGEXES,
                                                                  "read": _REGEXES})),
            "topic": draw(st.dictionaries(st.sampled_from(["amq.topic", *exchange_names]), st.fixed_dictionaries(
                {"write": _REGEXES, "read": _REGEXES}), max_size=2))}
    return World(vhost, limits, exchanges, queues, bindings, policies, operator_policies, users)


# ----------------------------------------------------------------------------- the broker's side


def _q(name: str) -> str:
    return quote(name, safe="")


def _create(api: httpx.Client, name: str, world: World) -> None:
    """The world in vhost `name`, through the management API; its users are `name`-<suffix>."""
    v = _q(name)
    metadata = {k: value for k, value in world.vhost.items() if value is not None}
    api.put(f"/api/vhosts/{v}", json=metadata).raise_for_status()
    for exchange, body in world.exchanges.items():
        api.put(f"/api/exchanges/{v}/{_q(exchange)}", json=body).raise_for_status()
    for queue, body in world.queues.items():
        api.put(f"/api/queues/{v}/{_q(queue)}", json=body).raise_for_status()
    for source, kind, destination, body in world.bindings:
        api.post(f"/api/bindings/{v}/e/{_q(source)}/{kind}/{_q(destination)}", json=body).raise_for_status()
    for path, policies in (("policies", world.policies), ("operator-policies", world.operator_policies)):
        for policy, body in policies.items():
            api.put(f"/api/{path}/{v}/{_q(policy)}", json=body).raise_for_status()
    for suffix, user in world.users.items():
        u = _q(f"{name}-{suffix}")
        api.put(f"/api/users/{u}", json={"password": "p", "tags": user["tags"]}).raise_for_status()
        for limit, value in user["limits"].items():
            api.put(f"/api/user-limits/{u}/{limit}", json={"value": value}).raise_for_status()
        if user["permission"] is not None:
            api.put(f"/api/permissions/{v}/{u}", json=user["permission"]).raise_for_status()
        for exchange, rules in user["topic"].items():
            api.put(f"/api/topic-permissions/{v}/{u}", json={"exchange": exchange, **rules}).raise_for_status()
    for limit, value in world.limits.items():  # last: max-queues 0 would refuse the queues
        api.put(f"/api/vhost-limits/{v}/{limit}", json={"value": value}).raise_for_status()


def _state(api: httpx.Client, name: str) -> dict[str, Any]:
    """Everything vhost `name` and its users hold, read through the management API, with `name` as `@`."""
    v = _q(name)

    def get(path: str) -> Any:
        response = api.get(path)
        response.raise_for_status()
        return response.json()

    def renamed(user: str) -> str:
        return user.replace(name, "@")

    listed = get(f"/api/vhosts/{v}")
    queues = {}
    for queue in get(f"/api/queues/{v}"):
        arguments = dict(queue["arguments"])
        arguments.pop("x-queue-type", None)
        queues[queue["name"]] = (queue["type"], queue["durable"], queue["auto_delete"], arguments)
    users = {renamed(u["name"]): (sorted(u["tags"]), u.get("limits") or {}) for u in get("/api/users")
             if u["name"].startswith(name)}
    return {
        "vhost": (listed["description"], sorted(map(json.dumps, listed["tags"])), listed.get("default_queue_type"),
                  listed["tracing"]),
        "limits": [limits["value"] for limits in get(f"/api/vhost-limits/{v}")],
        "exchanges": {e["name"]: (e["type"], e["durable"], e["auto_delete"], e["internal"], e["arguments"])
                      for e in get(f"/api/exchanges/{v}") if e["name"] and not e["name"].startswith("amq.")},
        "queues": queues,
        "bindings": sorted((b["source"], b["destination_type"], b["destination"], b["routing_key"],
                            repr(sorted(b["arguments"].items()))) for b in get(f"/api/bindings/{v}") if b["source"]),
        "policies": {p["name"]: (p["pattern"], p["apply-to"], p["priority"], p["definition"])
                     for p in get(f"/api/policies/{v}")},
        "operator_policies": {p["name"]: (p["pattern"], p["apply-to"], p["priority"], p["definition"])
                              for p in get(f"/api/operator-policies/{v}")},
        "users": users,
        "permissions": sorted((renamed(p["user"]), p["configure"], p["write"], p["read"])
                              for p in get(f"/api/vhosts/{v}/permissions")),
        "topic_permissions": sorted((renamed(t["user"]), t["exchange"], t["write"], t["read"])
                                    for t in get(f"/api/vhosts/{v}/topic-permissions")),
    }


@pytest.fixture
def api() -> Iterator[httpx.Client]:
    from urllib.parse import urlsplit

    parts = urlsplit(RABBITMQ_URL)
    with httpx.Client(base_url=f"{parts.scheme}://{parts.hostname}:{parts.port}", timeout=60,
                      auth=(parts.username or "guest", parts.password or "guest")) as client:
        yield client


def _cleanup(api: httpx.Client, *names: str) -> None:
    users = [u["name"] for u in api.get("/api/users").json()]
    for name in names:
        api.delete(f"/api/vhosts/{_q(name)}")
        for user in users:
            if user.startswith(name):
                api.delete(f"/api/users/{_q(user)}")


# --------------------------------------------------------------------------------------- the test


def _run(folder: Path, *args: str) -> Any:
    wait = ("--lock-timeout", "120s") if args[0] == "apply" else ()
    return topology(*args, *wait, cwd=folder, env={"TOPOLOGY_TARGET_LIVE": RABBITMQ_URL})


_EDGES = World(
    vhost={"description": "Team A's {{ vhost }} ✓", "tags": ["true", "0", "prod"], "defaultqueuetype": "quorum",
           "tracing": True},
    limits={"max-queues": 0, "max-connections": 0},  # set last here; re-created after the queues
    exchanges={"{{ex}}": {"type": "headers", "durable": True, "auto_delete": False, "internal": False,
                          "arguments": {"alternate-exchange": "not-declared", "x-custom-list": [1, -0.0, True]}},
               "$${y}~": {"type": "topic", "durable": False, "auto_delete": True, "internal": True, "arguments": {}}},
    queues={"q {#1}": {"durable": True, "auto_delete": False, "arguments": {
                "x-queue-type": "quorum", "x-delivery-limit": -1, "x-quorum-initial-group-size": 1,
                "x-queue-leader-locator": "balanced", "x-dead-letter-exchange": "", "x-dead-letter-routing-key": "ü"}},
            "plain": {"durable": True, "auto_delete": False, "arguments": {"x-delivery-limit": "5",
                                                                             "x-queue-type": "quorum"}},
            "ü~q": {"durable": False, "auto_delete": True, "arguments": {
                "x-queue-type": "classic", "x-max-priority": 0, "x-message-ttl": 99_999_999_999,
                "x-custom-table": {"a": {"b": ["x", 2**62]}}}},
            "s": {"durable": True, "auto_delete": False, "arguments": {
                "x-queue-type": "stream", "x-max-age": "1Y", "x-stream-max-segment-size-bytes": 3_000_000_000}}},
    bindings=[("{{ex}}", "q", "q {#1}", {"routing_key": "", "arguments": {"x-match": "all", "n": 1, "f": 1.0,
                                                                          "b": True}}),
              ("amq.topic", "e", "$${y}~", {"routing_key": "a~b.#", "arguments": {}}),
              ("$${y}~", "q", "ü~q", {"routing_key": "*.✓", "arguments": {}})],
    policies={"p": {"pattern": "^never-", "apply-to": "queues", "priority": -1.5,
                    "definition": {"max-length": 0, "ha-mode": "exactly", "ha-params": 2}}},
    operator_policies={"cap": {"pattern": "^never-", "apply-to": "all", "priority": 0, "definition": {"expires": 1}}},
    users={"svc {{x}}": {"tags": ["monitoring", "custom"], "limits": {"max-connections": 0, "max-channels": -1},
                         "permission": {"configure": "^$", "write": "^ü.*", "read": ".*"},
                         "topic": {"amq.topic": {"write": "^a~", "read": ""}}}})


# No shrinking: each example is seconds of real broker work, and the failing one is printed whole.
@example(world=_EDGES)
@settings(max_examples=6, deadline=None, phases=(Phase.explicit, Phase.reuse, Phase.generate),
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(world=worlds())
def test_a_vhost_round_trips_through_export(world: World, api: httpx.Client, tmp_path_factory: Any) -> None:
    folder = tmp_path_factory.mktemp("roundtrip")
    first, second = f"{unique('rt')}-ü", f"{unique('rt')}-ü"
    try:
        _create(api, first, world)
        exported = folder / "exported.topology.yaml"
        result = _run(folder, "export", "--target", "live", "--include", f"rabbitmq/vhost/{first}",
                      "--include", f"rabbitmq/{first}/*", "--include", f"rabbitmq/user/{first}*", "--to", str(exported))
        assert result.returncode == 0, result.stderr
        text = exported.read_text()
        valid = _run(folder, "validate", str(exported))
        assert valid.returncode == 0, text + valid.stdout + valid.stderr
        plan = _run(folder, "plan", str(exported), "--detailed-exitcode")
        assert plan.returncode == 0, text + plan.stdout + plan.stderr

        copy = folder / "copy.topology.yaml"
        copy.write_text(text.replace(first, second))
        applied = _run(folder, "apply", str(copy), "--auto-approve")
        assert applied.returncode == 0, text + applied.stdout + applied.stderr
        assert _state(api, second) == _state(api, first)
        again = _run(folder, "plan", str(copy), "--detailed-exitcode")
        assert again.returncode == 0, text + again.stdout + again.stderr
    finally:
        _cleanup(api, first, second)
