"""SQS's and SNS's model without a server: which policy statements let a topic send to a queue (as IAM
reads them), policies compared by meaning, and the checks `validate` makes, each as AWS's API reference
states the rule (SetQueueAttributes, SetTopicAttributes, Subscribe)."""

from __future__ import annotations

from typing import Any

import pytest

import topology as api
from topology.brokers.aws import policy
from topology.errors import ProblemsError

QUEUE = "arn:aws:sqs:us-east-1:123456789012:billing"
TOPIC = "arn:aws:sns:us-east-1:123456789012:orders"
DOCS = {"Sid": "Allow-SNS-SendMessage", "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
        "Action": "SQS:SendMessage", "Resource": QUEUE, "Condition": {"ArnEquals": {"aws:SourceArn": TOPIC}}}


def _with(**changes: Any) -> dict[str, Any]:
    statement = {**DOCS, **changes}
    return {k: v for k, v in statement.items() if v is not None}


@pytest.mark.parametrize("statement", [
    DOCS,
    _with(Sid=None),
    _with(Principal="*"),
    _with(Principal={"AWS": "*"}),
    _with(Principal={"AWS": ["*"]}),
    _with(Action=["sqs:SendMessage"]),
    _with(Action="sqs:*"),
    _with(Action="sqs:Send*"),
    _with(Action="*"),
    _with(Resource="*"),
    _with(Resource="arn:aws:sqs:*:123456789012:*"),
    _with(Condition={"ArnLike": {"aws:SourceArn": "arn:aws:sns:us-east-1:123456789012:*"}}),
    _with(Condition={"ArnEquals": {"AWS:SourceArn": TOPIC}}),  # condition keys are case-insensitive
    _with(Condition={"StringEquals": {"aws:SourceArn": TOPIC}}),
    _with(Condition={"ArnEqualsIfExists": {"aws:SourceArn": TOPIC}}),
    _with(Condition={"StringEquals": {"aws:SourceAccount": "123456789012"}}),
    _with(Condition={"StringEquals": {"aws:SourceOwner": "123456789012"}}),
    _with(Condition=None),
], ids=lambda s: str(s)[:80])
def test_statements_that_let_the_topic_send(statement: dict[str, Any]) -> None:
    assert policy.grants(statement, QUEUE, TOPIC)
    assert policy.granted_topics({"Statement": [statement]}, QUEUE, [TOPIC, f"{TOPIC}-other"])[0] == TOPIC


@pytest.mark.parametrize("statement", [
    _with(Effect="Deny"),
    _with(Principal={"Service": "events.amazonaws.com"}),
    _with(Principal={"AWS": "arn:aws:iam::123456789012:root"}),
    _with(Action="sqs:ReceiveMessage"),
    _with(Resource="arn:aws:sqs:us-east-1:123456789012:other"),
    _with(Condition={"ArnEquals": {"aws:SourceArn": f"{TOPIC}-other"}}),
    _with(Condition={"StringEquals": {"aws:SourceAccount": "210987654321"}}),
    _with(Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}),  # not one topology can judge
    {**DOCS, "NotAction": "sqs:DeleteQueue"},
], ids=lambda s: str(s)[:80])
def test_statements_that_do_not(statement: dict[str, Any]) -> None:
    assert not policy.grants(statement, QUEUE, TOPIC)


def test_merging_keeps_every_other_statement_and_adds_only_what_is_missing() -> None:
    other = {"Sid": "audit", "Effect": "Allow", "Principal": {"AWS": "210987654321"}, "Action": "sqs:ReceiveMessage",
             "Resource": QUEUE}
    stale = {"Sid": "topology-sns-gone", "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
             "Action": "sqs:SendMessage", "Resource": QUEUE}
    merged = policy.merged({"Version": "2012-10-17", "Statement": [DOCS, other, stale]}, QUEUE,
                           [TOPIC, f"{TOPIC}-2"])
    assert merged is not None
    assert [s["Sid"] for s in merged["Statement"]] == ["Allow-SNS-SendMessage", "audit", "topology-sns-orders-2"]
    assert merged["Statement"][:2] == [DOCS, other]
    assert policy.merged({"Statement": [stale]}, QUEUE, []) is None


def test_policies_of_the_same_meaning_are_one() -> None:
    written = {"Statement": {"Effect": "Allow", "Principal": {"AWS": ["123456789012"]}, "Action": ["sqs:SendMessage"],
                             "Resource": [QUEUE]}}
    stored = {"Version": "2008-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "sqs:SendMessage",
         "Resource": QUEUE}]}
    assert policy.canonical(written) == policy.canonical(stored)
    reordered = {"Version": "2012-10-17", "Statement": [DOCS, {**DOCS, "Sid": "b"}]}
    assert policy.canonical(reordered) == policy.canonical({**reordered, "Statement": reordered["Statement"][::-1]})
    assert policy.canonical({**stored, "Version": "2012-10-17"}) != policy.canonical(stored)


def _problems(document: str) -> list[str]:
    try:
        api.load(document=document)
    except ProblemsError as exc:
        return [p.message for p in exc.problems]
    return []


def _queue(fields: str) -> str:
    return f"version: 1\nsqs:\n  queues:\n    billing.fifo: {{fifo: true, {fields}}}\n"


def _topic(name: str, fields: str, subscriptions: str = "[]") -> str:
    return (f"version: 1\nsqs:\n  queues:\n    billing: {{}}\n    billing.fifo: {{fifo: true}}\n"
            f"sns:\n  topics:\n    {name}: {{{fields}subscriptions: {subscriptions}}}\n")


@pytest.mark.parametrize(("document", "expected"), [
    (_queue("fifo_throughput_limit: perMessageGroupId"),
     "fifo_throughput_limit perMessageGroupId is allowed only with deduplication_scope messageGroup"),
    (_queue("deduplication_scope: queue, fifo_throughput_limit: perMessageGroupId"),
     "fifo_throughput_limit perMessageGroupId is allowed only with deduplication_scope messageGroup"),
    (_queue("sqs_managed_sse_enabled: true, kms_master_key_id: alias/aws/sqs"),
     "a queue has one server-side encryption"),
    (_queue("kms_data_key_reuse_period: 59s"), "kms_data_key_reuse_period must be 60s to 24h in SQS"),
    (_queue("kms_data_key_reuse_period: 25h"), "kms_data_key_reuse_period must be 60s to 24h in SQS"),
    (_queue("policy: {Version: '2012-10-17'}"), "policy needs a `Statement`"),
    (_queue("policy: {Statement: [{Sid: topology-sns-mine, Effect: Allow}]}"),
     "Sids starting with `topology-sns-` are topology's own"),
    (_topic("orders", "tracing_config: Active, "), ""),
    (_topic("orders.fifo", "fifo: true, tracing_config: Active, "), "tracing_config applies to standard topics only"),
    (_topic("orders", "fifo_throughput_scope: MessageGroup, "), "fifo_throughput_scope applies to FIFO topics only"),
    (_topic("orders", "archive_policy: {MessageRetentionPeriod: '30'}, "),
     "archive_policy applies to FIFO topics only"),
    (_topic("orders", "maximum_message_size: 1023, "), "maximum_message_size must be 1KiB to 1MiB in SNS"),
    (_topic("orders", "maximum_message_size: 512KiB, ", "[{protocol: email, endpoint: a@example.com}]"),
     "may have at most 100 subscriptions, each sqs, firehose or lambda; it has email"),
    (_topic("orders", "maximum_message_size: 512KiB, ", "[{queue: billing}]"), ""),
    (_topic("orders.fifo", "fifo: true, ", "[{queue: billing}]"), ""),  # FIFO topics deliver to standard queues
    (_topic("orders", "", "[{queue: billing.fifo}]"), "a standard topic cannot deliver to FIFO queue"),
    (_topic("orders.fifo", "fifo: true, ", "[{protocol: lambda, endpoint: 'arn:aws:lambda:us-east-1:1:function:f'}]"),
     "a FIFO topic delivers only to SQS queues, not to lambda endpoints"),
    (_topic("orders", "", "[{protocol: https, endpoint: 'http://example.com/hook'}]"),
     "a https endpoint is a URL beginning with https://"),
    (_topic("orders", "", "[{protocol: email, endpoint: example.com}]"), "an email endpoint is an email address"),
    (_topic("orders", "", "[{protocol: firehose, endpoint: 'arn:aws:firehose:us-east-1:1:deliverystream/s'}]"),
     "a firehose subscription needs subscription_role_arn"),
    (_topic("orders", "", "[{protocol: email, endpoint: a@example.com, raw_message_delivery: true}]"),
     "raw_message_delivery applies to sqs, http, https and firehose, not email"),
    (_topic("orders", "", "[{protocol: lambda, endpoint: 'arn:aws:lambda:us-east-1:1:function:f', "
                          "delivery_policy: {}}]"), "delivery_policy applies to http and https endpoints, not lambda"),
    (_topic("orders", "", "[{queue: billing, protocol: https, endpoint: 'https://example.com'}]"),
     "a subscription names a `queue` or a `protocol` and an `endpoint`, not both"),
    (_topic("orders", "", "[{protocol: https}]"), "a subscription names a `queue`, or a `protocol` and an `endpoint`"),
])
def test_validate_says_what_aws_refuses(document: str, expected: str) -> None:
    problems = _problems(document)
    if not expected:
        assert problems == []
    else:
        assert any(expected in p for p in problems), problems


def test_subscriptions_to_every_protocol_expand_to_their_own_addresses() -> None:
    loaded = api.load(document=_topic("orders", "", "[{queue: billing}, {protocol: email, endpoint: a@example.com}, "
                                                    "{protocol: email-json, endpoint: a@example.com}, "
                                                    "{protocol: sms, endpoint: '+15555550100'}]"))
    subscriptions = sorted(a for a in loaded.resources if a.startswith("sns/subscription/"))
    assert subscriptions == ["sns/subscription/orders->billing", "sns/subscription/orders->email-json:a@example.com",
                             "sns/subscription/orders->email:a@example.com",
                             "sns/subscription/orders->sms:+15555550100"]
    assert loaded.resources["sqs/queue/billing"].attributes["allow_sns_topics"] == ["orders"]
    assert loaded.resources["sqs/queue/billing"].attributes["tags_on_create"] == {"managed-by": "topology"}
    assert "tags" not in loaded.resources["sqs/queue/billing"].attributes
