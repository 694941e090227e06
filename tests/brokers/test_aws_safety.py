"""The SQS/SNS driver keeps its promises, on moto's server, through the command line where that is the
user's path: a queue planned empty is re-checked at the moment it is deleted or its retention
shortened; a dead-letter cycle is refused by validate; a subscription never exists without its
filter policy; two applies never run at once, and a dead one's lock frees itself; a silent or
wrong endpoint and partial credentials give one sentence in bounded time.

Where moto accepts what AWS refuses, a thin wrapper around the real clients answers as AWS would."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from tests.aws_clients import AwsDrivers, Faulty, aws_driver_fixture  # noqa: F401 - the aws_driver fixture
from tests.cli import topology
from tests.conftest import AWS_ENDPOINT_URL, unique
from tests.faults import SilentServer
from topology.brokers.aws.driver import LOCK_QUEUE
from topology.brokers.base import Selection
from topology.engine.plan import AttributeChange, Change
from topology.errors import LockedError

pytestmark = pytest.mark.aws

TARGET = f'  aws: {{kind: aws, region: us-east-1, endpoint_url: "{AWS_ENDPOINT_URL}"}}\n'


def _counts(sqs: Any, name: str) -> dict[str, int]:
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    raw = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return {k: int(v) for k, v in raw.items() if k.startswith("ApproximateNumberOfMessages")}


def _send(sqs: Any, name: str, count: int, **options: Any) -> None:
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    for i in range(count):
        sqs.send_message(QueueUrl=url, MessageBody=f"message {i}", **options)


def _one_sentence(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "Traceback" not in stderr, stderr
    return lines[0]


def _within(seconds: float, condition: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


# ------------------------------------------------------------------------- queues planned empty


def _queues(prefix: str, *, emails: bool = True, retention: str | None = None, prune: bool = False) -> str:
    manage = f"manage: {{prune: true, include: ['sqs/queue/{prefix}-*']}}\n" if prune else ""
    kept = f"    {prefix}-billing: {{{f'message_retention: {retention}' if retention else ''}}}\n"
    return (f"version: 1\ntargets:\n{TARGET}{manage}sqs:\n  target: aws\n  queues:\n{kept}"
            + (f"    {prefix}-emails: {{}}\n" if emails else ""))


def test_saved_plan_made_while_empty_does_not_delete_a_queue_that_filled(
        tmp_path: Path, aws_clients: tuple[Any, Any]) -> None:
    sqs, _sns = aws_clients
    prefix = unique("saved")
    path = tmp_path / "t.topology.yaml"
    path.write_text(_queues(prefix))
    assert topology("apply", str(path), "--auto-approve").returncode == 0
    path.write_text(_queues(prefix, emails=False, prune=True))
    plan = tmp_path / "plan.json"
    planned = topology("plan", str(path), "--out", str(plan))
    assert planned.returncode == 0, planned.stderr
    [change] = json.loads(plan.read_text())["changes"]
    assert (change["action"], change["needs_empty"], change["loses_data"]) == ("delete", True, False)

    _send(sqs, f"{prefix}-emails", 9)  # after the plan: the plan still says "empty"
    applied = topology("apply", str(plan), "--auto-approve", "--allow-delete")
    assert applied.returncode == 1
    assert f"sqs/queue/{prefix}-emails" in applied.stderr
    assert "refused to delete it: it was empty when planned but now holds about 9 messages" in applied.stderr
    assert _counts(sqs, f"{prefix}-emails")["ApproximateNumberOfMessages"] == 9  # nothing lost

    drained = sqs.get_queue_url(QueueName=f"{prefix}-emails")["QueueUrl"]
    sqs.purge_queue(QueueUrl=drained)
    assert _within(10, lambda: sum(_counts(sqs, f"{prefix}-emails").values()) == 0)
    again = topology("apply", str(plan), "--auto-approve", "--allow-delete")
    assert again.returncode == 0, again.stderr  # empty again: the saved plan goes through
    assert not sqs.list_queues(QueueNamePrefix=f"{prefix}-emails").get("QueueUrls")


@pytest.mark.parametrize("how", ["in flight", "delayed"])
def test_messages_in_flight_or_delayed_count_as_held(how: str, aws_clients: tuple[Any, Any],
                                                     aws_driver: AwsDrivers) -> None:
    """ApproximateNumberOfMessages is 0 for a received (in-flight) or delayed message; they are still held."""
    sqs, _sns = aws_clients
    name = unique("held")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    if how == "in flight":
        _send(sqs, name, 1)
        assert sqs.receive_message(QueueUrl=url, VisibilityTimeout=300).get("Messages")
    else:
        _send(sqs, name, 1, DelaySeconds=300)
    assert _counts(sqs, name)["ApproximateNumberOfMessages"] == 0
    driver = aws_driver()
    live = driver.inspect(Selection(frozenset({f"sqs/queue/{name}"})))[f"sqs/queue/{name}"]
    for action in ("delete", "replace"):
        change = Change(address=f"sqs/queue/{name}", kind="sqs.queue", target="aws", name=name, action=action,
                        before=live.attributes, after=None if action == "delete" else live.attributes,
                        needs_empty=True)
        [result] = driver.apply([change], {})
        assert not result.ok and "now holds about 1 message (SQS's approximate count" in (result.error or "")
        assert sqs.get_queue_url(QueueName=name)["QueueUrl"] == url  # still there


def test_shorter_retention_loses_data_when_held_and_is_rechecked_when_planned_empty(
        tmp_path: Path, aws_clients: tuple[Any, Any]) -> None:
    sqs, _sns = aws_clients
    prefix = unique("retention")
    path = tmp_path / "t.topology.yaml"
    path.write_text(_queues(prefix, emails=False, retention="4d"))
    assert topology("apply", str(path), "--auto-approve").returncode == 0
    billing = f"{prefix}-billing"
    _send(sqs, billing, 3)

    path.write_text(_queues(prefix, emails=False, retention="1h"))
    planned = topology("plan", str(path), "--format", "json")
    [change] = json.loads(planned.stdout)["changes"]
    assert change["loses_data"] and "MessageRetentionPeriod 345600 -> 3600" in " ".join(change["reasons"])
    refused = topology("apply", str(path), "--auto-approve")
    assert refused.returncode == 1 and "--allow-data-loss" in _one_sentence(refused.stderr)

    url = sqs.get_queue_url(QueueName=billing)["QueueUrl"]
    sqs.purge_queue(QueueUrl=url)
    assert _within(10, lambda: sum(_counts(sqs, billing).values()) == 0)
    plan = tmp_path / "plan.json"
    assert topology("plan", str(path), "--out", str(plan)).returncode == 0
    [change] = json.loads(plan.read_text())["changes"]
    assert change["needs_empty"] and not change["loses_data"]
    _send(sqs, billing, 2)
    applied = topology("apply", str(plan), "--auto-approve")
    assert applied.returncode == 1
    assert "refused to change it: it was empty when planned but now holds about 2 messages" in applied.stderr
    retention = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["MessageRetentionPeriod"])["Attributes"]
    assert retention == {"MessageRetentionPeriod": "345600"}


# --------------------------------------------------------------------------- dead-letter cycles


def test_dead_letter_cycles_are_refused_at_every_queue_of_the_cycle(tmp_path: Path) -> None:
    path = tmp_path / "t.topology.yaml"
    path.write_text("""version: 1
sqs:
  queues:
    a: {dead_letter: {queue: b}}
    b: {dead_letter: {queue: c}}
    c: {dead_letter: {queue: a}}
    alone: {dead_letter: {queue: alone}}
    feeder: {dead_letter: {queue: a}}
    fine: {dead_letter: {queue: fine-dlq}}
""")
    result = topology("validate", str(path))
    assert result.returncode == 1
    errors = sorted(line for line in result.stderr.splitlines() if line.startswith(f"{path}:"))
    located = [(line.split(":")[1], line.split(" ")[1]) for line in errors]  # line number, field path
    assert located == [("4", "sqs.queues.a.dead_letter.queue:"), ("5", "sqs.queues.b.dead_letter.queue:"),
                       ("6", "sqs.queues.c.dead_letter.queue:"), ("7", "sqs.queues.alone.dead_letter.queue:")]
    assert "form a cycle: `b` -> `c` -> `a` -> `b`" in errors[1]
    assert "queue `alone` is its own dead-letter queue" in errors[3]


# --------------------------------------------------------------------------------- subscriptions


def _subscriptions(sns: Any, topic: str) -> list[dict[str, Any]]:
    arn = sns.create_topic(Name=topic)["TopicArn"]
    found = []
    for subscription in sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]:
        attributes = sns.get_subscription_attributes(SubscriptionArn=subscription["SubscriptionArn"])["Attributes"]
        found.append({"arn": subscription["SubscriptionArn"], "filter": attributes.get("FilterPolicy")})
    return found


def _fanout(prefix: str, policy: str) -> str:
    return (f"version: 1\ntargets:\n{TARGET}sqs:\n  target: aws\n  queues: {{{prefix}-billing: {{}}}}\n"
            f"sns:\n  target: aws\n  topics:\n    {prefix}-events:\n"
            f"      subscriptions: [{{queue: {prefix}-billing, filter_policy: {policy}}}]\n")


def test_a_refused_filter_policy_leaves_no_unfiltered_subscription(tmp_path: Path,
                                                                  aws_clients: tuple[Any, Any]) -> None:
    """moto makes the subscription, then refuses its filter (AWS refuses the whole call): either way
    nothing is left subscribed without its filter."""
    _sqs, sns = aws_clients
    prefix = unique("refused")
    path = tmp_path / "t.topology.yaml"
    path.write_text(_fanout(prefix, "{type: [{cidr: 10.0.0.0/24}]}"))  # valid for AWS; moto refuses every cidr
    applied = topology("apply", str(path), "--auto-approve")
    assert applied.returncode == 1
    assert "refused sns:Subscribe: InvalidParameter" in applied.stderr
    assert "the subscription was removed again" in applied.stderr
    assert _subscriptions(sns, f"{prefix}-events") == []


def test_a_filter_can_move_to_the_message_body_and_back(tmp_path: Path, aws_clients: tuple[Any, Any]) -> None:
    """A nested policy needs the MessageBody scope first; back to MessageAttributes, the flat policy first."""
    _sqs, sns = aws_clients
    prefix = unique("scope")
    path = tmp_path / "t.topology.yaml"
    flat = _fanout(prefix, "{type: [paid]}")
    nested = flat.replace("filter_policy: {type: [paid]}",
                          "filter_policy: {order: {type: [paid]}}, filter_policy_scope: MessageBody")
    for text, expected in ((flat, {"type": ["paid"]}), (nested, {"order": {"type": ["paid"]}}),
                           (flat, {"type": ["paid"]})):
        path.write_text(text)
        applied = topology("apply", str(path), "--auto-approve")
        assert applied.returncode == 0, applied.stderr
        assert [json.loads(s["filter"]) for s in _subscriptions(sns, f"{prefix}-events")] == [expected]
        assert topology("plan", str(path), "--detailed-exitcode").returncode == 0


_TOO_COMPLEX = {"a": [str(i) for i in range(20)], "b": [str(i) for i in range(20)]}  # 400 combinations


def _aws_refuses_complex(real: Any, **kwargs: Any) -> Any:
    """AWS refuses a filter policy of more than 150 combinations of values; moto accepts it."""
    policy = kwargs.get("Attributes", {}).get("FilterPolicy") or (
        kwargs.get("AttributeValue") if kwargs.get("AttributeName") == "FilterPolicy" else None)
    if policy and json.loads(policy) == _TOO_COMPLEX:
        raise ClientError({"Error": {"Code": "InvalidParameter", "Message": "Invalid parameter: FilterPolicy: "
                                     "Filter policy is too complex"}}, "Subscribe")
    return real(**kwargs)


def _subscription_change(prefix: str, action: str, policy: dict[str, Any],
                         before: dict[str, Any] | None = None) -> Change:
    after = {"topic": f"{prefix}-events", "queue": f"{prefix}-billing", "RawMessageDelivery": False,
             "FilterPolicy": policy, "FilterPolicyScope": "MessageAttributes"}
    changed = (AttributeChange(name="FilterPolicy", before=(before or {}).get("FilterPolicy"), after=policy),)
    return Change(address=f"sns/subscription/{prefix}-events->{prefix}-billing", kind="sns.subscription",
                  target="aws", name=f"{prefix}-events->{prefix}-billing", action=action, before=before, after=after,
                  attributes=changed)


def test_filter_refused_by_aws_on_create_or_update(aws_clients: tuple[Any, Any], aws_driver: AwsDrivers) -> None:
    sqs, sns = aws_clients
    prefix = unique("complex")
    sqs.create_queue(QueueName=f"{prefix}-billing")
    sns.create_topic(Name=f"{prefix}-events")
    faulty = Faulty(subscribe=_aws_refuses_complex, set_subscription_attributes=_aws_refuses_complex)
    driver = aws_driver(sns=faulty)

    [created] = driver.apply([_subscription_change(prefix, "create", _TOO_COMPLEX)], {})
    assert not created.ok and "Filter policy is too complex" in (created.error or "")
    assert "no subscription was made" in (created.error or "")
    assert _subscriptions(sns, f"{prefix}-events") == []

    [created] = driver.apply([_subscription_change(prefix, "create", {"type": ["paid"]})], {})
    assert created.ok, created.error
    old = {"topic": f"{prefix}-events", "queue": f"{prefix}-billing", "RawMessageDelivery": False,
           "FilterPolicy": {"type": ["paid"]}, "FilterPolicyScope": "MessageAttributes"}
    [updated] = driver.apply([_subscription_change(prefix, "update", _TOO_COMPLEX, before=old)], {})
    assert not updated.ok and "keeps its previous filter policy" in (updated.error or "")
    [kept] = _subscriptions(sns, f"{prefix}-events")
    assert json.loads(kept["filter"]) == {"type": ["paid"]}

    def lost(real: Any, **kwargs: Any) -> Any:  # the filter is accepted, the next attribute's answer lost
        if kwargs["AttributeName"] == "RawMessageDelivery":
            raise ReadTimeoutError(endpoint_url=AWS_ENDPOINT_URL)
        return real(**kwargs)

    both = _subscription_change(prefix, "update", {"type": ["refunded"]}, before=old)
    both = dataclasses.replace(
        both, after={**(both.after or {}), "RawMessageDelivery": True},
        attributes=(*both.attributes, AttributeChange(name="RawMessageDelivery", before=False, after=True)))
    losing = aws_driver(sns=Faulty(set_subscription_attributes=lost))  # no inspect first: apply finds it
    [updated] = losing.apply([both], {})
    assert not updated.ok and "the subscription keeps its previous attributes" in (updated.error or "")
    [kept] = _subscriptions(sns, f"{prefix}-events")
    assert json.loads(kept["filter"]) == {"type": ["paid"]}  # put back: not half of the change


def test_a_lost_subscribe_answer_is_cleaned_up(aws_clients: tuple[Any, Any], aws_driver: AwsDrivers) -> None:
    """SNS made the subscription but its answer never came: what it made for the queue is removed."""
    sqs, sns = aws_clients
    prefix = unique("lost")
    sqs.create_queue(QueueName=f"{prefix}-billing")
    sns.create_topic(Name=f"{prefix}-events")

    def subscribe(real: Any, **kwargs: Any) -> Any:
        real(**kwargs)
        raise ReadTimeoutError(endpoint_url=AWS_ENDPOINT_URL)

    [result] = aws_driver(sns=Faulty(subscribe=subscribe)).apply(
        [_subscription_change(prefix, "create", {"type": ["paid"]})], {})
    assert not result.ok and "did not answer sns:Subscribe" in (result.error or "")
    assert "the subscription was removed again" in (result.error or "")
    assert _subscriptions(sns, f"{prefix}-events") == []


# ------------------------------------------------------------------------------------------ lock


_HOLD = """
import sys, time
from topology.brokers.aws.driver import AwsDriver
driver = AwsDriver(region="us-east-1", endpoint_url=sys.argv[1], lock_lease=3)
driver.lock("the-killed-one", 0)
print("locked", flush=True)
time.sleep(600)
"""


def test_a_second_apply_waits_then_is_refused_naming_the_holder(aws_driver: AwsDrivers) -> None:
    first, second = aws_driver(lock_lease=2), aws_driver(lock_lease=2)
    first.lock("alice@build-1 pid 42 since 2026-01-01T00:00:00Z", 0)
    started = time.monotonic()
    with pytest.raises(LockedError, match=r"holds the lock at .* \(alice@build-1 pid 42 since 2026-01-01T00:00:00Z\); "
                                          r"waited 5 s"):
        second.lock("bob", 5)  # longer than the lease: only renewals keep it held
    assert 5 <= time.monotonic() - started < 12
    first.close()
    started = time.monotonic()
    second.lock("bob", 10)
    assert time.monotonic() - started < 3  # released at once, not after a lease
    second.close()
    everything = Selection(frozenset(), prune=True, include=("sqs/queue/*",))
    assert LOCK_QUEUE not in str(aws_driver().inspect(everything))


def test_a_message_put_in_the_lock_queue_by_hand_is_no_token(aws_clients: tuple[Any, Any],
                                                              aws_driver: AwsDrivers) -> None:
    sqs, _sns = aws_clients
    first, second = aws_driver(), aws_driver()
    first.lock("alice", 0)
    try:
        url = sqs.get_queue_url(QueueName=LOCK_QUEUE)["QueueUrl"]
        for group, body in (("other", "anything"), ("other", "topology apply lock"), ("apply", "not the token")):
            sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group,
                             MessageDeduplicationId=unique("stray"))
        with pytest.raises(LockedError, match=r"\(alice\)"):
            second.lock("bob", 1)
    finally:
        first.close()
        second.close()


def test_a_second_apply_is_refused_and_a_dead_holders_lock_frees_itself(tmp_path: Path) -> None:
    path = tmp_path / "t.topology.yaml"
    name = unique("locked")
    path.write_text(f"version: 1\ntargets:\n{TARGET}sqs:\n  target: aws\n  queues: {{{name}: {{}}}}\n")
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, AWS_ENDPOINT_URL], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        refused = topology("apply", str(path), "--auto-approve")
        assert refused.returncode == 1
        assert "another apply holds the lock at" in _one_sentence(refused.stderr)
        assert "(the-killed-one); waited 0 s" in refused.stderr
    finally:
        holder.kill()
        holder.wait()
    started = time.monotonic()
    applied = topology("apply", str(path), "--auto-approve", "--lock-timeout", "20s")
    assert applied.returncode == 0, applied.stderr
    assert time.monotonic() - started < 10  # within the dead holder's 3 s lease (and a poll, and startup)


def test_an_old_token_is_replaced_before_retention_could_drop_it(aws_clients: tuple[Any, Any],
                                                                  aws_driver: AwsDrivers) -> None:
    sqs, _sns = aws_clients
    aged = [1]
    received: list[str] = []

    def receive_message(real: Any, **kwargs: Any) -> Any:
        answer = real(**kwargs)
        received.extend(m["MessageId"] for m in answer.get("Messages", []))
        if aged[0] and answer.get("Messages"):  # SQS keeps a message 14 days at most: 8 days is old
            aged[0] -= 1
            answer["Messages"][0].setdefault("Attributes", {})["SentTimestamp"] = str(
                int((time.time() - 8 * 86_400) * 1000))
        return answer

    driver = aws_driver(sqs=Faulty(receive_message=receive_message))
    driver.lock("second", 35)
    assert aged == [0] and len(received) == 2 and received[0] != received[1]  # the held token is a new one
    assert _counts(sqs, LOCK_QUEUE)["ApproximateNumberOfMessages"] == 0  # the old token is gone, one held
    assert _counts(sqs, LOCK_QUEUE)["ApproximateNumberOfMessagesNotVisible"] == 1
    driver.close()


def test_apply_stops_when_the_lock_could_not_be_renewed(aws_clients: tuple[Any, Any],
                                                        aws_driver: AwsDrivers) -> None:
    sqs, _sns = aws_clients

    def unreachable(real: Any, **kwargs: Any) -> Any:
        if kwargs.get("VisibilityTimeout"):  # renewals fail; the release (0) goes through
            raise ReadTimeoutError(endpoint_url=AWS_ENDPOINT_URL)
        return real(**kwargs)

    driver = aws_driver(sqs=Faulty(change_message_visibility=unreachable), lock_lease=2)
    driver.lock("me", 0)
    lease = driver._lease
    assert lease is not None and _within(5, lambda: not lease.held())
    name = unique("late")
    [result] = driver.apply([Change(address=f"sqs/queue/{name}", kind="sqs.queue", target="aws", name=name,
                                    action="create", after={})], {})
    assert not result.ok and "could not be renewed" in (result.error or "")
    assert not sqs.list_queues(QueueNamePrefix=name).get("QueueUrls")
    driver.close()


# ------------------------------------------------------------------------ one sentence, bounded


@pytest.fixture
def silent_endpoint(silent_server: SilentServer) -> tuple[str, list[socket.socket]]:
    """An endpoint that accepts TCP connections and never answers, and the connections it accepted."""
    return f"http://127.0.0.1:{silent_server.port}", silent_server.accepted


def _plan_against(tmp_path: Path, endpoint: str, *, env: dict[str, str] | None = None,
                  timeouts: str = "") -> tuple[subprocess.CompletedProcess[str], float]:
    path = tmp_path / "t.topology.yaml"
    path.write_text(f"version: 1\ntargets:\n  aws: {{kind: aws, region: us-east-1, endpoint_url: \"{endpoint}\""
                    f"{timeouts}}}\nsqs:\n  target: aws\n  queues: {{billing: {{}}}}\n")
    started = time.monotonic()
    result = topology("plan", str(path), env=env, timeout=120)
    return result, time.monotonic() - started


def test_a_silent_endpoint_fails_in_bounded_time(tmp_path: Path,
                                                 silent_endpoint: tuple[str, list[socket.socket]]) -> None:
    endpoint, connections = silent_endpoint
    result, took = _plan_against(tmp_path, endpoint, timeouts=", connect_timeout: 1s, timeout: 2s")
    sentence = _one_sentence(result.stderr)
    assert result.returncode == 1
    assert f"SQS at {endpoint} accepted the connection but did not answer sqs:ListQueues within 2 s " \
           "(2 tries)" in sentence and "raise the target's `timeout`" in sentence
    assert took < 4 + 3.5  # two tries of 2 s, a back-off under a second, and the interpreter starting
    assert len(connections) == 2  # one request, tried twice


def test_tls_to_a_plain_port_is_one_sentence(tmp_path: Path) -> None:
    endpoint = AWS_ENDPOINT_URL.replace("http://", "https://")
    result, took = _plan_against(tmp_path, endpoint, timeouts=", connect_timeout: 2s, timeout: 2s")
    sentence = _one_sentence(result.stderr)
    assert f"SQS at {endpoint}: the TLS handshake failed; if the endpoint speaks plain HTTP write http://" in sentence
    assert took < 15


def test_partial_credentials_are_one_sentence_and_never_printed(tmp_path: Path) -> None:
    key = "AKIATOPOLOGYPARTIAL1"
    result, _took = _plan_against(tmp_path, AWS_ENDPOINT_URL,
                                  env={"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": ""})
    sentence = _one_sentence(result.stderr)
    assert "the AWS credentials for SQS at" in sentence
    assert "AWS_SECRET_ACCESS_KEY is missing from env" in sentence
    assert key not in result.stderr + result.stdout
