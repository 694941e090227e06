"""Every kind of call the Kafka driver makes, driven into failure against the real broker, gives only
topology's errors: one sentence naming the cluster, never a password, in bounded time.

The failures are real ones, or injected thinly around the real clients: a closed port; a silent
endpoint; a TCP proxy in front of the broker that hangs up or goes silent after its first answer (those
three are tests/faults.py's); and the real clients (librdkafka's AdminClient and Consumer,
kafka-python's per-broker client), wrapped so that their N-th request fails as Kafka fails: its answer
lost to a transport error or a timeout, an authorization refused, a policy violation, a coordinator
still loading (which the driver asks again), a connection dropped. Each call kind is run with the
failure at its first request, then its second, and so on, until it completes before the failure: so
every request it makes is failed once, and the run without failure succeeds."""

from __future__ import annotations

import concurrent.futures
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.brokers.kafka_live import KafkaLive
from tests.conftest import KAFKA_BOOTSTRAP, unique
from tests.faults import FaultProxy, Mode, SilentServer, closed_port, timed_failures
from topology.brokers.base import ChangeResult, Live, Selection
from topology.brokers.kafka.config import acl_address, quota_address, scram_address
from topology.brokers.kafka.driver import KafkaDriver
from topology.core.resource import Resource
from topology.core.secrets import Secret
from topology.engine.plan import AttributeChange, Change

pytestmark = pytest.mark.kafka

SECRET = unique("kafka-password")
CONFIG = {"sasl.username": "topology", "sasl.password": SECRET}  # unused on the plaintext port; never shown
CONNECT_TIMEOUT, READ_TIMEOUT = 2.0, 5.0


# ------------------------------------------------------------------------------- the call kinds


@dataclass(frozen=True)
class CallKind:
    """One kind of driver call: what it needs on the broker (made with the test's own admin client,
    names under `prefix`), and the call itself; it returns the apply results, if it is an apply."""

    name: str
    prepare: Callable[[Any, str], None]
    call: Callable[[KafkaDriver, str], list[ChangeResult] | None]


def _topic(admin: Any, name: str, partitions: int = 1, config: dict[str, str] | None = None) -> None:
    from confluent_kafka.admin import NewTopic

    admin.create_topics([NewTopic(name, partitions, 1, config=config or {})])[name].result()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        topic = admin.list_topics(name, timeout=10).topics.get(name)
        if topic is not None and not topic.error and all(p.leader >= 0 for p in topic.partitions.values()):
            return
        time.sleep(0.05)
    pytest.fail(f"topic {name} has no leader after 30 s")


def _group(admin: Any, name: str, topic: str) -> None:
    from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition

    _topic(admin, topic)
    admin.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(name, [TopicPartition(topic, 0, 0)])])[
        name].result()


def _binding(prefix: str, operation: str = "read") -> dict[str, str]:
    return {"principal": f"User:{prefix}svc", "host": "*", "resource_type": "topic", "resource_name": f"{prefix}t",
            "pattern_type": "literal", "operation": operation, "permission": "allow"}


def _acl(admin: Any, prefix: str) -> None:
    from confluent_kafka.admin import AclBinding, AclOperation, AclPermissionType, ResourcePatternType, ResourceType

    binding = AclBinding(ResourceType.TOPIC, f"{prefix}t", ResourcePatternType.LITERAL, f"User:{prefix}svc", "*",
                         AclOperation.READ, AclPermissionType.ALLOW)
    admin.create_acls([binding])[binding].result()


def _scram(admin: Any, prefix: str) -> None:
    from confluent_kafka.admin import ScramCredentialInfo, ScramMechanism, UserScramCredentialUpsertion

    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 4096)
    user = f"{prefix}alice"
    admin.alter_user_scram_credentials([UserScramCredentialUpsertion(user, info, SECRET.encode())])[user].result()


def _credential(prefix: str, iterations: int = 8192) -> dict[str, Any]:
    return {"user": f"{prefix}alice", "mechanism": "SCRAM-SHA-256", "iterations": iterations}


def _quota(admin: Any, prefix: str) -> None:
    live = KafkaLive()
    try:
        live.quota({"client-id": f"{prefix}app"}, {"producer_byte_rate": 1024})
    finally:
        live.close()


def _quotas(prefix: str, values: dict[str, Any]) -> dict[str, Any]:
    return {"entity": {"client-id": f"{prefix}app"}, "quotas": values}


def _address(kind: str, name: str, attributes: dict[str, Any]) -> str:
    if kind == "kafka.acl":
        return acl_address(attributes)
    if kind == "kafka.scram_credential":
        return scram_address(attributes["user"], attributes["mechanism"])
    if kind == "kafka.quota":
        return quota_address(attributes["entity"])
    return f"{kind.replace('.', '/')}/{name}"


def _with_password(change: Callable[[str], Change]) -> Callable[[KafkaDriver, str], list[ChangeResult]]:
    """Apply one SCRAM change, the file's password (SECRET) among the desired resources."""
    def call(driver: KafkaDriver, prefix: str) -> list[ChangeResult]:
        made = change(prefix)
        desired = Resource(kind=made.kind, address=made.address, name=made.name, scope="", target="events",
                           attributes=dict(made.after or {}), secrets={"password": Secret(SECRET)})
        return driver.apply([made], {made.address: desired})
    return call


def _change(kind: str, name: str, action: str, *, before: dict[str, Any] | None = None,
            after: dict[str, Any] | None = None, changed: tuple[str, ...] = (), needs_empty: bool = False) -> Change:
    address = _address(kind, name, after or before or {})
    attributes = tuple(AttributeChange(name=a, before=(before or {}).get(a), after=(after or {}).get(a))
                       for a in changed)
    return Change(address=address, kind=kind, target="events", name=name, action=action, before=before,
                  after=after, attributes=attributes, needs_empty=needs_empty)


def _apply(change: Callable[[str], Change]) -> Callable[[KafkaDriver, str], list[ChangeResult]]:
    return lambda driver, prefix: driver.apply([change(prefix)], {})


def _inspect(driver: KafkaDriver, prefix: str) -> None:
    selection = Selection(frozenset({f"kafka/topic/{prefix}t", f"kafka/group/{prefix}g"}), prune=True,
                          include=(f"kafka/topic/{prefix}*", f"kafka/group/{prefix}*", f"kafka/acl/User:{prefix}*"))
    live = driver.inspect(selection)
    assert {f"kafka/topic/{prefix}t", f"kafka/group/{prefix}g", acl_address(_binding(prefix))} <= set(live)


def _prepare_inspect(admin: Any, prefix: str) -> None:
    _group(admin, f"{prefix}g", f"{prefix}t")
    _acl(admin, prefix)


def _count(driver: KafkaDriver, prefix: str) -> None:
    live = {"kafka/topic/t": Live("kafka.topic", {}, name=f"{prefix}t"),
            "kafka/group/g": Live("kafka.group", {}, name=f"{prefix}g")}
    assert driver.count_messages(live) == {"kafka/topic/t": 0, "kafka/group/g": 1}


def _lock(driver: KafkaDriver, prefix: str) -> None:
    try:
        driver.lock(f"test {prefix}", 20)
    finally:
        driver.close()


CALLS = [
    CallKind("inspect", _prepare_inspect, _inspect),
    CallKind("count messages", lambda admin, p: _group(admin, f"{p}g", f"{p}t"), _count),
    CallKind("create topic", lambda admin, p: None, _apply(lambda p: _change(
        "kafka.topic", f"{p}t", "create", after={"partitions": 2, "replication_factor": 1,
                                                 "config": {"retention.ms": "3600000"}}))),
    CallKind("delete topic planned empty", lambda admin, p: _topic(admin, f"{p}t"), _apply(lambda p: _change(
        "kafka.topic", f"{p}t", "delete", before={"partitions": 1, "replication_factor": 1, "config": {}},
        needs_empty=True))),
    CallKind("grow a topic and change its config",
             lambda admin, p: _topic(admin, f"{p}t", config={"retention.ms": "3600000"}), _apply(lambda p: _change(
                 "kafka.topic", f"{p}t", "update",
                 before={"partitions": 1, "replication_factor": 1, "config": {"retention.ms": "3600000"}},
                 after={"partitions": 2, "replication_factor": 1, "config": {"retention.ms": "7200000"}},
                 changed=("partitions", "config")))),
    CallKind("reassign a topic", lambda admin, p: _topic(admin, f"{p}t"), _apply(lambda p: _change(
        "kafka.topic", f"{p}t", "update", before={"partitions": 1, "replication_factor": 1, "config": {}},
        after={"partitions": 1, "replication_factor": 1, "config": {}}, changed=("replication_factor",)))),
    CallKind("create group", lambda admin, p: _topic(admin, f"{p}t", partitions=2), _apply(lambda p: _change(
        "kafka.group", f"{p}g", "create", after={"topics": [f"{p}t"], "initial_offset": "earliest"}))),
    CallKind("delete group", lambda admin, p: _group(admin, f"{p}g", f"{p}t"), _apply(lambda p: _change(
        "kafka.group", f"{p}g", "delete", before={"topics": [f"{p}t"]}))),
    CallKind("delete group planned empty", lambda admin, p: None, _apply(lambda p: _change(
        "kafka.group", f"{p}g", "delete", before={"topics": []}, needs_empty=True))),
    CallKind("create ACL", lambda admin, p: None, _apply(lambda p: _change(
        "kafka.acl", f"User:{p}svc/read", "create", after=_binding(p)))),
    CallKind("delete ACL", _acl, _apply(lambda p: _change(
        "kafka.acl", f"User:{p}svc/read", "delete", before=_binding(p)))),
    CallKind("create SCRAM credential", lambda admin, p: None, _with_password(lambda p: _change(
        "kafka.scram_credential", f"{p}alice", "create", after=_credential(p)))),
    CallKind("change SCRAM iterations", _scram, _with_password(lambda p: _change(
        "kafka.scram_credential", f"{p}alice", "update", before=_credential(p, 4096), after=_credential(p),
        changed=("iterations",)))),
    CallKind("delete SCRAM credential", _scram, _apply(lambda p: _change(
        "kafka.scram_credential", f"{p}alice", "delete", before=_credential(p, 4096)))),
    CallKind("set and remove quotas", _quota, _apply(lambda p: _change(
        "kafka.quota", f"client-id={p}app", "update", before=_quotas(p, {"producer_byte_rate": 1024}),
        after=_quotas(p, {"request_percentage": 12.5}), changed=("quotas",)))),
    CallKind("delete quotas", _quota, _apply(lambda p: _change(
        "kafka.quota", f"client-id={p}app", "delete", before=_quotas(p, {"producer_byte_rate": 1024})))),
    CallKind("lock", lambda admin, p: None, _lock),
]


# ------------------------------------------------------------------------------------- checking


def _check(error: str, bootstrap: str) -> None:
    assert bootstrap in error, f"the sentence does not name {bootstrap}: {error}"
    assert SECRET not in error, error
    assert "Traceback" not in error and "\n" not in error, error


def _errors(kind: CallKind, driver: KafkaDriver, prefix: str, seconds: float) -> list[str]:
    """Run the call; the sentences it failed with (none: it succeeded). Anything but a TopologyError
    fails the test, and so does a sentence not naming the cluster, or a call that took over `seconds`."""
    errors = timed_failures(lambda: kind.call(driver, prefix), close=driver.close, seconds=seconds, name=kind.name)
    for error in errors:
        _check(error, driver.bootstrap)
    return errors


@pytest.fixture
def principals(kafka_admin: Any) -> Iterator[list[str]]:
    """Principals whose ACLs are deleted after the test."""
    from confluent_kafka.admin import (
        AclBindingFilter,
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
        ResourceType,
    )

    names: list[str] = []
    yield names
    queries = [AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, name, None, AclOperation.ANY,
                                AclPermissionType.ANY) for name in names]
    if queries:
        for future in kafka_admin.delete_acls(queries).values():
            future.result()


# ------------------------------------------------------------------------- real failures, no wrapping


@pytest.mark.parametrize("kind", CALLS, ids=[c.name for c in CALLS])
def test_a_closed_port_is_one_sentence_for_every_call(kind: CallKind) -> None:
    driver = KafkaDriver(f"127.0.0.1:{closed_port()}", config=CONFIG, connect_timeout=CONNECT_TIMEOUT,
                         read_timeout=READ_TIMEOUT)
    [error] = _errors(kind, driver, "closed.", seconds=10)
    assert "is not reachable" in error and "the connection was refused" in error


@pytest.mark.parametrize("kind", [c for c in CALLS if c.name in ("inspect", "create topic", "lock")],
                         ids=lambda c: c.name)
def test_a_silent_endpoint_is_one_sentence_in_bounded_time(kind: CallKind, silent_server: SilentServer) -> None:
    driver = KafkaDriver(f"127.0.0.1:{silent_server.port}", config=CONFIG, connect_timeout=1, read_timeout=2)
    [error] = _errors(kind, driver, "silent.", seconds=10)
    assert "did not answer as Kafka within 1s" in error
    assert silent_server.accepted


@pytest.mark.parametrize("then", ["hang-up", "silent"])
@pytest.mark.parametrize("kind", [c for c in CALLS if c.name in ("inspect", "count messages", "create topic",
                                                                 "lock")], ids=lambda c: c.name)
def test_a_broker_that_stops_after_its_first_answer_is_one_sentence(kind: CallKind, then: Mode,
                                                                   kafka_prefix: str) -> None:
    host, port = KAFKA_BOOTSTRAP.rsplit(":", 1)
    with FaultProxy((host, int(port)), after_answers=1, then=then) as proxy:
        driver = KafkaDriver(f"127.0.0.1:{proxy.port}", config=CONFIG, connect_timeout=1, read_timeout=2)
        [error] = _errors(kind, driver, kafka_prefix, seconds=15)
    assert proxy.answers >= 1  # the conversation had begun
    assert error.startswith(f"Kafka at 127.0.0.1:{proxy.port}")


# -------------------------------------------------------------------- the N-th request fails, in turn


@dataclass(frozen=True)
class Failure:
    """A way a request fails: as librdkafka says it (a KafkaError code), and as kafka-python does."""

    name: str
    code: str
    kafka_python: str


FAILURES = [Failure("transport", "_TRANSPORT", "KafkaConnectionError"),
            Failure("timed out", "_TIMED_OUT", "KafkaTimeoutError"),
            Failure("authorization", "TOPIC_AUTHORIZATION_FAILED", "TopicAuthorizationFailedError"),
            Failure("policy", "POLICY_VIOLATION", "PolicyViolationError"),
            Failure("coordinator loading", "COORDINATOR_LOAD_IN_PROGRESS", "NodeNotReadyError"),
            Failure("all brokers down", "_ALL_BROKERS_DOWN", "KafkaConnectionError")]


class Injector:
    """Counts the requests the driver's clients make (both libraries, all threads) and fails the
    `at`-th one `how`."""

    def __init__(self, at: int, how: Failure) -> None:
        self.at, self.how = at, how
        self.count = 0
        self.fired = False
        self._lock = threading.Lock()

    def _now(self) -> bool:
        with self._lock:
            self.count += 1
            self.fired |= self.count == self.at
            return self.count == self.at

    def librdkafka(self) -> Exception | None:
        from confluent_kafka import KafkaError, KafkaException

        return KafkaException(KafkaError(getattr(KafkaError, self.how.code))) if self._now() else None

    def kafka_python(self) -> Exception | None:
        import kafka.errors

        return getattr(kafka.errors, self.how.kafka_python)("injected") if self._now() else None


def _lost(answer: Any, error: Exception) -> Any:
    """`answer` (a future, futures by key, or metadata) as it is when the broker's answer is lost."""
    def failed() -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        future.set_exception(error)
        return future

    if isinstance(answer, concurrent.futures.Future):
        return failed()
    if isinstance(answer, dict):
        return {key: failed() for key in answer}
    raise error


def _request(method: Callable[..., Any], fail: Callable[[], Exception | None], *, lose: bool) -> Callable[..., Any]:
    """`method`, a request that goes out as always, except when `fail` says it fails: then its answer is
    lost (`lose`: it was sent; librdkafka's way) or it raises at once (kafka-python's way)."""
    def request(*args: Any, **kwargs: Any) -> Any:
        error = fail()
        if error is not None and not lose:
            raise error
        answer = method(*args, **kwargs)
        return answer if error is None else _lost(answer, error)
    return request


def _late_bound(instance: weakref.ref[Any], name: str) -> Callable[..., Any]:
    """The method `name` of the instance, looked up at each call through a weak reference."""
    return lambda *args, **kwargs: getattr(type(instance()), name)(instance(), *args, **kwargs)


class _Requests:
    """A real client whose methods named here are requests (see `_request`); `inner` names attributes
    whose own methods are (kafka-python's connection manager, whose `run` is the network)."""

    def __init__(self, real: Any, fail: Callable[[], Exception | None], named: tuple[str, ...], *,
                 inner: dict[str, tuple[str, ...]] | None = None, lose: bool = True) -> None:
        self._real, self._fail, self._named, self._inner, self._lose = real, fail, named, inner or {}, lose

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._real, name)
        if name in self._inner:
            return _Requests(attribute, self._fail, self._inner[name], lose=self._lose)
        return _request(attribute, self._fail, lose=self._lose) if name in self._named else attribute


@pytest.fixture
def injected(kafka_admin: Any, monkeypatch: pytest.MonkeyPatch) -> Callable[[Injector | None], None]:
    """Makes the clients the driver creates from now on count their requests into an injector."""
    import confluent_kafka
    import confluent_kafka.admin
    import kafka

    current: list[Injector | None] = [None]
    real_admin, real_consumer, real_nodes = (confluent_kafka.admin.AdminClient, confluent_kafka.Consumer,
                                             kafka.KafkaAdminClient)

    def fail_librdkafka() -> Exception | None:
        return current[0].librdkafka() if current[0] is not None else None

    def fail_kafka_python() -> Exception | None:
        return current[0].kafka_python() if current[0] is not None else None

    make_admin = real_admin.__init__

    def admin(self: Any, settings: dict[str, Any]) -> None:
        """The real AdminClient, made as always; one the driver makes (with its logger) has every public
        method but poll made a request, on the instance (the library refers to its class by name)."""
        make_admin(self, settings)
        if "logger" in settings:
            me = weakref.ref(self)  # a bound method kept on the instance would make a cycle (see conftest)
            for name in dir(real_admin):
                if not name.startswith("_") and name != "poll" and callable(getattr(self, name)):
                    setattr(self, name, _request(_late_bound(me, name), fail_librdkafka, lose=True))

    def consumer(settings: dict[str, Any]) -> Any:
        return _Requests(real_consumer(settings), fail_librdkafka, ("subscribe", "close"))

    def nodes(**settings: Any) -> Any:
        error = fail_kafka_python()  # connecting to the brokers is a request too
        if error is not None:
            raise error
        return _Requests(real_nodes(**settings), fail_kafka_python, ("alter_partition_reassignments",
                                                                     "list_partition_reassignments"),
                         inner={"_manager": ("run",)}, lose=False)

    monkeypatch.setattr(real_admin, "__init__", admin)
    monkeypatch.setattr(confluent_kafka, "Consumer", consumer)
    monkeypatch.setattr(kafka, "KafkaAdminClient", nodes)
    return lambda injector: current.__setitem__(0, injector)


@pytest.fixture
def leftovers(kafka_prefix: str) -> Iterator[None]:
    """The SCRAM credentials and quotas made under the test's prefix, deleted after it."""
    yield
    live = KafkaLive()
    live.clean(kafka_prefix)
    live.close()


@pytest.mark.parametrize("kind", CALLS, ids=[c.name for c in CALLS])
def test_every_request_of_every_call_failed_in_turn_gives_only_topology_errors(
        kind: CallKind, kafka_admin: Any, kafka_prefix: str, principals: list[str],
        injected: Callable[[Injector | None], None], leftovers: None) -> None:
    failures: dict[str, str] = {}  # by the request failed and how: the first sentence it gave
    for at in range(1, 60):
        prefix = f"{kafka_prefix}{at}."
        principals.append(f"User:{prefix}svc")
        kind.prepare(kafka_admin, prefix)
        how = FAILURES[(at + CALLS.index(kind)) % len(FAILURES)]
        injector = Injector(at, how)
        injected(injector)
        driver = KafkaDriver(KAFKA_BOOTSTRAP, config=CONFIG, connect_timeout=CONNECT_TIMEOUT,
                             read_timeout=READ_TIMEOUT)
        errors = _errors(kind, driver, prefix, seconds=30)
        injected(None)
        if not injector.fired:  # the call completed before its `at`-th request: every request was failed once
            assert not errors, f"{kind.name} failed without a fault: {errors}"
            break
        failures[f"request {at}, {how.name}"] = errors[0] if errors else "(no error: the call got over it)"
    else:
        pytest.fail(f"{kind.name} made more than 60 requests")
    assert any(not e.startswith("(no error") for e in failures.values()), failures
