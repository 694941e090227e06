"""The static SNS filter-policy evaluator against the server's own filtering, over generated
policies and messages (attribute and body scope). Every disagreement is a bug in the evaluator."""

from __future__ import annotations

import random
from typing import Any

import pytest

from topology.brokers.aws.probe import SnsProbe
from topology.brokers.aws.routing import route_sns
from topology.core.resource import Resource

pytestmark = pytest.mark.aws

KEYS = ["type", "region", "amount", "tier"]
STRINGS = ["paid", "refunded", "created", "eu-west", "eu-north", "us-east", "GOLD", "gold"]


def _rule(rng: random.Random, key: str) -> Any:
    if key == "amount":
        low = rng.choice([0, 10, 100])
        return rng.choice([[low], [{"numeric": [">", low]}], [{"numeric": [">=", low, "<", low + 50]}],
                           [{"exists": rng.choice([True, False])}], [{"anything-but": [low]}]])
    return rng.choice([
        rng.sample(STRINGS, rng.randint(1, 3)),
        [{"prefix": rng.choice(["eu-", "us-", "pa"])}],
        [{"suffix": rng.choice(["-west", "ed", "LD"])}],
        [{"anything-but": rng.sample(STRINGS, 2)}],
        [{"anything-but": rng.choice(STRINGS)}],
        [{"exists": rng.choice([True, False])}],
    ])


def _policy(rng: random.Random) -> dict[str, Any]:
    keys = rng.sample(KEYS, rng.randint(1, 2))
    # Left out here, because moto's server does not implement them as AWS does: `$or` (HTTP 500) and
    # `equals-ignore-case` (never matches). tests/test_expectations.py covers both, statically.
    return {key: _rule(rng, key) for key in keys}


def _message(rng: random.Random) -> dict[str, Any]:
    message: dict[str, Any] = {}
    for key in KEYS:
        if rng.random() < 0.6:
            message[key] = rng.choice([0, 5, 10, 60, 100, 149, 150, 1000]) if key == "amount" else rng.choice(STRINGS)
    return message


@pytest.mark.parametrize(("seed", "scope"), [(1, "MessageAttributes"), (2, "MessageAttributes"), (3, "MessageBody")])
def test_static_filtering_agrees_with_the_server(aws_clients: tuple[Any, Any], seed: int, scope: str) -> None:
    sqs, sns = aws_clients
    rng = random.Random(seed)
    subscriptions = [{"topic": "events", "queue": f"q{i}", "RawMessageDelivery": True,
                      "FilterPolicy": _policy(rng), "FilterPolicyScope": scope} for i in range(25)]
    resources = {"sns/topic/events": Resource("sns.topic", "sns/topic/events", "events", "", None, {})}
    for subscription in subscriptions:
        address = f"sns/subscription/events->{subscription['queue']}"
        resources[address] = Resource("sns.subscription", address, "", "", None, dict(subscription))
    disagreements = []
    delivered = 0
    with SnsProbe(sqs, sns, "events", subscriptions, wait_seconds=0) as probe:
        for _ in range(60):
            message = _message(rng)
            if scope == "MessageBody":
                static = route_sns(resources, "events", body=message)
                live = probe.route(body=message)
            else:
                static = route_sns(resources, "events", attributes=message)
                live = probe.route(attributes=message)
            delivered += len(live)
            if static != live:
                disagreements.append((message, sorted(static - live), sorted(live - static)))
    policies = {s["queue"]: s["FilterPolicy"] for s in subscriptions}
    assert [(m, [(q, policies[q]) for q in extra + missing]) for m, extra, missing in disagreements] == []
    assert delivered > 60  # the corpus really delivers, it does not agree on "nothing" alone
