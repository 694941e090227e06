"""The static SNS filter-policy evaluator and `validate` against the server's own filtering and checking
(moto's SNS), over generated policies and messages in both scopes: String, Number and String.Array
attributes, anything-but (values, numbers, prefix), prefix, suffix, equals-ignore-case, numeric ranges,
exists, `$or`, nested body keys. Every disagreement is a bug in topology.

Where moto does not do what AWS documents, topology follows AWS: those constructs are left out of the
generated corpus and pinned below (`MOTO_DIFFERS`, `MOTO_DIFFERS_ON_VALIDATION`), each with its evidence and
with moto's own answer, so that a moto that learns them fails here and they can join the corpus.
The cases of AWS's documentation are in test_sns_filter_docs.py.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from botocore.parsers import ResponseParserError

from topology.brokers.aws.filter_policy import policy_problems
from topology.brokers.aws.probe import SnsProbe
from topology.brokers.aws.routing import route_sns
from topology.core.resource import Resource
from topology.errors import BrokerError

pytestmark = pytest.mark.aws

GUIDE = "https://docs.aws.amazon.com/sns/latest/dg/"
# AWS's answers recorded by LocalStack's tests against AWS itself (marked aws.validated, last validated
# 2024-05-14/15), for what the guide does not spell out:
VALIDATED = "https://github.com/localstack/localstack/blob/master/tests/aws/services/sns/test_sns_filter_policy.py"
MOTO = "moto 5.2.5, moto/sns/utils.py FilterPolicyMatcher and moto/sns/models.py _validate_filter_policy"

STRING_KEYS = ["type", "region", "tier"]
STRINGS = ["paid", "refunded", "created", "eu-west", "eu-north", "us-east", "order-1", "GOLD", "gold", "Gold"]
TAGS = ["rugby", "tennis", "baseball", "eu-west"]


def _string_rule(rng: random.Random) -> list[Any]:
    return rng.choice([
        rng.sample(STRINGS, rng.randint(1, 3)),
        [{"prefix": rng.choice(["eu-", "us-", "pa", "order-"])}],
        [{"suffix": rng.choice(["-west", "ed", "LD"])}],
        [{"anything-but": rng.sample(STRINGS, 2)}],
        [{"anything-but": rng.choice(STRINGS)}],
        [{"anything-but": {"prefix": rng.choice(["eu-", "order-", "g"])}}],
        # moto lowers the message's value but not the policy's: lower-case operands only (see MOTO_DIFFERS)
        [{"equals-ignore-case": rng.choice(["gold", "paid"])}],
        [{"exists": rng.choice([True, False])}],
        [rng.choice(STRINGS), {"prefix": "eu-"}],
    ])


def _amount_rule(rng: random.Random) -> list[Any]:
    low = rng.choice([0, 10, 100])
    return rng.choice([[low], [{"numeric": [">", low]}], [{"numeric": [">=", low, "<", low + 50]}],
                       [{"numeric": ["=", low]}], [{"exists": rng.choice([True, False])}],
                       [{"anything-but": [low, low + 50]}]])  # a single number fails moto (see MOTO_DIFFERS)


def _tags_rule(rng: random.Random) -> list[Any]:
    # On a String.Array moto only matches exact values and exists as AWS does (see MOTO_DIFFERS)
    return rng.choice([rng.sample(TAGS, rng.randint(1, 2)), [{"exists": rng.choice([True, False])}]])


def _rule(rng: random.Random, key: str) -> list[Any]:
    return _amount_rule(rng) if key == "amount" else _tags_rule(rng) if key == "tags" else _string_rule(rng)


def _policy(rng: random.Random, scope: str) -> dict[str, Any]:
    keys = rng.sample([*STRING_KEYS, "amount", "tags"], rng.randint(1, 3))
    policy: dict[str, Any] = {key: _rule(rng, key) for key in keys}
    if scope == "MessageBody" and "region" in policy:  # a nested key of the body
        policy["order"] = {"region": policy.pop("region")}
    if scope == "MessageAttributes" and rng.random() < 0.25:  # moto's `$or` works on attributes only
        first, second = rng.sample(STRING_KEYS, 2)
        policy["$or"] = [{first: _string_rule(rng)}, {second: _string_rule(rng)}]
    return policy


def _message(rng: random.Random) -> dict[str, Any]:
    message: dict[str, Any] = {}
    for key in STRING_KEYS:
        if rng.random() < 0.6:
            message[key] = rng.choice(STRINGS)
    if rng.random() < 0.6:
        message["amount"] = rng.choice([0, 5, 10, 60, 100, 149, 150, 1000, 10.5])
    if rng.random() < 0.5:
        message["tags"] = rng.sample(TAGS, rng.randint(1, 3))
    return message


def _resources(subscriptions: list[dict[str, Any]]) -> dict[str, Resource]:
    resources = {"sns/topic/events": Resource("sns.topic", "sns/topic/events", "events", "", None, {})}
    for subscription in subscriptions:
        address = f"sns/subscription/events->{subscription['queue']}"
        resources[address] = Resource("sns.subscription", address, "", "", None, dict(subscription))
    return resources


def _as_body(message: dict[str, Any]) -> dict[str, Any]:
    body = dict(message)
    body["order"] = {"region": body.pop("region")} if "region" in body else {}
    return body


@pytest.mark.parametrize(("seed", "scope"), [(1, "MessageAttributes"), (2, "MessageAttributes"),
                                             (3, "MessageBody"), (4, "MessageBody")])
def test_static_filtering_agrees_with_the_server(aws_clients: tuple[Any, Any], seed: int, scope: str) -> None:
    sqs, sns = aws_clients
    rng = random.Random(seed)
    subscriptions = [{"topic": "events", "queue": f"q{i}", "RawMessageDelivery": True,
                      "FilterPolicy": _policy(rng, scope), "FilterPolicyScope": scope} for i in range(25)]
    for subscription in subscriptions:  # the corpus is made of policies SNS accepts
        assert policy_problems(subscription["FilterPolicy"], scope) == [], subscription["FilterPolicy"]
    resources = _resources(subscriptions)
    messages = [_as_body(_message(rng)) if scope == "MessageBody" else _message(rng) for _ in range(60)]
    if scope == "MessageBody":
        static = [route_sns(resources, "events", body=message) for message in messages]
    else:
        static = [route_sns(resources, "events", attributes=message) for message in messages]
    with SnsProbe(sqs, sns, "events", subscriptions, wait_seconds=0) as probe:
        live = probe.route_many([(None, m) if scope == "MessageBody" else (m, None) for m in messages])
    disagreements = [(message, sorted(ours - server), sorted(server - ours))
                     for message, ours, server in zip(messages, static, live, strict=True) if ours != server]
    delivered = sum(len(reached) for reached in live)
    arrays = sum(len(reached) for message, reached in zip(messages, live, strict=True) if "tags" in message)
    policies = {s["queue"]: s["FilterPolicy"] for s in subscriptions}
    assert [(m, [(q, policies[q]) for q in extra + missing]) for m, extra, missing in disagreements] == []
    assert delivered > 60 and arrays > 10  # the corpus really delivers, arrays too; not agreeing on "nothing"


def test_live_publishes_attributes_with_their_sns_types(aws_clients: tuple[Any, Any]) -> None:
    """`topology test --live` sends a list as a String.Array (a JSON array) and a number as a Number, as a
    subscriber of the probe's topic receives them (sns-message-attributes.html); Binary: see MOTO_DIFFERS."""
    sqs, sns = aws_clients
    subscriptions = [{"topic": "events", "queue": "q", "FilterPolicy": {"tags": ["tennis"]}}]
    with SnsProbe(sqs, sns, "events", subscriptions, wait_seconds=0) as probe:
        url = sqs.create_queue(QueueName=f"{probe.prefix}-witness")["QueueUrl"]
        try:
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            sns.subscribe(TopicArn=probe.topic_arn, Protocol="sqs", Endpoint=arn,
                          Attributes={"RawMessageDelivery": "true"})
            reached = probe.route(attributes={"tags": ["rugby", "tennis"], "amount": 10.5, "region": "eu"})
            [received] = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"])["Messages"]
        finally:
            sqs.delete_queue(QueueUrl=url)
    assert reached == {"q"}
    assert received["MessageAttributes"] == {
        "tags": {"DataType": "String.Array", "StringValue": '["rugby", "tennis"]'},
        "amount": {"DataType": "Number", "StringValue": "10.5"},
        "region": {"DataType": "String", "StringValue": "eu"},
    }


# (policy, scope, message, what AWS does: delivered or not, the evidence, moto's answer: None when it fails)
MOTO_DIFFERS: list[tuple[dict[str, Any], str, dict[str, Any], bool, str, bool | None]] = [
    ({"k": [{"prefix": "bas"}]}, "MessageAttributes", {"k": ["rugby", "baseball"]}, True,
     GUIDE + "string-value-matching.html: for String.Array attributes each element is a separate string; "
     "moto matches prefix on String attributes only", False),
    ({"k": [{"suffix": "ball"}]}, "MessageAttributes", {"k": ["rugby", "baseball"]}, True,
     GUIDE + "string-value-matching.html (as above); moto matches suffix on String attributes only", False),
    ({"k": [{"anything-but": ["rugby", "tennis"]}]}, "MessageAttributes", {"k": ["rugby"]}, False,
     GUIDE + "string-value-matching.html: [\"rugby\"] does not match; moto compares the characters of the "
     "array's JSON text", True),
    ({"k": [{"anything-but": ["rugby", "tennis"]}]}, "MessageBody", {"k": ["rugby", "baseball"]}, True,
     GUIDE + "string-value-matching.html: [\"rugby\", \"baseball\"] matches (it holds a value that isn't rugby or "
     "tennis); moto wants none of the elements listed", False),
    ({"k": [{"anything-but": {"suffix": "ball"}}]}, "MessageAttributes", {"k": "hockey"}, True,
     GUIDE + "string-value-matching.html, anything-but suffix; moto's anything-but knows prefix only", False),
    ({"k": [{"equals-ignore-case": "GOLD"}]}, "MessageAttributes", {"k": "gold"}, True,
     GUIDE + "string-value-matching.html, equals-ignore-case; moto lowers the message's value, not the policy's",
     False),
    ({"k": [{"numeric": [">", 10]}]}, "MessageAttributes", {"k": [5, 50]}, True,
     GUIDE + "numeric-value-matching.html matches a Number.Array element by element (anything-but [100, 50]); "
     "moto compares Number attributes only", False),
    ({"k": ["100"]}, "MessageAttributes", {"k": 100}, False,
     GUIDE + "subscription-filter-policy-constraints.html: strings and numbers are matched as their own types "
     "(\"Number is supported for numeric attribute values\"); moto compares a Number's text with strings", True),
    ({"k": [{"anything-but": 100}]}, "MessageAttributes", {"k": 101}, True,
     GUIDE + "numeric-value-matching.html, anything-but matching of numbers; moto fails (HTTP 500) on a single "
     "number, taking it for a list", None),
    ({"k": [{"prefix": "bas"}]}, "MessageBody", {"k": ["rugby", "baseball"]}, True,
     GUIDE + "string-value-matching.html (each element of an array); moto fails (HTTP 500) on a list", None),
    ({"k": [{"exists": False}]}, "MessageAttributes", {"k": b"\x00"}, True,
     GUIDE + "subscription-filter-policy-constraints.html: SNS ignores Binary attributes when filtering (and "
     "sns-message-attributes.html lists Binary among the types); moto delivers no message that carries a Binary "
     "attribute to a raw SQS subscriber", False),
    ({"store": [{"exists": False}]}, "MessageAttributes", {}, False,
     GUIDE + "attribute-key-matching.html: \"exists\": false only matches if at least one attribute is present; "
     "moto matches a message without attributes", True),
    ({"store": [{"exists": True}]}, "MessageBody", {"store": None}, False,
     GUIDE + "attribute-key-matching.html: \"exists\": true wants a non-null and non-empty value; moto takes null",
     True),
    ({"store": [{"exists": True}]}, "MessageBody", {"store": []}, False,
     GUIDE + "attribute-key-matching.html (as above); moto takes an empty list", True),
    ({"a.b": ["xy"]}, "MessageBody", {"a": {"b": "xy"}}, True,
     VALIDATED + " test_filter_policy_on_message_body_dot_attribute: a dotted key matches the nested property; "
     "moto reads it as one key", False),
]


@pytest.mark.parametrize(("policy", "scope", "message", "aws", "evidence", "moto"), MOTO_DIFFERS,
                         ids=[json.dumps(c[0])[:60] + " " + json.dumps(c[2], default=str) for c in MOTO_DIFFERS])
def test_where_moto_differs_topology_follows_aws(aws_clients: tuple[Any, Any], policy: dict[str, Any], scope: str,
                                                 message: dict[str, Any], aws: bool, evidence: str,
                                                 moto: bool | None) -> None:
    sqs, sns = aws_clients
    subscriptions = [{"topic": "events", "queue": "q", "FilterPolicy": policy, "FilterPolicyScope": scope}]
    argument = {"body" if scope == "MessageBody" else "attributes": message}
    assert (route_sns(_resources(subscriptions), "events", **argument) == {"q"}) is aws, evidence
    with SnsProbe(sqs, sns, "events", subscriptions, wait_seconds=0) as probe:
        if moto is None:
            with pytest.raises((BrokerError, ResponseParserError)):  # moto's HTML error page, not an AWS answer
                probe.route(**argument)
        else:
            assert (probe.route(**argument) == {"q"}) is moto, f"moto now does this as AWS does: {evidence}"


@pytest.mark.parametrize("operator", [{"cidr": "10.0.0.0/24"}, {"wildcard": "*ball"}])
def test_moto_refuses_operators_aws_documents(aws_clients: tuple[Any, Any], operator: dict[str, str]) -> None:
    """string-value-matching.html documents `cidr` (IP address matching) and `wildcard`; moto refuses both
    ("Unrecognized match type"), so they are checked against AWS's documented cases only."""
    sqs, sns = aws_clients
    policy = {"k": [operator]}
    assert policy_problems(policy, "MessageAttributes") == []
    subscriptions = [{"topic": "events", "queue": "q", "FilterPolicy": policy}]
    with pytest.raises(BrokerError, match="Unrecognized match type"):
        SnsProbe(sqs, sns, "events", subscriptions, wait_seconds=0)
    assert [u for u in sqs.list_queues().get("QueueUrls", []) if "topology-probe" in u] == []


# ---------------------------------------------------------------------------------------------- validate

A, B = "MessageAttributes", "MessageBody"
# Policies on which moto's verdict is AWS's (the guide's constraints and LocalStack's AWS-validated errors).
AGREED: list[tuple[dict[str, Any], str]] = [
    ({"k": ["a", 1, 1.5, True, None]}, A), ({"k": "a"}, A), ({"k": [["a"]]}, A), ({"k": [{"prefx": "a"}]}, A),
    ({"k": [{"exists": "yes"}]}, A), ({"k": [{"exists": None}]}, A), ({"k": [{"exists": False}]}, A),
    ({"k": [{"numeric": []}]}, A), ({"k": [{"numeric": ["~", 1]}]}, A), ({"k": [{"numeric": ["=", "1"]}]}, A),
    ({"k": [{"numeric": ["<", 1, ">", 0]}]}, A), ({"k": [{"numeric": [">", 3, "<", 1]}]}, A),
    ({"k": [{"numeric": [">", 0, "<=", 150]}]}, A), ({"k": [1_000_000_001]}, A), ({"k": [999_999_999]}, A),
    ({c: ["v"] for c in "abcdef"}, A), ({c: ["v"] for c in "abcde"}, A),
    ({"k": [str(i) for i in range(151)]}, A), ({"k": [str(i) for i in range(150)]}, A),
    ({"k1": [str(i) for i in range(100)], "k2": [str(i) for i in range(51)]}, A),
    ({"o": {"k": ["v"]}}, A), ({"o": {"k": [{"prefix": "v"}]}}, B),
    ({"k": [{"anything-but": {"prefix": "x"}}]}, A), ({"k": [{"anything-but": ["a", "b"]}]}, A),
    ({"k": [{"anything-but": 5}]}, A), ({"k": [{"equals-ignore-case": "x"}]}, A),
    ({"$or": [{"a": ["x"]}, {"b": [{"prefix": "y"}]}]}, A),
    ({"k": [{"cidr": "10.0.0.0"}]}, A),  # no prefix length: AWS refuses it, and moto refuses every cidr
    # string-value-matching.html documents anything-but suffix (LocalStack recorded AWS refusing it in May 2024)
    ({"k": [{"anything-but": {"suffix": "ball"}}]}, A),
]
# (policy, scope, AWS refuses it, evidence); moto accepts each.
MOTO_DIFFERS_ON_VALIDATION: list[tuple[dict[str, Any], str, bool, str]] = [
    ({"k": []}, A, True, VALIDATED + " (\"Empty arrays are not allowed\")"),
    ({"k": [{"prefix": "a", "suffix": "b"}]}, A, True, VALIDATED + " error-condition-two-operators"),
    ({"k": [{"suffix": 100}]}, A, True, VALIDATED + " error-condition-is-numeric"),
    ({"k": [{"prefix": 5}]}, A, True, VALIDATED + " (prefix match pattern must be a string)"),
    ({"k": [{"numeric": [">", 20, "<", 30, "<", 50]}]}, A, True, VALIDATED + " error-numeric-too-many-range"),
    ({"k": [{"anything-but": {"exists": False}}]}, A, True, VALIDATED + " error-condition-anything-but-exists"),
    ({"k": [{"anything-but": {"prefix": False}}]}, A, True,
     VALIDATED + " error-condition-anything-but-prefix-wrong-type"),
    ({"k": [{"cidr": "10.0.0.0/24"}]}, A, False, GUIDE + "string-value-matching.html, IP address matching "
     "(moto refuses every cidr)"),
    ({"k": [{"wildcard": "*ball"}]}, A, False, GUIDE + "string-value-matching.html, Wildcard (moto refuses it)"),
]


def _server_refuses(sqs: Any, sns: Any, policy: dict[str, Any], scope: str) -> bool:
    subscriptions = [{"topic": "events", "queue": "q", "FilterPolicy": policy, "FilterPolicyScope": scope}]
    try:
        SnsProbe(sqs, sns, "events", subscriptions, wait_seconds=0).close()
    except BrokerError:
        return True
    return False


def test_validation_agrees_with_the_server(aws_clients: tuple[Any, Any]) -> None:
    sqs, sns = aws_clients
    verdicts = [(policy, bool([p for p in policy_problems(policy, scope) if not p.warning]),
                 _server_refuses(sqs, sns, policy, scope)) for policy, scope in AGREED]
    assert [(policy, ours, server) for policy, ours, server in verdicts if ours != server] == []
    assert {server for _, _, server in verdicts} == {True, False}


@pytest.mark.parametrize(("policy", "scope", "refused", "evidence"), MOTO_DIFFERS_ON_VALIDATION,
                         ids=[json.dumps(c[0]) for c in MOTO_DIFFERS_ON_VALIDATION])
def test_where_moto_validates_otherwise_topology_follows_aws(aws_clients: tuple[Any, Any], policy: dict[str, Any],
                                                            scope: str, refused: bool, evidence: str) -> None:
    sqs, sns = aws_clients
    assert bool([p for p in policy_problems(policy, scope) if not p.warning]) is refused, evidence
    assert _server_refuses(sqs, sns, policy, scope) is not refused, f"moto now does this as AWS does: {evidence}"


def test_the_live_probe_delivers_raw_or_wrapped_as_each_subscription_does() -> None:
    """The probe's subscriptions deliver as the real ones (SNS discards a message of more than 10 attributes
    for a raw subscription only), and a wrapped delivery's marker is read from the SNS envelope."""
    import boto3

    from tests.conftest import AWS_ENDPOINT_URL

    settings = {"endpoint_url": AWS_ENDPOINT_URL, "region_name": "us-east-1", "aws_access_key_id": "testing",
                "aws_secret_access_key": "testing"}
    sqs, sns = boto3.client("sqs", **settings), boto3.client("sns", **settings)
    subscriptions = [{"topic": "events", "queue": "raw", "RawMessageDelivery": True},
                     {"topic": "events", "queue": "wrapped", "RawMessageDelivery": False,
                      "FilterPolicy": {"type": ["paid"]}},
                     {"topic": "events", "queue": "body", "FilterPolicy": {"type": ["paid"]},
                      "FilterPolicyScope": "MessageBody"}]
    with SnsProbe(sqs, sns, "events", subscriptions, wait_seconds=0) as probe:
        raw = {s["Endpoint"].rsplit("-", 1)[1]: sns.get_subscription_attributes(SubscriptionArn=s["SubscriptionArn"])[
            "Attributes"].get("RawMessageDelivery") for s in sns.list_subscriptions_by_topic(
                TopicArn=probe.topic_arn)["Subscriptions"]}
        reached = probe.route_many([({"type": "paid"}, None), (None, {"type": "paid"})])
    assert raw == {"0": "true", "1": "false", "2": "false"}
    assert reached == [{"raw", "wrapped"}, {"raw", "body"}]
