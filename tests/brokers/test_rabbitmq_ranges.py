"""Every value the `rabbitmq:` section checks is checked by RabbitMQ's own rule: each queue argument (on
each queue type), policy and operator-policy key, vhost and user limit, tried at its edges and with
values of the wrong type on the real broker and in `topology validate`, is taken by both or refused by
both. A difference is a file that validates but cannot be applied, or a broker that cannot be adopted."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from tests.conftest import unique
from topology.brokers.rabbitmq.export import typed_field
from topology.brokers.rabbitmq.spec import (
    OPERATOR_POLICY_KEYS,
    POLICY_KEYS,
    QUEUE_ARGUMENTS,
    QUEUE_TYPES,
    Integer,
    OneOf,
    boolean,
    max_age,
    string,
)
from topology.format.compile import compile_topology

pytestmark = pytest.mark.rabbitmq

_INTEGERS: tuple[Any, ...] = (-1, 0, 1, 2, 255, 256, 3_000_000_000, 3_000_000_001, 99_999_999_999, 1.5, 1.0, "5", True)
_MAX_AGES: tuple[Any, ...] = ("7D", "1Y", "3M", "12h", "30m", "10s", "07D", "0s", "1.5h", "7", "7d", "99999999999Y", 5)


def _values(rule: Any) -> tuple[Any, ...]:
    """Edge values for a rule: its choices and near misses, integers around every bound, wrong types."""
    if isinstance(rule, OneOf):
        strings = [c.upper() for c in rule.choices if isinstance(c, str)][:1]
        return (*rule.choices, *strings, "bogus", "", 5, 0, True)
    if isinstance(rule, Integer):
        return _INTEGERS
    return {max_age: _MAX_AGES, boolean: (True, False, "true", 1, 0), string: ("parked", "", 5, True)}.get(
        rule, (-1, 0, 7, "abc", 1.5, True, [1], {"a": 1}))


@pytest.fixture
def api(rabbitmq_api: Any) -> Iterator[Any]:
    """The management API, patient: hundreds of quorum queues and streams are declared one after another."""
    import httpx

    with httpx.Client(base_url=rabbitmq_api.base_url, auth=rabbitmq_api.auth, timeout=120) as client:
        yield client


@pytest.fixture
def scratch(api: Any) -> Iterator[str]:
    name = unique("ranges")
    api.put(f"/api/vhosts/{quote(name, safe='')}").raise_for_status()
    yield name
    api.delete(f"/api/vhosts/{quote(name, safe='')}")
    for user in api.get("/api/users").json():
        if user["name"].startswith(name):
            api.delete(f"/api/users/{quote(user['name'], safe='')}")


def _refused_by_format(section: dict[str, Any], *, warnings: bool) -> set[str]:
    """The dotted paths of every problem `validate` finds in the section (with warnings, or errors only)."""
    topology = compile_topology([], document={"version": 1, "rabbitmq": section})
    return {p.path or "" for p in topology.problems if warnings or p.severity == "error"}


def _hit(refused: set[str], path: str) -> bool:
    return any(p == path or p.startswith(path + ".") for p in refused)


def _disagreements(cases: dict[str, Any], broker: dict[str, bool], refused: set[str], prefix: str) -> list[str]:
    """The cases RabbitMQ takes and validate refuses, or the other way round."""
    return [f"{case!r}: RabbitMQ {'takes' if broker[name] else 'refuses'} it, validate "
            f"{'refuses' if _hit(refused, prefix + name) else 'takes'} it"
            for name, case in cases.items() if broker[name] == _hit(refused, prefix + name)]


def test_queue_arguments_are_taken_as_rabbitmq_takes_them(scratch: str, api: Any) -> None:
    v = quote(scratch, safe="")
    cases: dict[str, tuple[str, dict[str, Any]]] = {}
    for argument in QUEUE_ARGUMENTS.values():
        for queue_type in QUEUE_TYPES:  # each type with a value it may take: is the argument refused on it?
            cases[f"q{len(cases)}"] = (queue_type, {argument.argument: _values(argument.rule)[0]})
        for value in _values(argument.rule):
            arguments = {argument.argument: value}
            if argument.argument == "x-dead-letter-routing-key":
                arguments["x-dead-letter-exchange"] = ""
            cases[f"q{len(cases)}"] = (argument.queue_types[0], arguments)
    cases[f"q{len(cases)}"] = ("classic", {"x-dead-letter-routing-key": "parked"})  # without its exchange

    broker = {}
    for name, (queue_type, arguments) in cases.items():
        body = {"durable": True, "auto_delete": False, "arguments": {**arguments, "x-queue-type": queue_type}}
        broker[name] = api.put(f"/api/queues/{v}/{name}", json=body).status_code < 300
    queues = {name: {"type": queue_type, "arguments": arguments} for name, (queue_type, arguments) in cases.items()}
    refused = _refused_by_format({"vhosts": {"v": {"queues": queues}}}, warnings=False)

    assert sum(broker.values()) > 100 and len(broker) - sum(broker.values()) > 100  # both sides well tried
    assert _disagreements(cases, broker, refused, "rabbitmq.vhosts.v.queues.") == []


def test_typed_queue_fields_refuse_what_rabbitmq_refuses(scratch: str, api: Any) -> None:
    """A typed field (x-max-priority as max_priority, ...) never takes what RabbitMQ refuses; a value RabbitMQ
    takes that the field does not say exactly (x-delivery-limit "abc") is exported raw, so it is adopted."""
    v = quote(scratch, safe="")
    cases: dict[str, tuple[str, str, str, Any]] = {}
    for argument in QUEUE_ARGUMENTS.values():
        for value in _values(argument.rule) if argument.field is not None else ():
            cases[f"t{len(cases)}"] = (argument.queue_types[0], argument.argument, argument.field, value)
    broker = {}
    for name, (queue_type, key, _field, value) in cases.items():
        body = {"durable": True, "arguments": {key: value, "x-queue-type": queue_type}}
        broker[name] = api.put(f"/api/queues/{v}/{name}", json=body).status_code < 300
    queues = {name: {"type": queue_type, field: value} for name, (queue_type, _key, field, value) in cases.items()}
    refused = _refused_by_format({"vhosts": {"v": {"queues": queues}}}, warnings=False)
    prefix = "rabbitmq.vhosts.v.queues."
    # A duration or size field reads "30s" or "5MB" (the format's units), which RabbitMQ would refuse as text.
    taken_too_much = [case for name, case in cases.items() if not broker[name] and not _hit(refused, prefix + name)
                      and not (isinstance(case[3], str) and case[2] in _HUMAN_UNITS)]
    lost = [case for name, case in cases.items() if broker[name] and _hit(refused, prefix + name)
            and typed_field(case[0], case[1], case[3]) is not None]
    assert (taken_too_much, lost) == ([], [])
    assert sum(broker.values()) > 50 and sum(not taken for taken in broker.values()) > 50


_HUMAN_UNITS = ("message_ttl", "expires", "max_length_bytes", "max_in_memory_bytes", "stream_max_segment_size_bytes")


def test_policy_keys_are_taken_as_rabbitmq_takes_them(scratch: str, api: Any) -> None:
    v = quote(scratch, safe="")
    definitions: list[dict[str, Any]] = [{key: value} for key, rule in POLICY_KEYS.items() for value in _values(rule)]
    definitions += [{"ha-mode": "exactly", "ha-params": params} for params in (0, 1, 2, "2", 1.5)]
    definitions += [{"ha-mode": "nodes", "ha-params": params} for params in ([], ["rabbit@a"], [1], "rabbit@a")]
    definitions += [{"ha-mode": "all", "ha-params": 1}, {"ha-mode": "all", "ha-sync-mode": "automatic"},
                    {"federation-upstream": "a", "federation-upstream-set": "all"}, {"not-a-key": 1},
                    {"x-message-ttl": 1}, {}, {"message-ttl": 5, "max-length": -1}]
    for kind, key, operator in (("policies", "policies", False), ("operator-policies", "operator_policies", True)):
        cases = {f"p{i}": definition for i, definition in enumerate(definitions)}
        broker = {name: api.put(f"/api/{kind}/{v}/{name}", json={
            "pattern": "^nothing-matches-this$", "apply-to": "queues", "definition": definition}).status_code < 300
            for name, definition in cases.items()}
        policies = {name: {"pattern": "^nothing-matches-this$", "apply_to": "queues", "definition": definition}
                    for name, definition in cases.items()}
        refused = _refused_by_format({"vhosts": {"v": {key: policies}}}, warnings=True)
        assert sum(broker.values()) > (10 if operator else 50), kind
        assert _disagreements(cases, broker, refused, f"rabbitmq.vhosts.v.{key}.") == [], kind
    assert set(POLICY_KEYS) > OPERATOR_POLICY_KEYS


def test_priorities_and_limits_are_taken_as_rabbitmq_takes_them(scratch: str, api: Any) -> None:
    v = quote(scratch, safe="")
    values: tuple[Any, ...] = (-5, -1, 0, 7, 99_999_999_999, 1.5, "5", True, None)
    priorities = {f"p{i}": value for i, value in enumerate(values)}
    broker = {name: api.put(f"/api/policies/{v}/{name}", json={
        "pattern": "^nothing$", "priority": value, "definition": {"max-length": 1}}).status_code < 300
        for name, value in priorities.items() if value is not None}
    refused = _refused_by_format({"vhosts": {"v": {"policies": {
        name: {"pattern": "^nothing$", "priority": value, "definition": {"max-length": 1}}
        for name, value in priorities.items() if value is not None}}}}, warnings=True)
    assert _disagreements({n: priorities[n] for n in broker}, broker, refused, "rabbitmq.vhosts.v.policies.") == []

    user = f"{scratch}-limited"
    api.put(f"/api/users/{quote(user, safe='')}", json={"password": "x", "tags": ""}).raise_for_status()
    for endpoint, name, section in ((f"vhost-limits/{v}", "max-connections", "vhost"),
                                    (f"vhost-limits/{v}", "max-queues", "vhost"),
                                    (f"user-limits/{quote(user, safe='')}", "max-connections", "user"),
                                    (f"user-limits/{quote(user, safe='')}", "max-channels", "user"),
                                    (f"vhost-limits/{v}", "max-bogus", "vhost"),
                                    (f"user-limits/{quote(user, safe='')}", "max-queues", "user")):
        for value in values[:-1]:
            taken = api.put(f"/api/{endpoint}/{name}", json={"value": value}).status_code < 300
            document = {"vhosts": {"v": {"limits": {name: value}}}} if section == "vhost" else \
                {"users": {"u": {"limits": {name: value}}}}
            valid = not _refused_by_format(document, warnings=True)
            assert taken == valid, f"{section} limit {name}: {value!r}: RabbitMQ {taken}, validate {valid}"


def test_apply_to_is_sent_as_rabbitmq_spells_it(scratch: str, api: Any) -> None:
    """classic_queues, quorum_queues and streams (RabbitMQ 3.12 and later) go to the broker as written, not
    as classic-queues (which no release knows); RabbitMQ 3.10 itself knows queues, exchanges and all only."""
    topology = compile_topology([], document={"version": 1, "rabbitmq": {"vhosts": {"v": {"policies": {
        name: {"pattern": "^x", "apply_to": name, "definition": {"max-length": 1}}
        for name in ("classic_queues", "quorum_queues", "streams", "queues")}}}}})
    assert topology.errors == []
    sent = {r.name: r.attributes["apply-to"] for r in topology.resources.values() if r.kind == "rabbitmq.policy"}
    assert sent == {"classic_queues": "classic_queues", "quorum_queues": "quorum_queues", "streams": "streams",
                    "queues": "queues"}
    refused = api.put(f"/api/policies/{quote(scratch, safe='')}/p", json={
        "pattern": "^x", "apply-to": "quorum_queues", "definition": {"max-length": 1}})
    assert refused.status_code == 400 and "should be 'queues', 'exchanges' or 'all'" in refused.text
