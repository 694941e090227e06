"""Every call of the Redis driver, driven into failure on the real Redis with thin fault injection in
front of it, leaves as topology's own error: one sentence naming host:port, without the password,
with redis-py's exception chained, in bounded time.

Each call is first shown to work against the real Redis (the `none` fault), so a failure under a
fault is that call's failure. The driver logs in as a user of its own whose password nothing else
uses, on a database of its own (12), so its lock never blocks another test's apply."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import REDIS_URL, unique
from tests.faults import BadServer, FaultProxy, Mode, SilentServer, closed_port, failures_of
from topology.brokers.base import ChangeResult, Live, Selection
from topology.brokers.redis.driver import LOCK_KEY, RedisDriver
from topology.core.secrets import parse_url
from topology.engine.plan import Change
from topology.errors import TopologyError

pytestmark = pytest.mark.redis

_PARTS = urlsplit(REDIS_URL)
_UPSTREAM = (_PARTS.hostname or "127.0.0.1", _PARTS.port or 6379)
_DB = 12
_TIMEOUTS = {"connect_timeout": 0.5, "read_timeout": 1.0}
_BOUND = 15.0  # seconds any one failing call may take


@dataclasses.dataclass
class Scene:
    """A key prefix on database 12 with a stream `orders` (group `billing`) and the driver's user."""

    client: Any
    prefix: str
    user: str
    password: str

    def url(self, port: int) -> str:
        return f"redis://{self.user}:{self.password}@127.0.0.1:{port}/{_DB}"

    def stream(self, name: str = "orders") -> str:
        return f"{self.prefix}{name}"

    def change(self, kind: str, name: str, action: str, scope: str = "", **fields: Any) -> Change:
        address = f"redis/stream/{name}" if kind == "redis.stream" else f"redis/group/{scope}/{name}"
        return Change(address=address, kind=kind, target="cache", name=name, scope=scope, action=action, **fields)


@pytest.fixture
def scene() -> Iterator[Scene]:
    import redis

    client = redis.Redis(host=_UPSTREAM[0], port=_UPSTREAM[1], db=_DB, decode_responses=True, socket_timeout=5)
    made = Scene(client, unique("errors") + ":", unique("ops"), unique("pw"))
    client.execute_command("ACL", "SETUSER", made.user, "on", ">" + made.password, "~*", "&*", "+@all")
    try:
        client.xgroup_create(made.stream(), "billing", id="$", mkstream=True)
        yield made
    finally:
        client.execute_command("ACL", "DELUSER", made.user)
        keys = list(client.scan_iter(match=f"{made.prefix}*", count=1000))
        if keys:
            client.delete(*keys)
        if made.prefix in (client.get(LOCK_KEY) or ""):
            client.delete(LOCK_KEY)
        client.close()


Call = Callable[[RedisDriver, Scene], Any]


def _apply(*changes: Callable[[Scene], Change]) -> Call:
    def call(driver: RedisDriver, scene: Scene) -> list[ChangeResult]:
        return driver.apply([make(scene) for make in changes], {})
    return call


def _inspect(driver: RedisDriver, scene: Scene) -> Any:
    stream = scene.stream()
    return driver.inspect(Selection(frozenset({f"redis/stream/{stream}", f"redis/group/{stream}/billing"}),
                                    prune=True, include=(f"redis/stream/{scene.prefix}*",),
                                    measured=frozenset({f"redis/stream/{stream}"})))


def _count(driver: RedisDriver, scene: Scene) -> Any:
    return driver.count_messages({f"redis/stream/{scene.stream()}": Live("redis.stream", {}, name=scene.stream())})


def _lock(driver: RedisDriver, scene: Scene) -> Any:
    driver.lock(f"{scene.prefix} errors test", 0)


def _apply_holding_the_lock(driver: RedisDriver, scene: Scene) -> Any:
    _lock(driver, scene)  # taken already when connected before the fault: then the wave's check fails
    return _apply(lambda s: s.change("redis.stream", s.stream("more"), "create", after={}))(driver, scene)


CALLS: dict[str, Call] = {
    "inspect": _inspect,
    "count_messages": _count,
    "lock": _lock,
    "apply holding the lock": _apply_holding_the_lock,
    "apply: create stream": _apply(lambda s: s.change("redis.stream", s.stream("new"), "create", after={})),
    "apply: trim stream": _apply(lambda s: s.change("redis.stream", s.stream(), "update", before={},
                                                    after={"max_length": 10})),
    "apply: delete stream planned empty": _apply(lambda s: s.change("redis.stream", s.stream(), "delete",
                                                                    before={}, needs_empty=True)),
    "apply: delete stream losing data": _apply(lambda s: s.change("redis.stream", s.stream(), "delete", before={},
                                                                  loses_data=True)),
    "apply: create group": _apply(lambda s: s.change("redis.group", "audit", "create", s.stream(),
                                                     after={"stream": s.stream(), "start": "0"})),
    "apply: replace group": _apply(lambda s: s.change("redis.group", "billing", "replace", s.stream(),
                                                      before={"stream": s.stream()},
                                                      after={"stream": s.stream(), "start": "0"})),
    "apply: delete group planned empty": _apply(lambda s: s.change("redis.group", "billing", "delete", s.stream(),
                                                                   before={"stream": s.stream()},
                                                                   needs_empty=True)),
}


@dataclasses.dataclass
class Endpoint:
    fault: str
    port: int
    switch: Callable[[], None] | None = None  # a proxy that relays until the driver has connected


@pytest.fixture
def endpoint(request: pytest.FixtureRequest, silent_server: SilentServer) -> Iterator[Endpoint]:
    fault = request.param
    if fault == "none":
        yield Endpoint(fault, _UPSTREAM[1])
    elif fault == "refused":
        yield Endpoint(fault, closed_port())
    elif fault == "silent":
        yield Endpoint(fault, silent_server.port)
    elif fault == "not Redis":
        with BadServer(b"HTTP/1.1 400 Bad Request\r\n\r\n", http=False) as server:
            yield Endpoint(fault, server.port)
    elif fault == "hangs up":
        with FaultProxy(_UPSTREAM, mode="hang-up") as proxy:
            yield Endpoint(fault, proxy.port)
    else:
        with FaultProxy(_UPSTREAM) as proxy:
            mode: Mode = "hang-up" if fault.startswith("hangs") else "silent"
            yield Endpoint(fault, proxy.port, lambda: setattr(proxy, "mode", mode))


FAULTS = ["none", "refused", "silent", "not Redis", "hangs up", "hangs up mid-conversation",
          "goes silent mid-conversation"]


@pytest.mark.parametrize("endpoint", FAULTS, indirect=True)
@pytest.mark.parametrize("name", sorted(CALLS))
def test_every_call_fails_as_a_topology_error(name: str, scene: Scene, endpoint: Endpoint) -> None:
    with RedisDriver(parse_url(scene.url(endpoint.port), what="url"), **_TIMEOUTS) as driver:
        if endpoint.switch is not None:
            if name == "apply holding the lock":
                _lock(driver, scene)
            driver.inspect(Selection(frozenset()))  # connected through the proxy, which still relays
            endpoint.switch()
        started = time.monotonic()
        failures = failures_of(lambda: CALLS[name](driver, scene))
        took = time.monotonic() - started
    if endpoint.fault == "none":
        assert failures == []  # the call works: what fails below is this call
        return
    assert failures, f"{name} did not fail"
    for failure in failures:
        text = str(failure)
        assert f"Redis at 127.0.0.1:{endpoint.port}" in text and len(text.splitlines()) == 1, text
        assert scene.password not in text, text
        if isinstance(failure, BaseException):
            assert failure.__cause__ is not None and not isinstance(failure.__cause__, TopologyError)
    assert took < _BOUND, took


def test_drivers_connect_lazily_and_close_either_way(silent_server: SilentServer) -> None:
    started = time.monotonic()
    for port in (closed_port(), silent_server.port):
        RedisDriver(parse_url(f"redis://:secret@127.0.0.1:{port}/0", what="url"), **_TIMEOUTS).close()
    assert not silent_server.accepted and time.monotonic() - started < 1
