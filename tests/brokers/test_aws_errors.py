"""Every kind of call the SQS/SNS driver makes, driven into failure on moto's server, gives only
topology's errors: one sentence naming the endpoint, never the secret key, in bounded time.

The failures are real ones, or injected thinly around the real clients: a closed port; a silent
endpoint; a TCP proxy in front of moto that hangs up or goes silent from the N-th request on (those
three are tests/faults.py's); and the N-th request answered with an error AWS gives (access denied,
throttling, bad credentials, an internal error) or failed as botocore fails (no credentials, a lost
answer). Each call kind is run with the failure at its first request, then its second, and so on, until
it completes before the failure: so every request it makes is failed once, and the run without failure
succeeds."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, ReadTimeoutError

from tests.aws_clients import AwsDrivers, Faulty, aws_driver_fixture  # noqa: F401 - the aws_driver fixture
from tests.conftest import AWS_ENDPOINT_URL, unique
from tests.faults import FaultProxy, Mode, SilentServer, closed_port, timed_failures
from topology.brokers.aws.driver import LOCK_QUEUE, AwsDriver
from topology.brokers.aws.probe import SnsProbe
from topology.brokers.base import ChangeResult, Selection
from topology.engine.plan import AttributeChange, Change
from topology.errors import BrokerError, BrokerUnavailable

pytestmark = pytest.mark.aws

SECRET = unique("aws-secret-key")
TIMEOUTS: dict[str, Any] = {"connect_timeout": 2.0, "read_timeout": 2.0}


# ------------------------------------------------------------------------------- the call kinds


@dataclass(frozen=True)
class CallKind:
    """One kind of driver call: what it needs on the broker (made with the test's own clients), and the
    call itself; it returns the apply results, if it is an apply."""

    name: str
    prepare: Callable[[Any, Any, str], Any]
    call: Callable[[AwsDriver, Any], list[ChangeResult] | None]


def _queue(sqs: Any, name: str, **attributes: str) -> str:
    url: str = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    return url


def _topic(sns: Any, name: str) -> str:
    arn: str = sns.create_topic(Name=name)["TopicArn"]
    return arn


def _subscribed(sqs: Any, sns: Any, prefix: str) -> dict[str, Any]:
    url = _queue(sqs, f"{prefix}-q")
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    topic_arn = _topic(sns, f"{prefix}-t")
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn,
                  Attributes={"FilterPolicy": json.dumps({"type": ["paid"]})})
    return {"topic": f"{prefix}-t", "queue": f"{prefix}-q", "RawMessageDelivery": False,
            "FilterPolicy": {"type": ["paid"]}, "FilterPolicyScope": "MessageAttributes"}


def _change(kind: str, name: str, action: str, *, before: dict[str, Any] | None = None,
            after: dict[str, Any] | None = None, changed: tuple[str, ...] = (), needs_empty: bool = False) -> Change:
    prefix = {"sqs.queue": "sqs/queue", "sns.topic": "sns/topic", "sns.subscription": "sns/subscription"}[kind]
    attributes = tuple(AttributeChange(name=a, before=(before or {}).get(a), after=(after or {}).get(a))
                       for a in changed)
    return Change(address=f"{prefix}/{name}", kind=kind, target="aws", name=name, action=action, before=before,
                  after=after, attributes=attributes, needs_empty=needs_empty)


def _apply(change: Callable[[str], Change]) -> Callable[[AwsDriver, Any], list[ChangeResult]]:
    return lambda driver, prefix: driver.apply([change(prefix)], {})


def _inspect(driver: AwsDriver, prefix: str) -> None:
    selection = Selection(frozenset(), prune=True, include=(f"sqs/queue/{prefix}-*", f"sns/topic/{prefix}-*",
                                                            f"sns/subscription/{prefix}-*"))
    live = driver.inspect(selection)
    assert {f"sqs/queue/{prefix}-q", f"sns/topic/{prefix}-t", f"sns/subscription/{prefix}-t->{prefix}-q"} <= set(live)
    driver.count_messages(live)


def _lock(driver: AwsDriver, prefix: str) -> None:
    try:
        driver.lock(f"test {prefix}", 0)
    finally:
        driver.close()


def _probe(driver: AwsDriver, prefix: str) -> None:
    subscriptions = [{"queue": f"{prefix}-q", "FilterPolicy": {"type": ["paid"]}}]
    with SnsProbe(driver.sqs, driver.sns, f"{prefix}-t", subscriptions, wait_seconds=0) as probe:
        probe.route({"type": "paid"})


SUBSCRIPTION = "{p}-t->{p}-q"
CALLS = [
    CallKind("inspect", lambda sqs, sns, p: _subscribed(sqs, sns, p), lambda driver, p: _inspect(driver, p)),
    CallKind("create queue", lambda sqs, sns, p: _queue(sqs, f"{p}-dlq"), _apply(lambda p: _change(
        "sqs.queue", f"{p}-q", "create", after={"FifoQueue": False, "VisibilityTimeout": 40, "tags": {"team": "a"},
                                                "RedrivePolicy": {"deadLetterQueue": f"{p}-dlq",
                                                                  "maxReceiveCount": 3}}))),
    CallKind("update queue", lambda sqs, sns, p: _queue(sqs, f"{p}-q", VisibilityTimeout="30"), _apply(
        lambda p: _change("sqs.queue", f"{p}-q", "update", before={"FifoQueue": False, "VisibilityTimeout": 30},
                          after={"FifoQueue": False, "VisibilityTimeout": 60, "tags": {"team": "b"},
                                 "allow_sns_topics": [f"{p}-t"]},
                          changed=("VisibilityTimeout", "tags", "allow_sns_topics")))),
    CallKind("delete queue planned empty", lambda sqs, sns, p: _queue(sqs, f"{p}-q"), _apply(lambda p: _change(
        "sqs.queue", f"{p}-q", "delete", before={"FifoQueue": False}, needs_empty=True))),
    CallKind("create topic", lambda sqs, sns, p: None, _apply(lambda p: _change(
        "sns.topic", f"{p}-t", "create", after={"FifoTopic": False, "tags": {"team": "a"}}))),
    CallKind("update topic", lambda sqs, sns, p: _topic(sns, f"{p}-t"), _apply(lambda p: _change(
        "sns.topic", f"{p}-t", "update", before={"FifoTopic": False},
        after={"FifoTopic": False, "DisplayName": "Orders", "tags": {"team": "b"}}, changed=("DisplayName", "tags")))),
    CallKind("delete topic", lambda sqs, sns, p: _topic(sns, f"{p}-t"), _apply(lambda p: _change(
        "sns.topic", f"{p}-t", "delete", before={"FifoTopic": False}))),
    CallKind("create subscription", lambda sqs, sns, p: (_queue(sqs, f"{p}-q"), _topic(sns, f"{p}-t")),
             _apply(lambda p: _change("sns.subscription", SUBSCRIPTION.format(p=p), "create", after={
                 "topic": f"{p}-t", "queue": f"{p}-q", "RawMessageDelivery": False,
                 "FilterPolicy": {"type": ["paid"]}, "FilterPolicyScope": "MessageAttributes"}))),
    CallKind("update subscription", lambda sqs, sns, p: _subscribed(sqs, sns, p), _apply(lambda p: _change(
        "sns.subscription", SUBSCRIPTION.format(p=p), "update",
        before={"topic": f"{p}-t", "queue": f"{p}-q", "RawMessageDelivery": False,
                "FilterPolicy": {"type": ["paid"]}, "FilterPolicyScope": "MessageAttributes"},
        after={"topic": f"{p}-t", "queue": f"{p}-q", "RawMessageDelivery": True,
               "FilterPolicy": {"type": ["refunded"]}, "FilterPolicyScope": "MessageAttributes"},
        changed=("FilterPolicy", "RawMessageDelivery")))),
    CallKind("delete subscription", lambda sqs, sns, p: _subscribed(sqs, sns, p), _apply(lambda p: _change(
        "sns.subscription", SUBSCRIPTION.format(p=p), "delete",
        before={"topic": f"{p}-t", "queue": f"{p}-q", "RawMessageDelivery": False}))),
    CallKind("lock", lambda sqs, sns, p: None, lambda driver, p: _lock(driver, p)),
    CallKind("SNS probe", lambda sqs, sns, p: None, lambda driver, p: _probe(driver, p)),
]


# ------------------------------------------------------------------------------------- checking


def _check(error: str, where: str) -> None:
    assert where in error, f"the sentence does not name {where}: {error}"
    assert SECRET not in error, error
    assert "Traceback" not in error and "\n" not in error, error


def _errors(kind: CallKind, driver: AwsDriver, prefix: str, where: str, seconds: float) -> list[str]:
    """Run the call; the sentences it failed with (none: it succeeded). Anything but a TopologyError
    fails the test, and so does a sentence not naming `where`, or a call that took over `seconds`."""
    errors = timed_failures(lambda: kind.call(driver, prefix), close=driver.close, seconds=seconds, name=kind.name)
    for error in errors:
        _check(error, where)
    return errors


@pytest.fixture
def aws(aws_clients: tuple[Any, Any], aws_driver: AwsDrivers, monkeypatch: pytest.MonkeyPatch) -> AwsDrivers:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)  # moto takes any key; no sentence may show it
    return aws_driver


def _forget_the_lock(sqs: Any) -> None:
    """A failed lock may leave its token in flight; the next run starts from no lock queue at all."""
    for url in sqs.list_queues(QueueNamePrefix=LOCK_QUEUE).get("QueueUrls", []):
        sqs.delete_queue(QueueUrl=url)


# ----------------------------------------------------------------------------------- the tests


@pytest.mark.parametrize("kind", CALLS, ids=[c.name for c in CALLS])
def test_a_closed_port_is_one_sentence_for_every_call(kind: CallKind, aws: AwsDrivers) -> None:
    endpoint = f"http://127.0.0.1:{closed_port()}"
    driver = aws(endpoint_url=endpoint, **TIMEOUTS)
    [error] = _errors(kind, driver, unique("closed"), endpoint, seconds=10)
    assert "is not reachable" in error


@pytest.mark.parametrize("kind", [c for c in CALLS if c.name in ("inspect", "create queue", "lock", "SNS probe")],
                         ids=lambda c: c.name)
def test_a_silent_endpoint_is_one_sentence_in_bounded_time(kind: CallKind, aws: AwsDrivers,
                                                           silent_server: SilentServer) -> None:
    endpoint = f"http://127.0.0.1:{silent_server.port}"
    driver = aws(endpoint_url=endpoint, connect_timeout=1, read_timeout=1)
    [error] = _errors(kind, driver, unique("silent"), endpoint, seconds=10)
    assert "accepted the connection but did not answer" in error


class _Injector:
    """Counts the driver's requests (all services, all threads) and makes the `at`-th one fail `how`."""

    def __init__(self, at: int, how: Callable[[str], None]) -> None:
        self.at, self.how = at, how
        self.count = 0
        self.fired = False
        self._lock = threading.Lock()

    def before(self, operation: str) -> None:
        with self._lock:
            self.count += 1
            if self.count != self.at:
                return
            self.fired = True
        self.how(operation)


def _answer(code: str) -> Callable[[str], None]:
    def fail(operation: str) -> None:
        raise ClientError({"Error": {"Code": code, "Message": f"{code} (injected)"}}, operation)
    return fail


def _raise(error: Exception) -> Callable[[str], None]:
    def fail(operation: str) -> None:
        raise error
    return fail


def _proxy(proxy: FaultProxy, mode: Mode) -> Callable[[str], None]:
    def fail(operation: str) -> None:
        proxy.mode = mode  # this request and every later one meet a broker that hangs up or is silent
    return fail


def _failures(proxy: FaultProxy) -> list[tuple[str, Callable[[str], None]]]:
    return [("InternalError", _answer("InternalError")), ("hang-up", _proxy(proxy, "hang-up")),
            ("AccessDenied", _answer("AccessDenied")), ("Throttling", _answer("Throttling")),
            ("InvalidClientTokenId", _answer("InvalidClientTokenId")), ("silent", _proxy(proxy, "silent")),
            ("NoCredentials", _raise(NoCredentialsError())),
            ("lost answer", _raise(ReadTimeoutError(endpoint_url=AWS_ENDPOINT_URL))),
            ("EndpointConnectionError", _raise(EndpointConnectionError(endpoint_url=AWS_ENDPOINT_URL)))]


@pytest.mark.parametrize("kind", CALLS, ids=[c.name for c in CALLS])
def test_every_request_of_every_call_failed_in_turn_gives_only_topology_errors(
        kind: CallKind, aws: AwsDrivers, aws_clients: tuple[Any, Any]) -> None:
    sqs, sns = aws_clients
    moto = urlsplit(AWS_ENDPOINT_URL)
    failures: dict[str, str] = {}  # by the request failed and how: the first sentence it gave
    for at in range(1, 40):
        prefix = unique("fail")
        kind.prepare(sqs, sns, prefix)
        with FaultProxy((moto.hostname or "127.0.0.1", moto.port or 80)) as proxy:
            endpoint = f"http://127.0.0.1:{proxy.port}"
            ways = _failures(proxy)  # in turn, from a different one for each call kind
            name, how = ways[(at + CALLS.index(kind)) % len(ways)]
            injector = _Injector(at, how)
            faulty = Faulty(before=injector.before)
            driver = aws(sqs=faulty, sns=faulty, sts=faulty, endpoint_url=endpoint, **TIMEOUTS)
            errors = _errors(kind, driver, prefix, endpoint, seconds=25)
        if kind.name == "lock":
            _forget_the_lock(sqs)
        if not injector.fired:  # the call completed before its `at`-th request: every request was failed once
            assert not errors, f"{kind.name} failed without a fault: {errors}"
            break
        failures[f"request {at}, {name}"] = errors[0] if errors else "(no error: the call got over it)"
    else:
        pytest.fail(f"{kind.name} made more than 40 requests")
    assert any(not e.startswith("(no error") for e in failures.values()), failures


def test_the_probe_removes_what_it_made_when_it_fails(aws: AwsDrivers, aws_clients: tuple[Any, Any]) -> None:
    sqs, _sns = aws_clients
    prefix = unique("probe")
    refusals = [0]

    def subscribe(real: Any, **kwargs: Any) -> Any:
        refusals[0] += 1
        raise ClientError({"Error": {"Code": "InvalidParameter", "Message": "no"}}, "Subscribe")

    driver = aws(sns=Faulty(subscribe=subscribe))
    with pytest.raises(BrokerError, match=r"SNS at .* refused sns:Subscribe: InvalidParameter"):
        SnsProbe(driver.sqs, driver.sns, f"{prefix}-t", [{"queue": "q", "FilterPolicy": {"type": ["paid"]}}])
    assert refusals == [1]
    assert not sqs.list_queues(QueueNamePrefix="topology-probe-").get("QueueUrls")


def test_the_probe_on_clients_of_its_own_gives_topology_errors(aws_clients: tuple[Any, Any]) -> None:
    import boto3

    endpoint = f"http://127.0.0.1:{closed_port()}"
    settings = {"endpoint_url": endpoint, "region_name": "us-east-1", "aws_access_key_id": "testing",
                "aws_secret_access_key": SECRET}
    with pytest.raises(BrokerUnavailable, match=rf"SNS at {endpoint} is not reachable"):
        SnsProbe(boto3.client("sqs", **settings), boto3.client("sns", **settings), "t", [])
