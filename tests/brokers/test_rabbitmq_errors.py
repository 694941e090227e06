"""Every call of the RabbitMQ driver (and of the live probe), driven into failure on the real broker
with thin fault injection in front of it, leaves as topology's own error: one sentence naming the
endpoint, without the password, with the client's exception chained, in bounded time.

Each call is first shown to work against the real broker (the `none` fault), so a failure under a
fault is that call's failure, not a setup that never reached it."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

from tests.conftest import AMQP_URL, RABBITMQ_URL, unique
from tests.faults import BadServer, FaultProxy, Mode, SilentServer, closed_port, failures_of, http_reply
from topology.brokers.base import ChangeResult, Live, Selection
from topology.brokers.rabbitmq.driver import RabbitMQDriver
from topology.brokers.rabbitmq.expand import binding_address
from topology.brokers.rabbitmq.probe import LiveProbe
from topology.core.resource import Resource
from topology.core.secrets import Secret
from topology.engine.plan import Change
from topology.errors import BrokerError, LockedError, TopologyError

pytestmark = pytest.mark.rabbitmq

_API = urlsplit(RABBITMQ_URL)
_AMQP = urlsplit(AMQP_URL)
_TIMEOUTS = {"connect_timeout": 0.5, "read_timeout": 1.0}
_BOUND = 20.0  # seconds any one failing call may take (a few requests, each bounded by the timeouts)

_QUEUE = {"type": "classic", "durable": True, "auto_delete": False, "arguments": {}}
_EXCHANGE = {"type": "direct", "durable": True, "auto_delete": False, "internal": False, "arguments": {}}
_EMPTYING = {"pattern": "^q$", "apply-to": "queues", "priority": 0, "definition": {"max-length": 0}}


# -------------------------------------------------------------------------------------- the scene


@dataclasses.dataclass
class Scene:
    """A vhost on the real broker with a queue `q`, an exchange `e` bound to it, a service user with
    permissions there, and an `ops` user (administrator, with a password nothing else uses) whose
    URLs the driver under test is given."""

    api: Any
    vhost: str
    ops: str
    password: str
    service: str
    made_vhosts: list[str] = dataclasses.field(default_factory=list)

    def url(self, port: int) -> str:
        return f"http://{quote(self.ops, safe='')}:{self.password}@127.0.0.1:{port}"

    def amqp(self, port: int) -> str:
        return f"amqp://{quote(self.ops, safe='')}:{self.password}@127.0.0.1:{port}/{quote(self.vhost, safe='')}"

    def put(self, path: str, body: Any = None) -> None:
        self.api.put(f"/api/{path}", json=body if body is not None else {}).raise_for_status()

    def vhost_with_a_queue(self) -> str:
        """A fresh vhost (the ops user may use it) holding an empty queue `q`."""
        name = unique("errors")
        self.made_vhosts.append(name)
        self.put(f"vhosts/{quote(name, safe='')}")
        self.put(f"permissions/{quote(name, safe='')}/{quote(self.ops, safe='')}",
                 {"configure": ".*", "write": ".*", "read": ".*"})
        self.put(f"queues/{quote(name, safe='')}/q", {"durable": True})
        return name

    def change(self, kind: str, name: str, action: str, **fields: Any) -> Change:
        part = kind.removeprefix("rabbitmq.").replace("_", "-")
        top = kind in ("rabbitmq.vhost", "rabbitmq.user")
        fields.setdefault("address", f"rabbitmq/{part}/{name}" if top else f"rabbitmq/{self.vhost}/{part}/{name}")
        return Change(kind=kind, target="rabbit", name=name, scope="" if top else self.vhost, action=action,
                      **fields)


@pytest.fixture
def scene(rabbitmq_api: Any, rabbitmq_vhost: Any) -> Iterator[Scene]:
    vhost = rabbitmq_vhost.name
    made = Scene(rabbitmq_api, vhost, unique("ops"), unique("pw"), unique("svc"))
    users = (made.ops, made.service)
    made.put(f"users/{quote(made.ops, safe='')}", {"password": made.password, "tags": "administrator"})
    made.put(f"users/{quote(made.service, safe='')}", {"password": "unused", "tags": ""})
    v = quote(vhost, safe="")
    try:
        for user in users:
            made.put(f"permissions/{v}/{quote(user, safe='')}", {"configure": ".*", "write": ".*", "read": ".*"})
        made.put(f"topic-permissions/{v}/{quote(made.service, safe='')}",
                 {"exchange": "amq.topic", "write": ".*", "read": ".*"})
        made.put(f"queues/{v}/q", {"durable": True})
        made.put(f"exchanges/{v}/e", {"type": "direct", "durable": True})
        rabbitmq_api.post(f"/api/bindings/{v}/e/e/q/q", json={"routing_key": "k"}).raise_for_status()
        yield made
    finally:
        for user in users:
            rabbitmq_api.delete(f"/api/users/{quote(user, safe='')}")
        for name in made.made_vhosts:
            rabbitmq_api.delete(f"/api/vhosts/{quote(name, safe='')}")


# -------------------------------------------------------------------------------------- the calls

Call = Callable[[RabbitMQDriver, Scene], Any]


def _apply(*changes: Callable[[Scene], Change], desired: Callable[[Scene], dict[str, Resource]] | None = None) -> Call:
    def call(driver: RabbitMQDriver, scene: Scene) -> list[ChangeResult]:
        return driver.apply([make(scene) for make in changes], desired(scene) if desired else {})
    return call


def _inspect(driver: RabbitMQDriver, scene: Scene) -> Any:
    v, service = scene.vhost, scene.service
    addresses = {f"rabbitmq/vhost/{v}", f"rabbitmq/user/{service}", f"rabbitmq/{v}/permission/{service}",
                 f"rabbitmq/{v}/topic-permission/{service}/amq.topic"}
    return driver.inspect(Selection(frozenset(addresses), containers=frozenset({v})))


def _count(driver: RabbitMQDriver, scene: Scene) -> Any:
    return driver.count_messages({f"rabbitmq/{scene.vhost}/queue/q": Live("rabbitmq.queue", {}, name="q",
                                                                          scope=scene.vhost),
                                  f"rabbitmq/vhost/{scene.vhost}": Live("rabbitmq.vhost", {}, name=scene.vhost)})


def _user(scene: Scene, name: str, password: str | None) -> Resource:
    return Resource(kind="rabbitmq.user", address=f"rabbitmq/user/{name}", name=name, scope="", target="rabbit",
                    attributes={"tags": []}, secrets={"password": Secret(password)} if password else {})


def _secret(driver: RabbitMQDriver, scene: Scene) -> Any:
    return driver.secret_matches(_user(scene, scene.service, "unused"), Live("rabbitmq.user", {"tags": []}))


def _lock(driver: RabbitMQDriver, scene: Scene) -> Any:
    driver.lock(f"errors test {scene.vhost}", 0)


def _lock_held(driver: RabbitMQDriver, scene: Scene) -> Any:
    with RabbitMQDriver(RABBITMQ_URL, amqp_url=scene.amqp(_AMQP.port or 5672).replace(
            f"{quote(scene.ops, safe='')}:{scene.password}", f"{_AMQP.username}:{_AMQP.password}")) as holder:
        holder.lock("the other apply", 0)
        driver.lock(f"errors test {scene.vhost}", 0)


def _vhost_delete(driver: RabbitMQDriver, scene: Scene) -> Any:
    name = scene.vhost_with_a_queue()
    return driver.apply([Change(address=f"rabbitmq/vhost/{name}", kind="rabbitmq.vhost", target="rabbit",
                                name=name, action="delete", needs_empty=True)], {})


def _new_vhost(scene: Scene) -> Change:
    name = unique("errors")
    scene.made_vhosts.append(name)
    return Change(address=f"rabbitmq/vhost/{name}", kind="rabbitmq.vhost", target="rabbit", name=name,
                  action="create", after={})


def _queue_delete(**guard: bool) -> Call:
    def call(driver: RabbitMQDriver, scene: Scene) -> Any:
        name = unique("doomed")
        scene.put(f"queues/{quote(scene.vhost, safe='')}/{name}", {"durable": True})
        return driver.apply([scene.change("rabbitmq.queue", name, "delete", before=_QUEUE, **guard)], {})
    return call


def _exchange_delete(driver: RabbitMQDriver, scene: Scene) -> Any:
    name = unique("doomed")
    scene.put(f"exchanges/{quote(scene.vhost, safe='')}/{name}", {"type": "direct", "durable": True})
    return driver.apply([scene.change("rabbitmq.exchange", name, "delete", before=_EXCHANGE)], {})


def _binding(source: str = "e", kind: str = "rabbitmq.binding") -> dict[str, Any]:
    to = "queue" if kind == "rabbitmq.binding" else "exchange"
    return {"source": source, "destination": "q" if to == "queue" else "e", "destination_type": to,
            "routing_key": "k", "arguments": {}}


def _topic(scene: Scene) -> dict[str, Any]:
    return {"user": scene.service, "exchange": "amq.topic", "write": ".*", "read": ".*"}


def _permission(scene: Scene) -> dict[str, Any]:
    return {"user": scene.service, "configure": ".*", "write": ".*", "read": ".*"}


CALLS: dict[str, Call] = {
    "inspect": _inspect,
    "count_messages": _count,
    "secret_matches": _secret,
    "lock": _lock,
    "lock held by another apply": _lock_held,
    "apply: create queue, exchange, binding (one import)": _apply(
        lambda s: s.change("rabbitmq.queue", "q2", "create", after=_QUEUE),
        lambda s: s.change("rabbitmq.exchange", "e2", "create", after=_EXCHANGE),
        lambda s: s.change("rabbitmq.exchange_binding", "amq.direct->e", "create",
                           after=_binding("amq.direct", "rabbitmq.exchange_binding"),
                           address=binding_address(s.vhost, "exchange-binding", "amq.direct", "e", "k", {}))),
    "apply: create vhost": _apply(_new_vhost),
    "apply: delete vhost planned empty": _vhost_delete,
    "apply: update queue": _apply(lambda s: s.change("rabbitmq.queue", "q", "update", before=_QUEUE, after=_QUEUE)),
    "apply: replace queue": _apply(lambda s: s.change("rabbitmq.queue", "q", "replace", before=_QUEUE,
                                                      after=_QUEUE, needs_empty=True)),
    "apply: delete queue planned empty": _queue_delete(needs_empty=True),
    "apply: delete queue losing data": _queue_delete(loses_data=True),
    "apply: delete exchange": _exchange_delete,
    "apply: replace binding": _apply(lambda s: s.change("rabbitmq.binding", "e->q", "replace", before=_binding(),
                                                        after=_binding())),
    "apply: create policy planned empty": _apply(
        lambda s: s.change("rabbitmq.policy", "cap", "create", after=_EMPTYING, needs_empty=True)),
    "apply: delete policy planned empty": _apply(
        lambda s: s.change("rabbitmq.policy", "gone", "delete", before=_EMPTYING, needs_empty=True)),
    "apply: create operator policy": _apply(lambda s: s.change("rabbitmq.operator_policy", "op", "create", after={
        "pattern": "^none$", "apply-to": "queues", "priority": 0, "definition": {"max-length": 5}})),
    "apply: set a user's password": _apply(
        lambda s: s.change("rabbitmq.user", s.service, "update", after={"tags": []}),
        desired=lambda s: {f"rabbitmq/user/{s.service}": _user(s, s.service, "unused")}),
    "apply: update user keeping its password": _apply(
        lambda s: s.change("rabbitmq.user", s.service, "update", before={"tags": []}, after={"tags": ["management"]})),
    "apply: set permission": _apply(lambda s: s.change("rabbitmq.permission", s.service, "update",
                                                       after=_permission(s))),
    "apply: delete permission": _apply(lambda s: s.change("rabbitmq.permission", s.service, "delete",
                                                          before=_permission(s))),
    "apply: set topic permission": _apply(lambda s: s.change("rabbitmq.topic_permission", s.service, "update",
                                                             after=_topic(s))),
    "apply: delete topic permission": _apply(lambda s: s.change("rabbitmq.topic_permission", s.service, "delete",
                                                                before={**_topic(s), "exchange": "other"})),
}

# Calls that reach the management API (taking a free lock is AMQP alone).
API_CALLS = sorted(set(CALLS) - {"lock"})
# Calls that reach AMQP (exact counts, the lock), driven into failure on that side too.
AMQP_CALLS = ("count_messages", "lock", "lock held by another apply", "apply: delete vhost planned empty",
              "apply: create policy planned empty")
# Calls that only write: an endpoint answering 200 with a body that is not JSON cannot fail them.
WRITE_ONLY = ("apply: create vhost", "apply: update queue", "apply: delete queue losing data",
              "apply: delete exchange", "apply: create operator policy", "apply: set a user's password",
              "apply: set permission", "apply: delete permission", "apply: set topic permission")


# ------------------------------------------------------------------------------------- the faults


@dataclasses.dataclass
class Endpoint:
    """Where the driver under test is pointed: the fault it has, and for a proxy that relays until the
    driver has connected, what switches it to that fault."""

    fault: str
    port: int
    switch: Callable[[], None] | None = None


def _healthy_overview() -> bytes:
    return http_reply("200 OK", b'{"management_version": "3"}')


@pytest.fixture
def management(request: pytest.FixtureRequest, silent_server: SilentServer) -> Iterator[Endpoint]:
    """A management API endpoint with the fault named by the test's parameter."""
    fault = request.param
    if fault == "none":
        yield Endpoint(fault, _API.port or 15672)
    elif fault == "refused":
        yield Endpoint(fault, closed_port())
    elif fault == "silent":
        yield Endpoint(fault, silent_server.port)
    elif fault in ("hangs up mid-conversation", "goes silent mid-conversation"):
        with FaultProxy((_API.hostname or "127.0.0.1", _API.port or 15672)) as proxy:
            mode: Mode = "hang-up" if fault.startswith("hangs") else "silent"
            yield Endpoint(fault, proxy.port, lambda: setattr(proxy, "mode", mode))
    else:
        reply = {"HTTP 500": http_reply("500 Internal Server Error", b'{"error": "boom", "reason": "boom"}'),
                 "HTML": http_reply("200 OK", b"<html><body>a login page</body></html>", "text/html"),
                 "JSON cut short": http_reply("200 OK", b'[{"name": "q", "messages": 1')}[fault]
        with BadServer(reply, healthy=("/api/overview",), healthy_reply=_healthy_overview()) as server:
            yield Endpoint(fault, server.port)


API_FAULTS = ["none", "refused", "silent", "hangs up mid-conversation", "goes silent mid-conversation", "HTTP 500",
              "HTML", "JSON cut short"]


@pytest.fixture
def amqp(request: pytest.FixtureRequest, silent_server: SilentServer) -> Iterator[Endpoint]:
    """An AMQP endpoint with the fault named by the test's parameter."""
    fault = request.param
    if fault == "refused":
        yield Endpoint(fault, closed_port())
    elif fault == "silent":
        yield Endpoint(fault, silent_server.port)
    else:  # hangs up: accepts every connection and closes it before the handshake ends
        with FaultProxy((_AMQP.hostname or "127.0.0.1", _AMQP.port or 5672), mode="hang-up") as proxy:
            yield Endpoint(fault, proxy.port)


AMQP_FAULTS = ["refused", "silent", "hangs up"]


# ------------------------------------------------------------------------------------ the outcome


def _assert_sentence(failure: BaseException | str, scene: Scene, port: int) -> None:
    text = str(failure)
    assert f"127.0.0.1:{port}" in text and "RabbitMQ" in text, text
    assert scene.password not in text and len(text.splitlines()) == 1, text
    if isinstance(failure, BaseException) and not isinstance(failure, LockedError):
        cause = failure.__cause__
        assert cause is not None and not isinstance(cause, TopologyError), repr(cause)  # --debug shows it


def _run(call: Call, scene: Scene, url: str, amqp_url: str, endpoint: Endpoint) -> tuple[list[Any], float]:
    with RabbitMQDriver(url, amqp_url=amqp_url, **_TIMEOUTS) as driver:
        if endpoint.switch is not None:
            driver.inspect(Selection(frozenset()))  # connected through the proxy, which still relays
            endpoint.switch()
        started = time.monotonic()
        failures = failures_of(lambda: call(driver, scene))
        return failures, time.monotonic() - started


@pytest.mark.parametrize("management", API_FAULTS, indirect=True)
@pytest.mark.parametrize("name", API_CALLS)
def test_a_management_api_fault_leaves_every_call_as_a_topology_error(name: str, scene: Scene,
                                                                      management: Endpoint) -> None:
    fault = management.fault
    failures, took = _run(CALLS[name], scene, scene.url(management.port), scene.amqp(_AMQP.port or 5672),
                          management)
    if fault == "none":  # the call works: what fails below is this call
        assert all(isinstance(f, LockedError) for f in failures) and (bool(failures) == ("held" in name)), failures
        return
    if fault in ("HTML", "JSON cut short") and name in WRITE_ONLY:
        assert not failures, failures  # answered 200: nothing to notice, and nothing escaped
        return
    assert failures, f"{name} did not fail on {fault}"
    for failure in failures:
        _assert_sentence(failure, scene, management.port)
    assert took < _BOUND, took


@pytest.mark.parametrize("amqp", AMQP_FAULTS, indirect=True)
@pytest.mark.parametrize("name", AMQP_CALLS)
def test_an_amqp_fault_leaves_every_call_as_a_topology_error(name: str, scene: Scene, amqp: Endpoint) -> None:
    failures, took = _run(CALLS[name], scene, scene.url(_API.port or 15672), scene.amqp(amqp.port), amqp)
    assert failures, f"{name} did not fail"
    for failure in failures:
        _assert_sentence(failure, scene, amqp.port)
        assert "over AMQP" in str(failure)
    assert took < _BOUND, took


def test_a_lock_whose_connection_breaks_is_released_quietly(scene: Scene) -> None:
    with FaultProxy((_AMQP.hostname or "127.0.0.1", _AMQP.port or 5672)) as proxy:
        driver = RabbitMQDriver(scene.url(_API.port or 15672), amqp_url=scene.amqp(proxy.port), **_TIMEOUTS)
        driver.lock("errors test", 0)
        proxy.mode = "hang-up"
        started = time.monotonic()
        driver.close()  # the lock connection is gone: closing says nothing
        assert time.monotonic() - started < _BOUND
        again = RabbitMQDriver(scene.url(_API.port or 15672), amqp_url=scene.amqp(proxy.port), **_TIMEOUTS)
        with again, pytest.raises(TopologyError) as raised:
            again.lock("errors test", 0)
        _assert_sentence(raised.value, scene, proxy.port)


def test_drivers_connect_lazily_and_close_either_way(scene: Scene, silent_server: SilentServer) -> None:
    started = time.monotonic()
    for port in (closed_port(), silent_server.port):
        RabbitMQDriver(scene.url(port), amqp_url=scene.amqp(port), **_TIMEOUTS).close()  # nothing to reach
    assert not silent_server.accepted and time.monotonic() - started < 1


# ------------------------------------------------------------------------------------- the probe


def _declared(scene: Scene, exchange_type: str = "direct") -> dict[str, Resource]:
    v = scene.vhost
    return {f"rabbitmq/{v}/exchange/e": Resource("rabbitmq.exchange", f"rabbitmq/{v}/exchange/e", "e", v, "rabbit",
                                                 {**_EXCHANGE, "type": exchange_type}),
            f"rabbitmq/{v}/queue/q": Resource("rabbitmq.queue", f"rabbitmq/{v}/queue/q", "q", v, "rabbit", _QUEUE),
            f"rabbitmq/{v}/binding/e->q[k]": Resource("rabbitmq.binding", f"rabbitmq/{v}/binding/e->q[k]", "e->q", v,
                                                      "rabbit", _binding())}


PROBE_FAULTS = ["none", "refused", "silent", "hangs up", "hangs up mid-conversation", "goes silent mid-conversation",
                "refuses a mirror"]


@pytest.mark.parametrize("fault", PROBE_FAULTS)
def test_a_live_probe_fault_is_a_topology_error(fault: str, scene: Scene, silent_server: SilentServer) -> None:
    upstream = (_AMQP.hostname or "127.0.0.1", _AMQP.port or 5672)
    with FaultProxy(upstream, mode="hang-up" if fault == "hangs up" else "relay") as proxy:
        port = {"refused": closed_port(), "silent": silent_server.port}.get(fault, proxy.port)
        resources = _declared(scene, "x-no-such-type" if fault == "refuses a mirror" else "direct")
        started = time.monotonic()

        def probe() -> set[str]:
            with LiveProbe(scene.amqp(port), scene.vhost, resources, **_TIMEOUTS) as live:
                if "mid-conversation" in fault:
                    proxy.mode = "hang-up" if fault.startswith("hangs") else "silent"
                return live.route("e", "k")

        if fault == "none":
            assert probe() == {"q"}
            return
        with pytest.raises(BrokerError) as raised:
            probe()
        _assert_sentence(raised.value, scene, port)
        assert "over AMQP" in str(raised.value) and "for live probes" in str(raised.value)
        assert time.monotonic() - started < _BOUND
