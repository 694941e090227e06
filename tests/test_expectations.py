"""`topology test`: expectations hold or fail statically; SNS filter policies; --live on RabbitMQ."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from typer.testing import CliRunner

from tests.cli import topology
from tests.conftest import AMQP_URL, RABBITMQ_URL, unique
from topology.brokers.rabbitmq.routing import topic_matches
from topology.cli import app

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize(("pattern", "key", "expected"), [
    ("order.*", "order.created", True), ("order.*", "order", False), ("order.*", "order.a.b", False),
    ("order.#", "order", True), ("#", "", True), ("*", "", False), ("", "", True), ("a.#.b", "a.b", True),
    ("a.#.b", "a.x.y.b", True), ("#.b", "b.a", False), ("*.*", "a.b", True), ("a", "a.b", False),
    # empty words (RabbitMQ splits `a.` into `a` and ``): `*` matches one, `#` any number of them
    ("a.*", "a.", True), ("*.*", ".", True), ("#", ".", True), ("a..b", "a.b", False), ("a.#.b", "a..b", True),
    ("", ".", False),
])
def test_topic_matching(pattern: str, key: str, expected: bool) -> None:
    assert topic_matches(pattern, key) is expected


def test_examples_expectations_hold() -> None:
    for name in ("rabbitmq-retry", "sns-sqs-fanout", "shop"):
        result = CliRunner().invoke(app, ["test", str(EXAMPLES / f"{name}.topology.yaml")])
        assert result.exit_code == 0, result.output
        assert " hold." in result.stdout and "FAIL" not in result.stdout


def test_a_wrong_expectation_fails_with_what_was_delivered(tmp_path: Path) -> None:
    path = tmp_path / "t.topology.yaml"
    path.write_text("""version: 1
rabbitmq:
  vhosts:
    shop:
      exchanges: {orders: {type: topic}}
      queues:
        billing: {bindings: [{exchange: orders, routing_key: "order.*"}]}
        audit: {bindings: [{exchange: orders, routing_key: "#"}]}
sqs:
  queues: {paid: {}, all: {}}
sns:
  topics:
    events:
      subscriptions:
        - {queue: paid, filter_policy: {type: [paid], amount: [{numeric: [">", 100]}]}}
        - {queue: all}
expectations:
  - publish: {vhost: shop, exchange: orders, routing_key: order.created.eu}
    delivered_to: [billing, audit]
  - publish: {sns_topic: events, attributes: {type: paid, amount: 150}}
    delivered_to: [paid, all]
  - publish: {sns_topic: events, attributes: {type: paid, amount: 50}}
    delivered_to: [all]
""")
    result = CliRunner().invoke(app, ["test", str(path)])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == ("FAIL shop/orders key 'order.created.eu': expected ['audit', 'billing'], "
                        "delivered to ['audit'] (static)")
    assert lines[1].startswith("ok   sns topic events") and lines[2].startswith("ok   sns topic events")
    assert lines[-1] == "2 of 3 expectations hold."


@pytest.mark.rabbitmq
def test_live_probes_route_on_the_broker_without_touching_real_queues(tmp_path: Path, rabbitmq_api: Any) -> None:
    vhost = unique("probe")
    path = tmp_path / "t.topology.yaml"
    path.write_text(f"""version: 1
targets:
  rabbit: {{kind: rabbitmq, url: "${{RABBITMQ_URL}}"}}
rabbitmq:
  target: rabbit
  vhosts:
    {vhost}:
      exchanges: {{orders: {{type: topic}}, by-region: {{type: headers}}}}
      queues:
        billing: {{bindings: [{{exchange: orders, routing_key: "order.*"}}]}}
        eu: {{bindings: [{{exchange: by-region, arguments: {{x-match: all, region: eu}}}}]}}
expectations:
  - publish: {{vhost: {vhost}, exchange: orders, routing_key: order.created}}
    delivered_to: [billing]
  - publish: {{vhost: {vhost}, exchange: by-region, headers: {{region: eu}}}}
    delivered_to: [eu]
  - publish: {{vhost: {vhost}, exchange: by-region, headers: {{region: us}}}}
    delivered_to: [eu]
""")
    env = {"RABBITMQ_URL": RABBITMQ_URL}
    try:
        applied = topology("apply", str(path), "--auto-approve", env=env, cwd=tmp_path)
        assert applied.returncode == 0, applied.stderr
        result = topology("test", str(path), "--live", env=env, cwd=tmp_path)
        assert result.returncode == 1
        lines = result.stdout.splitlines()
        assert lines[0].startswith("ok ") and lines[0].endswith("(live)")
        assert lines[1].startswith("ok ") and lines[2].startswith("FAIL ") and "delivered to [] (live)" in lines[2]
        v = quote(vhost, safe="")
        import pika

        parts = urlsplit(AMQP_URL)
        with pika.BlockingConnection(pika.URLParameters(f"{parts.scheme}://{parts.netloc}/{v}")) as connection:
            channel = connection.channel()
            counts = {q: channel.queue_declare(q, passive=True).method.message_count for q in ("billing", "eu")}
        assert counts == {"billing": 0, "eu": 0}  # the probes went to mirrors, not to the real queues
        assert [e["name"] for e in rabbitmq_api.get(f"/api/exchanges/{v}").json()
                if e["name"].startswith("topology-probe")] == []
    finally:
        rabbitmq_api.delete(f"/api/vhosts/{quote(vhost, safe='')}")


_TYPED = """version: 1
targets:
  rabbit: {{kind: rabbitmq, url: "${{RABBITMQ_URL}}"}}
rabbitmq:
  target: rabbit
  vhosts:
    {vhost}:
      exchanges:
        alerts: {{type: headers}}
        orders: {{type: direct}}
        unrouted: {{type: fanout}}
      queues:
        urgent: {{bindings: [{{exchange: alerts, arguments: {{x-match: all, urgent: true}}}}]}}
        scored: {{bindings: [{{exchange: alerts, arguments: {{x-match: any, score: 1.5, tags: [a, 1]}}}}]}}
        billing: {{bindings: [{{exchange: orders, routing_key: paid}}]}}
        parking: {{bindings: [{{exchange: unrouted}}]}}
      policies:
        # unanchored, as real files have them: it also matches the live probe's mirror of `orders`
        unrouted: {{pattern: "orders", apply_to: exchanges, definition: {{alternate-exchange: unrouted}}}}
expectations:
  - publish: {{vhost: {vhost}, exchange: alerts, headers: {{urgent: 1}}}}
    delivered_to: []
  - publish: {{vhost: {vhost}, exchange: alerts, headers: {{urgent: true}}}}
    delivered_to: [urgent]
  - publish: {{vhost: {vhost}, exchange: alerts, headers: {{score: 1.5}}}}
    delivered_to: [scored]
  - publish: {{vhost: {vhost}, exchange: alerts, headers: {{score: !!float 1}}}}
    delivered_to: []
  - publish: {{vhost: {vhost}, exchange: alerts, headers: {{tags: [a, 1]}}}}
    delivered_to: [scored]
  - publish: {{vhost: {vhost}, exchange: alerts, headers: {{tags: [a, 1.0]}}}}
    delivered_to: []
  - publish: {{vhost: {vhost}, exchange: alerts, headers: {{tags: [a, true]}}}}
    delivered_to: []
  - publish: {{vhost: {vhost}, exchange: orders, routing_key: paid}}
    delivered_to: [billing]
  - publish: {{vhost: {vhost}, exchange: orders, routing_key: refunded}}
    delivered_to: [parking]
"""


def test_typed_headers_and_policy_alternate_exchanges_statically(tmp_path: Path) -> None:
    """`true` is not `1` to RabbitMQ; `1.0` is `1` but `[a, 1.0]` is not `[a, 1]` (inside an array the
    types count); `1.5` is a header like any other; an alternate exchange set by a policy catches what
    its exchange cannot route."""
    path = tmp_path / "t.topology.yaml"
    path.write_text(_TYPED.format(vhost="shop"))
    result = CliRunner().invoke(app, ["test", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "9 of 9 expectations hold."


@pytest.mark.rabbitmq
def test_typed_headers_and_policy_alternate_exchanges_live(tmp_path: Path, rabbitmq_api: Any) -> None:
    """The same, through the broker: a float header is sent (as an AMQP double), and the vhost's real
    policy, whose pattern matches the mirror's names too, never takes a probe to a real queue."""
    vhost = unique("typed")
    path = tmp_path / "t.topology.yaml"
    path.write_text(_TYPED.format(vhost=vhost))
    env = {"RABBITMQ_URL": RABBITMQ_URL}
    v = quote(vhost, safe="")
    try:
        applied = topology("apply", str(path), "--auto-approve", env=env, cwd=tmp_path)
        assert applied.returncode == 0, applied.stderr
        result = topology("test", str(path), "--live", env=env, cwd=tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.splitlines()[-1] == "9 of 9 expectations hold."
        queues = sorted(q["name"] for q in rabbitmq_api.get(f"/api/queues/{v}").json())
        assert queues == ["billing", "parking", "scored", "urgent"]
        import pika

        parts = urlsplit(AMQP_URL)
        with pika.BlockingConnection(pika.URLParameters(f"{parts.scheme}://{parts.netloc}/{v}")) as connection:
            channel = connection.channel()
            counts = {q: channel.queue_declare(q, passive=True).method.message_count for q in queues}
        assert counts == dict.fromkeys(queues, 0)  # no probe reached a real queue
    finally:
        rabbitmq_api.delete(f"/api/vhosts/{v}")


@pytest.mark.rabbitmq
def test_an_internal_exchange_fails_its_expectation_live_as_statically(tmp_path: Path, rabbitmq_api: Any) -> None:
    """Publishing to an internal exchange is that expectation's failure, said as `topology test` says it;
    the other expectations are still checked (the broker would close the probe's channel)."""
    vhost = unique("internal")
    path = tmp_path / "t.topology.yaml"
    path.write_text(f"""version: 1
targets:
  rabbit: {{kind: rabbitmq, url: "${{RABBITMQ_URL}}"}}
rabbitmq:
  target: rabbit
  vhosts:
    {vhost}:
      exchanges: {{hidden: {{type: fanout, internal: true}}, front: {{type: direct}}}}
      exchange_bindings: [{{source: front, destination: hidden, routing_key: k}}]
      queues: {{q: {{bindings: [{{exchange: hidden}}]}}}}
expectations:
  - publish: {{vhost: {vhost}, exchange: hidden}}
    delivered_to: [q]
  - publish: {{vhost: {vhost}, exchange: front, routing_key: k}}
    delivered_to: [q]
""")
    env = {"RABBITMQ_URL": RABBITMQ_URL}
    try:
        assert topology("apply", str(path), "--auto-approve", env=env, cwd=tmp_path).returncode == 0
        static = topology("test", str(path), env=env, cwd=tmp_path)
        live = topology("test", str(path), "--live", env=env, cwd=tmp_path)
        failure = f"FAIL {vhost}/hidden key '': exchange `hidden` is internal: clients cannot publish to it"
        assert static.stdout.splitlines()[0] == live.stdout.splitlines()[0] == failure, live.stdout + live.stderr
        assert live.stdout.splitlines()[1:] == [f"ok   {vhost}/front key 'k' -> ['q'] (live)",
                                                "1 of 2 expectations hold."]
        assert live.returncode == 1 and live.stderr == ""
    finally:
        rabbitmq_api.delete(f"/api/vhosts/{quote(vhost, safe='')}")


def test_what_amqp_or_the_management_api_cannot_carry_is_said_at_validate(tmp_path: Path) -> None:
    path = tmp_path / "t.topology.yaml"
    path.write_text("""version: 1
rabbitmq:
  vhosts:
    v:
      exchanges: {h: {type: headers}}
      queues:
        q:
          bindings:
            - {exchange: h, arguments: {x-match: every, when: 2024-01-01, none: null, deep: [1, null]}}
expectations:
  - publish:
      vhost: v
      exchange: h
      headers: {day: 2024-01-01, old: 1969-12-31T23:59:59Z, huge: 9223372036854775808, inf: .inf, ok: 1.5,
                table: {k: [2024-01-01]}}
    delivered_to: [q]
""")
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code != 0
    problems = {line.split(" ", 1)[1].split(":", 1)[0] for line in result.output.splitlines() if ".yaml:" in line}
    arguments = "rabbitmq.vhosts.v.queues.q.bindings[0].arguments"
    headers = "expectations[0].publish.headers"
    assert problems == {f"{arguments}.x-match", f"{arguments}.when", f"{arguments}.none", f"{arguments}.deep[1]",
                        f"{headers}.day", f"{headers}.old", f"{headers}.huge", f"{headers}.inf",
                        f"{headers}.table.k[0]"}
    assert "x-match 'every' is not one RabbitMQ takes" in result.output
    assert "refuses null in binding arguments" in result.output


def test_a_policy_alternate_exchange_not_declared_is_warned(tmp_path: Path) -> None:
    path = tmp_path / "t.topology.yaml"
    path.write_text("""version: 1
rabbitmq:
  vhosts:
    v:
      exchanges: {orders: {type: direct}, unrouted: {type: fanout}}
      policies:
        ae: {pattern: "^orders$", apply_to: exchanges, definition: {alternate-exchange: unroutd}}
        builtin: {pattern: "^x", apply_to: exchanges, definition: {alternate-exchange: amq.fanout}}
""")
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert ("rabbitmq.vhosts.v.policies.ae.definition.alternate-exchange: warning: alternate-exchange `unroutd` "
            "is not declared in vhost `v`: RabbitMQ drops what it would receive (did you mean `unrouted`?)"
            ) in result.output
    assert "1 warning" in result.output


def test_sns_filter_rules_moto_does_not_implement() -> None:
    """`$or` and `equals-ignore-case`, as AWS documents them (moto's server cannot check these)."""
    from topology.brokers.aws.routing import route_sns
    from topology.core.resource import Resource

    def routed(policy: dict[str, object], message: dict[str, object], scope: str = "MessageAttributes") -> bool:
        resources = {
            "sns/topic/t": Resource("sns.topic", "sns/topic/t", "t", "", None, {}),
            "sns/subscription/t->q": Resource("sns.subscription", "sns/subscription/t->q", "t->q", "", None, {
                "topic": "t", "queue": "q", "FilterPolicy": policy, "FilterPolicyScope": scope}),
        }
        if scope == "MessageBody":
            return route_sns(resources, "t", body=message) == {"q"}
        return route_sns(resources, "t", attributes=message) == {"q"}

    assert routed({"tier": [{"equals-ignore-case": "GOLD"}]}, {"tier": "gold"})
    assert not routed({"tier": [{"equals-ignore-case": "GOLD"}]}, {"tier": "golden"})
    either = {"$or": [{"type": ["paid"]}, {"amount": [{"numeric": [">", 100]}]}]}
    assert routed(either, {"type": "paid"}) and routed(either, {"amount": 150})
    assert not routed(either, {"type": "created", "amount": 50})
    nested = {"order": {"region": [{"prefix": "eu-"}]}}
    assert routed(nested, {"order": {"region": "eu-west"}}, "MessageBody")
    assert not routed(nested, {"order": {"region": "us-east"}}, "MessageBody")


@pytest.mark.aws
def test_live_sns_checks_use_temporary_queues(tmp_path: Path, aws_clients: tuple[Any, Any]) -> None:
    from tests.conftest import AWS_ENDPOINT_URL

    sqs, _sns = aws_clients
    prefix = unique("live")
    path = tmp_path / "t.topology.yaml"
    path.write_text(f"""version: 1
targets:
  aws: {{kind: aws, region: us-east-1, endpoint_url: "{AWS_ENDPOINT_URL}"}}
sqs:
  target: aws
  queues: {{{prefix}-paid: {{}}, {prefix}-all: {{}}}}
sns:
  target: aws
  topics:
    {prefix}-events:
      subscriptions:
        - {{queue: {prefix}-paid, filter_policy: {{type: [paid], amount: [{{numeric: [">", 100]}}]}}}}
        - {{queue: {prefix}-all}}
expectations:
  - publish: {{sns_topic: {prefix}-events, attributes: {{type: paid, amount: 150}}}}
    delivered_to: [{prefix}-paid, {prefix}-all]
  - publish: {{sns_topic: {prefix}-events, attributes: {{type: paid, amount: 50}}}}
    delivered_to: [{prefix}-paid, {prefix}-all]
""")
    assert topology("apply", str(path), "--auto-approve").returncode == 0
    result = topology("test", str(path), "--live")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith("ok ") and lines[0].endswith("(live)")
    assert lines[1].startswith("FAIL ") and f"delivered to ['{prefix}-all'] (live)" in lines[1]
    for name in (f"{prefix}-paid", f"{prefix}-all"):  # the real queues received nothing
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])[
            "Attributes"]["ApproximateNumberOfMessages"] == "0"
    assert [u for u in sqs.list_queues().get("QueueUrls", []) if "topology-probe" in u] == []
