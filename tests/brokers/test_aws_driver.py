"""The SQS/SNS driver on moto's server, with a thin fault-injecting layer for what AWS does and moto
does not: the 60-second QueueDeletedRecently rule, ListQueues pages of at most 1,000, eventual
consistency of SetQueueAttributes, access denied and bad credentials. The wrapper (tests/aws_clients.py,
around the clients the driver makes) changes only the answers AWS would give; every call still goes
to the real server."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.aws_clients import AwsDrivers, Faulty, aws_driver_fixture  # noqa: F401 - the aws_driver fixture
from tests.cli import topology, with_file
from tests.conftest import AWS_ENDPOINT_URL, unique
from topology.brokers.base import Selection
from topology.engine.plan import AttributeChange, Change
from topology.errors import BrokerUnavailable

pytestmark = pytest.mark.aws


def _error(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, operation)


def _create(name: str, attributes: dict[str, Any]) -> Change:
    return Change(address=f"sqs/queue/{name}", kind="sqs.queue", target="aws", name=name, action="create",
                  after=attributes)


def test_create_waits_out_queue_deleted_recently(aws_clients: tuple[Any, Any], aws_driver: AwsDrivers) -> None:
    sqs, _sns = aws_clients
    refusals = [2]

    def create_queue(real: Any, **kwargs: Any) -> Any:
        if refusals[0]:  # AWS refuses a name deleted less than 60 s ago; moto does not
            refusals[0] -= 1
            raise _error("AWS.SimpleQueueService.QueueDeletedRecently", "CreateQueue")
        return real(**kwargs)

    faulty = Faulty(create_queue=create_queue)
    name = unique("recent")
    [result] = aws_driver(sqs=faulty).apply([_create(name, {"FifoQueue": False, "VisibilityTimeout": 40})], {})
    assert result.ok, result.error
    assert faulty.calls == ["create_queue"] * 3
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])["Attributes"] == {
        "VisibilityTimeout": "40"}


def test_list_queues_follows_pages(aws_clients: tuple[Any, Any], aws_driver: AwsDrivers) -> None:
    sqs, _sns = aws_clients
    names = sorted(unique(f"page{i}") for i in range(7))
    for name in names:
        sqs.create_queue(QueueName=name)

    def list_queues(real: Any, **kwargs: Any) -> Any:  # AWS pages; here 3 to a page
        urls = sorted(real(MaxResults=1000).get("QueueUrls", []))
        start = int(kwargs.get("NextToken", 0))
        page: dict[str, Any] = {"QueueUrls": urls[start:start + 3]}
        if start + 3 < len(urls):
            page["NextToken"] = str(start + 3)
        return page

    faulty = Faulty(list_queues=list_queues)
    live = aws_driver(sqs=faulty).inspect(Selection(frozenset(f"sqs/queue/{n}" for n in names)))
    assert sorted(live) == [f"sqs/queue/{n}" for n in names]
    assert faulty.calls.count("list_queues") >= 3


def test_attribute_changes_are_read_back_until_they_agree(aws_clients: tuple[Any, Any],
                                                          aws_driver: AwsDrivers) -> None:
    sqs, _sns = aws_clients
    name = unique("consistent")
    sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "30"})
    stale = [2]

    def get_queue_attributes(real: Any, **kwargs: Any) -> Any:
        answer = real(**kwargs)
        if stale[0] and "VisibilityTimeout" in answer.get("Attributes", {}):
            stale[0] -= 1  # the first reads after a change still show the old value
            answer["Attributes"]["VisibilityTimeout"] = "30"
        return answer

    faulty = Faulty(get_queue_attributes=get_queue_attributes)
    change = Change(address=f"sqs/queue/{name}", kind="sqs.queue", target="aws", name=name, action="update",
                    before={"FifoQueue": False, "VisibilityTimeout": 30},
                    after={"FifoQueue": False, "VisibilityTimeout": 60},
                    attributes=(AttributeChange(name="VisibilityTimeout", before=30, after=60),))
    [result] = aws_driver(sqs=faulty).apply([change], {})
    assert result.ok, result.error
    assert stale[0] == 0 and faulty.calls.count("get_queue_attributes") >= 3

    stale[0] = 10_000  # never agrees: a clear failure, not a hang
    again = dataclasses.replace(change, after={"FifoQueue": False, "VisibilityTimeout": 90})
    [result] = aws_driver(sqs=faulty).apply([again], {})
    assert not result.ok and "does not show it yet" in (result.error or "")


def test_access_denied_names_the_action(aws_driver: AwsDrivers) -> None:
    def denied(real: Any, **kwargs: Any) -> Any:
        raise _error("AccessDenied", "CreateQueue")

    [result] = aws_driver(sqs=Faulty(create_queue=denied)).apply([_create(unique("denied"), {})], {})
    assert not result.ok and "access denied for sqs:CreateQueue" in (result.error or "")


def test_bad_credentials_and_unreachable_endpoints_are_one_sentence(aws_driver: AwsDrivers) -> None:
    def rejected(real: Any, **kwargs: Any) -> Any:
        raise _error("InvalidClientTokenId", "ListQueues")

    queues = Selection(frozenset({"sqs/queue/billing"}))
    with pytest.raises(BrokerUnavailable, match=r"rejected the AWS credentials \(InvalidClientTokenId\)"):
        aws_driver(sqs=Faulty(list_queues=rejected)).inspect(queues)
    with pytest.raises(BrokerUnavailable, match=r"SQS at http://127\.0\.0\.1:1 is not reachable"):
        aws_driver(endpoint_url="http://127.0.0.1:1").inspect(queues)


def test_subscription_policy_is_merged_into_the_queue_policy(tmp_path: Path, aws_clients: tuple[Any, Any]) -> None:
    sqs, sns = aws_clients
    prefix = unique("policy")
    url = sqs.create_queue(QueueName=f"{prefix}-billing")["QueueUrl"]
    theirs = {"Sid": "ops-audit", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
              "Action": "sqs:ReceiveMessage", "Resource": "*"}
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({"Version": "2012-10-17",
                                                                             "Statement": [theirs]})})
    document = f"""version: 1
targets:
  aws: {{kind: aws, region: us-east-1, endpoint_url: "{AWS_ENDPOINT_URL}"}}
sqs:
  target: aws
  queues:
    {prefix}-billing: {{visibility_timeout: 45s}}
sns:
  target: aws
  topics:
    {prefix}-events:
      subscriptions: [{{queue: {prefix}-billing, filter_policy: {{type: [paid]}}}}]
"""
    path = tmp_path / "t.topology.yaml"
    path.write_text(document)
    applied = topology("apply", str(path), "--auto-approve")
    assert applied.returncode == 0, applied.stderr
    policy = json.loads(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"])
    sids = [s["Sid"] for s in policy["Statement"]]
    assert sids == ["ops-audit", f"topology-sns-{prefix}-events"]  # theirs kept, ours added
    topic_arn = sns.create_topic(Name=f"{prefix}-events")["TopicArn"]
    assert policy["Statement"][1]["Condition"] == {"ArnEquals": {"aws:SourceArn": topic_arn}}

    # An existing subscription is changed with SetSubscriptionAttributes, not re-subscribed.
    path.write_text(document.replace("type: [paid]", "type: [paid, refunded]"))
    updated = topology("apply", str(path), "--auto-approve")
    assert updated.returncode == 0, updated.stderr
    [subscription] = sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
    attributes = sns.get_subscription_attributes(SubscriptionArn=subscription["SubscriptionArn"])["Attributes"]
    assert json.loads(attributes["FilterPolicy"]) == {"type": ["paid", "refunded"]}
    plan = topology("plan", str(path))
    assert "No changes" in plan.stdout



def test_export_then_plan_gives_no_changes(tmp_path: Path, aws_clients: tuple[Any, Any]) -> None:
    prefix = unique("export")
    source = tmp_path / "source.topology.yaml"
    source.write_text(f"""version: 1
targets:
  aws: {{kind: aws, region: us-east-1, endpoint_url: "{AWS_ENDPOINT_URL}"}}
sqs:
  target: aws
  queues:
    {prefix}-billing: {{visibility_timeout: 45s, dead_letter: {{max_receives: 4}}, retry: {{delays: [30s]}},
                       tags: {{team: payments}}}}
    {prefix}-invoices.fifo: {{fifo: true, content_based_deduplication: true}}
sns:
  target: aws
  topics:
    {prefix}-events:
      subscriptions:
        - {{queue: {prefix}-billing, raw_message_delivery: true, filter_policy: {{type: [paid]}}}}
""")
    env = {"TOPOLOGY_TARGET_AWS": AWS_ENDPOINT_URL}
    applied = topology("apply", str(source), "--auto-approve", env=env)
    assert applied.returncode == 0, applied.stderr
    exported = tmp_path / "exported.topology.yaml"
    result = topology("export", "--target", f"aws={AWS_ENDPOINT_URL}", "--kind", "aws", "--to", str(exported),
                      env=env)
    assert result.returncode == 0, result.stderr
    text = exported.read_text()
    assert f"{prefix}-billing-retry-30s:" in text and "filter_policy:" in text and "team: payments" in text
    plan = topology("plan", str(exported), "--detailed-exitcode", env=env)
    assert plan.returncode == 0, plan.stdout + plan.stderr


def test_redrive_allow_policy_as_aws_keeps_it(aws_driver: AwsDrivers) -> None:
    """moto drops RedriveAllowPolicy; the wrapper keeps it as AWS does, so what topology writes and
    reads back can be checked."""
    kept: dict[str, str] = {}

    def create_queue(real: Any, **kwargs: Any) -> Any:
        answer = real(**kwargs)
        if "RedriveAllowPolicy" in kwargs.get("Attributes", {}):
            kept[answer["QueueUrl"]] = kwargs["Attributes"]["RedriveAllowPolicy"]
        return answer

    def get_queue_attributes(real: Any, **kwargs: Any) -> Any:
        answer = real(**kwargs)
        if kwargs["QueueUrl"] in kept:
            answer.setdefault("Attributes", {})["RedriveAllowPolicy"] = kept[kwargs["QueueUrl"]]
        return answer

    faulty = Faulty(create_queue=create_queue, get_queue_attributes=get_queue_attributes)
    name, source = unique("allow"), unique("source")
    attributes = {"FifoQueue": False, "RedriveAllowPolicy": {"redrivePermission": "byQueue",
                                                             "sourceQueues": [source]}}
    driver = aws_driver(sqs=faulty)
    [result] = driver.apply([_create(name, attributes)], {})
    assert result.ok, result.error
    [written] = kept.values()
    assert json.loads(written) == {"redrivePermission": "byQueue",
                                   "sourceQueueArns": [f"arn:aws:sqs:us-east-1:123456789012:{source}"]}
    live = driver.inspect(Selection(frozenset({f"sqs/queue/{name}"})))
    assert live[f"sqs/queue/{name}"].attributes["RedriveAllowPolicy"] == attributes["RedriveAllowPolicy"]


def test_subscription_dead_letter_round_trips(tmp_path: Path, aws_clients: tuple[Any, Any]) -> None:
    _sqs, sns = aws_clients
    prefix = unique("subdlq")
    path = tmp_path / "t.topology.yaml"
    path.write_text(f"""version: 1
targets:
  aws: {{kind: aws, region: us-east-1, endpoint_url: "{AWS_ENDPOINT_URL}"}}
sqs:
  target: aws
  queues: {{{prefix}-billing: {{}}, {prefix}-undeliverable: {{}}}}
sns:
  target: aws
  topics:
    {prefix}-events:
      subscriptions: [{{queue: {prefix}-billing, dead_letter: {{queue: {prefix}-undeliverable}}}}]
""")
    applied = topology("apply", str(path), "--auto-approve")
    assert applied.returncode == 0, applied.stderr
    topic_arn = sns.create_topic(Name=f"{prefix}-events")["TopicArn"]
    [subscription] = sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
    redrive = sns.get_subscription_attributes(SubscriptionArn=subscription["SubscriptionArn"])["Attributes"][
        "RedrivePolicy"]
    assert json.loads(redrive)["deadLetterTargetArn"].endswith(f":{prefix}-undeliverable")
    plan = topology("plan", str(path), "--detailed-exitcode")
    assert plan.returncode == 0, plan.stdout + plan.stderr


@pytest.mark.parametrize("endpoint", ["localhost:4566", "http//localhost:4566"])
def test_an_endpoint_that_is_not_a_url_is_one_sentence(tmp_path: Path, endpoint: str) -> None:
    """botocore refuses such an endpoint with a ValueError when the client is made: said, not a crash."""
    text = (f"version: 1\ntargets:\n  aws: {{kind: aws, region: us-east-1, endpoint_url: '{endpoint}'}}\n"
            "sqs:\n  target: aws\n  queues:\n    q: {}\n")
    result = with_file(tmp_path, text, "plan")
    assert result.returncode == 1
    assert f"the aws target's endpoint_url '{endpoint}' is not a URL" in result.stderr
    assert "unexpectedly" not in result.stderr and "Traceback" not in result.stderr


def _tags(sqs: Any, name: str) -> dict[str, str]:
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    return dict(sqs.list_queue_tags(QueueUrl=url).get("Tags", {}))


_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def test_adopted_queues_and_topics_plan_no_change_and_only_created_ones_are_marked(
        tmp_path: Path, aws_clients: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """Queues and topics made by hand, with and without tags, exported: the plan is empty (no `managed-by`
    tag update); the tags a file declares are applied, and only what topology creates is tagged
    managed-by: topology."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    sqs, sns = aws_clients
    prefix = unique("adopt")
    sqs.create_queue(QueueName=f"{prefix}-billing", Attributes={"VisibilityTimeout": "45"}, tags={"team": "payments"})
    sqs.create_queue(QueueName=f"{prefix}-plain")
    topic_arn = sns.create_topic(Name=f"{prefix}-events", Tags=[{"Key": "team", "Value": "payments"}])["TopicArn"]
    sns.create_topic(Name=f"{prefix}-bare")
    exported = tmp_path / "exported.topology.yaml"
    env = {"TOPOLOGY_TARGET_AWS": AWS_ENDPOINT_URL}
    result = topology("export", "--target", f"aws={AWS_ENDPOINT_URL}", "--kind", "aws", "--to", str(exported),
                      "--include", f"sqs/queue/{prefix}-*", "--include", f"sns/topic/{prefix}-*", env=env)
    assert result.returncode == 0, result.stderr
    assert "managed-by" not in exported.read_text()
    plan = topology("plan", str(exported), "--detailed-exitcode", env=env)
    assert plan.returncode == 0, plan.stdout + plan.stderr

    path = tmp_path / "t.topology.yaml"
    path.write_text(f"""version: 1
targets:
  aws: {{kind: aws, region: us-east-1, endpoint_url: "{AWS_ENDPOINT_URL}"}}
sqs:
  target: aws
  queues:
    {prefix}-billing: {{tags: {{team: payments, cost-centre: "7"}}}}
    {prefix}-plain: {{}}
    {prefix}-new: {{tags: {{team: payments}}}}
sns:
  target: aws
  topics:
    {prefix}-events: {{tags: {{team: payments}}}}
""")
    import topology as api

    changes = {c.address: [a.name for a in c.attributes] for c in api.plan(path, environ=_CREDENTIALS).changes}
    assert changes == {f"sqs/queue/{prefix}-billing": ["tags"],
                       f"sqs/queue/{prefix}-new": ["FifoQueue", "tags", "tags_on_create"]}
    applied = topology("apply", str(path), "--auto-approve")
    assert applied.returncode == 0, applied.stderr
    assert _tags(sqs, f"{prefix}-billing") == {"team": "payments", "cost-centre": "7"}
    assert _tags(sqs, f"{prefix}-plain") == {}
    assert _tags(sqs, f"{prefix}-new") == {"team": "payments", "managed-by": "topology"}
    assert sns.list_tags_for_resource(ResourceArn=topic_arn)["Tags"] == [{"Key": "team", "Value": "payments"}]
    assert topology("plan", str(path), "--detailed-exitcode").returncode == 0


_ACCOUNT = "123456789012"


def _fanout_grant(variant: str, queue_arn: str, topic_arn: str) -> dict[str, Any]:
    """A statement of a queue's policy that lets the topic send, in one of the ways real policies write it:
    the AWS documentation's own (SQS:SendMessage, Service principal, ArnEquals), and its equivalents."""
    grant: dict[str, Any] = {"Sid": "Allow-SNS-SendMessage", "Effect": "Allow",
                             "Principal": {"Service": "sns.amazonaws.com"}, "Action": "SQS:SendMessage",
                             "Resource": queue_arn, "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}}}
    changed: dict[str, dict[str, Any]] = {
        "aws-docs": {},
        "any-sid": {"Sid": "1"},
        "no-sid": {"Sid": None},
        "principal-star": {"Principal": "*"},
        "principal-aws-star": {"Principal": {"AWS": "*"}},
        "principal-list": {"Principal": {"Service": ["sns.amazonaws.com", "events.amazonaws.com"]}},
        "action-list": {"Action": ["sqs:SendMessage", "sqs:GetQueueAttributes"]},
        "action-all": {"Action": "sqs:*"},
        "resource-star": {"Resource": "*"},
        "resource-list": {"Resource": [queue_arn]},
        "arn-like-exact": {"Condition": {"ArnLike": {"aws:SourceArn": topic_arn}}},
        "arn-like-pattern": {"Condition": {"ArnLike": {"aws:SourceArn": topic_arn.rsplit("-", 1)[0] + "-*"}}},
        "condition-list": {"Condition": {"ArnEquals": {"aws:SourceArn": ["arn:aws:sns:us-east-1:1:x", topic_arn]}}},
        "source-account": {"Condition": {"StringEquals": {"aws:SourceAccount": _ACCOUNT}}},
    }
    grant.update(changed[variant])
    return {k: v for k, v in grant.items() if v is not None}


GRANTS = ["aws-docs", "any-sid", "no-sid", "principal-star", "principal-aws-star", "principal-list", "action-list",
          "action-all", "resource-star", "resource-list", "arn-like-exact", "arn-like-pattern", "condition-list",
          "source-account"]


def _fanout_file(prefix: str, visibility: str) -> str:
    return f"""version: 1
targets:
  aws: {{kind: aws, region: us-east-1, endpoint_url: "{AWS_ENDPOINT_URL}"}}
sqs:
  target: aws
  queues:
    {prefix}-billing: {{visibility_timeout: {visibility}}}
sns:
  target: aws
  topics:
    {prefix}-events:
      subscriptions: [{{queue: {prefix}-billing}}]
"""


@pytest.mark.parametrize("variant", GRANTS)
def test_an_existing_equivalent_grant_is_recognised_and_kept(variant: str, aws_clients: tuple[Any, Any],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A queue whose policy already lets the topic send (the AWS documentation's statement, any Sid, and
    its equivalents) plans no grant, and an apply that rewrites the policy keeps that statement as it
    is and adds no duplicate."""
    import topology as api

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    sqs, sns = aws_clients
    prefix = unique(variant)
    url = sqs.create_queue(QueueName=f"{prefix}-billing", Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    topic_arn = sns.create_topic(Name=f"{prefix}-events")["TopicArn"]
    policy = {"Version": "2012-10-17", "Id": "fan-out", "Statement": [_fanout_grant(variant, queue_arn, topic_arn)]}
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)

    assert api.plan(document=_fanout_file(prefix, "30s")).is_empty
    report = api.apply(document=_fanout_file(prefix, "40s"))  # the policy is written back with the change
    assert report.ok
    written = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert written["VisibilityTimeout"] == "40"
    assert json.loads(written["Policy"]) == policy
    assert api.plan(document=_fanout_file(prefix, "40s")).is_empty


def test_a_grant_for_another_topic_is_kept_and_the_missing_one_added(aws_clients: tuple[Any, Any],
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import topology as api

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    sqs, sns = aws_clients
    prefix = unique("other")
    url = sqs.create_queue(QueueName=f"{prefix}-billing")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    topic_arn = sns.create_topic(Name=f"{prefix}-events")["TopicArn"]
    theirs = _fanout_grant("aws-docs", queue_arn, f"arn:aws:sns:us-east-1:{_ACCOUNT}:{prefix}-audit")
    denied = {**_fanout_grant("aws-docs", queue_arn, topic_arn), "Sid": "deny", "Effect": "Deny"}
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({"Version": "2012-10-17",
                                                                             "Statement": [theirs, denied]})})
    plan = api.plan(document=_fanout_file(prefix, "30s"))
    [queue] = [c for c in plan.changes if c.kind == "sqs.queue"]
    assert [(a.name, a.before, a.after) for a in queue.attributes] == [
        ("allow_sns_topics", [f"{prefix}-audit"], [f"{prefix}-events"])]  # a Deny grants nothing
    assert api.apply(plan, document=_fanout_file(prefix, "30s")).ok
    written = json.loads(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"])
    assert [s.get("Sid") for s in written["Statement"]] == ["Allow-SNS-SendMessage", "deny",
                                                            f"topology-sns-{prefix}-events"]
    assert written["Statement"][:2] == [theirs, denied]
    assert api.plan(document=_fanout_file(prefix, "30s")).is_empty


def test_a_subscription_pending_confirmation_is_said_so_and_never_changed_blindly(
        aws_clients: tuple[Any, Any], aws_driver: AwsDrivers) -> None:
    """AWS lists a subscription its endpoint has not confirmed with SubscriptionArn "PendingConfirmation"
    (moto confirms every one at once): inspect reports it as such, and a change or a delete of it is
    refused in one sentence, since SNS gives no ARN to make it with."""
    _sqs, sns = aws_clients
    prefix = unique("pending")
    topic_arn = sns.create_topic(Name=f"{prefix}-t")["TopicArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="email", Endpoint=f"{prefix}@example.com")

    def listed(real: Any, **kwargs: Any) -> Any:
        answer = real(**kwargs)
        for subscription in answer.get("Subscriptions", []):
            if subscription["Protocol"] == "email":
                subscription["SubscriptionArn"] = "PendingConfirmation"
        return answer

    driver = aws_driver(sns=Faulty(list_subscriptions_by_topic=listed))
    name = f"{prefix}-t->email:{prefix}@example.com"
    live = driver.inspect(Selection(frozenset({f"sns/subscription/{name}"})))
    assert live[f"sns/subscription/{name}"].attributes == {
        "topic": f"{prefix}-t", "protocol": "email", "endpoint": f"{prefix}@example.com", "PendingConfirmation": True}
    before = live[f"sns/subscription/{name}"].attributes
    delete = Change(address=f"sns/subscription/{name}", kind="sns.subscription", target="aws", name=name,
                    action="delete", before=before)
    update = Change(address=f"sns/subscription/{name}", kind="sns.subscription", target="aws", name=name,
                    action="update", before=before, after={**before, "FilterPolicy": {"kind": ["paid"]}},
                    attributes=(AttributeChange(name="FilterPolicy", after={"kind": ["paid"]}),))
    for result in aws_driver(sns=Faulty(list_subscriptions_by_topic=listed)).apply([delete, update], {}):
        assert not result.ok and "is pending confirmation: SNS gives no ARN to change or remove it" in (
            result.error or ""), result
    assert len(sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]) == 1


def test_a_queue_policy_nobody_declared_survives_an_attribute_change(aws_clients: tuple[Any, Any],
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """AWS keeps a queue's policy when SetQueueAttributes changes something else; moto drops it: the
    driver sends the queue's own policy back with the change, right on both."""
    import topology as api

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    sqs, _sns = aws_clients
    prefix = unique("keep")
    policy = {"Version": "2012-10-17", "Statement": [{"Sid": "audit", "Effect": "Allow", "Principal": {
        "AWS": "arn:aws:iam::210987654321:root"}, "Action": "sqs:ReceiveMessage", "Resource": "*"}]}
    url = sqs.create_queue(QueueName=f"{prefix}-q", Attributes={"Policy": json.dumps(policy)})["QueueUrl"]
    document = (f"version: 1\ntargets:\n  aws: {{kind: aws, region: us-east-1, endpoint_url: '{AWS_ENDPOINT_URL}'}}\n"
                f"sqs:\n  target: aws\n  queues:\n    {prefix}-q: {{visibility_timeout: 40s}}\n")
    assert api.apply(document=document, environ=_CREDENTIALS).ok
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["VisibilityTimeout"] == "40" and json.loads(attributes["Policy"]) == policy


def test_a_subscription_its_queue_policy_does_not_allow_is_said_and_planned_fixed(
        tmp_path: Path, aws_clients: tuple[Any, Any]) -> None:
    """A fan-out whose queue policy lets no topic send delivers nothing on AWS. Adopted, the export says
    so next to the queue, and the plan's one change is the grant the subscription needs."""
    sqs, sns = aws_clients
    prefix = unique("ungranted")
    url = sqs.create_queue(QueueName=f"{prefix}-billing")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    topic_arn = sns.create_topic(Name=f"{prefix}-events")["TopicArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    exported = tmp_path / "exported.topology.yaml"
    env = {"TOPOLOGY_TARGET_AWS": AWS_ENDPOINT_URL}
    result = topology("export", "--target", f"aws={AWS_ENDPOINT_URL}", "--kind", "aws", "--to", str(exported),
                      "--include", f"*/{prefix}-*", env=env)
    assert result.returncode == 0, result.stderr
    assert f"# no statement of queue {prefix}-billing's policy lets {prefix}-events send to it" in exported.read_text()
    plan = topology("plan", str(exported), "--detailed-exitcode", env=env)
    assert plan.returncode == 2 and "allow_sns_topics" in plan.stdout and "Plan: 0 to create, 1 to update" in \
        plan.stdout, plan.stdout
    assert topology("apply", str(exported), "--auto-approve", env=env).returncode == 0
    assert topology("plan", str(exported), "--detailed-exitcode", env=env).returncode == 0


def test_what_topology_does_not_manage_is_exported_as_a_comment(aws_clients: tuple[Any, Any],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """An attribute AWS reports that topology does not know (a subscription's ReplayPolicy, moto has no
    archive replay; a newer topic or queue attribute) is named in a comment, never dropped; the rest of
    the file still plans empty."""
    from topology.brokers.aws.driver import AwsDriver
    from topology.engine.export import export_text

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    sqs, sns = aws_clients
    prefix = unique("unknown")
    queue_arn, topic_arn = (f"arn:aws:sqs:us-east-1:{_ACCOUNT}:{prefix}-q.fifo",
                            f"arn:aws:sns:us-east-1:{_ACCOUNT}:{prefix}-t.fifo")
    grant = {"Version": "2012-10-17", "Statement": [_fanout_grant("aws-docs", queue_arn, topic_arn)]}
    url = sqs.create_queue(QueueName=f"{prefix}-q.fifo", Attributes={"FifoQueue": "true",
                                                                     "Policy": json.dumps(grant)})["QueueUrl"]
    sns.create_topic(Name=f"{prefix}-t.fifo", Attributes={"FifoTopic": "true"})
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    replay = json.dumps({"PointType": "Timestamp", "StartingPoint": "2025-01-01T00:00:00Z"})

    def more(answer: Any, extra: dict[str, str]) -> Any:
        answer.setdefault("Attributes", {}).update(extra)
        return answer

    faults = {"sqs": Faulty(get_queue_attributes=lambda real, **kw: more(real(**kw), {"QueueFeatureOfTomorrow": "on"})
                            if kw["QueueUrl"] == url else real(**kw)),
              "sns": Faulty(get_topic_attributes=lambda real, **kw: more(real(**kw), {"TopicFeatureOfTomorrow": "7"}),
                            get_subscription_attributes=lambda real, **kw: more(real(**kw), {"ReplayPolicy": replay}))}
    make = AwsDriver._new_client
    monkeypatch.setattr(AwsDriver, "_new_client", lambda driver, service: faults[service].wrap(make(driver, service))
                        if service in faults else make(driver, service))
    text = export_text(f"aws={AWS_ENDPOINT_URL}", [], state=None, format="yaml", kind="aws",
                       include=[f"*/{prefix}-*"])
    lines = text.splitlines()
    assert any(line.strip().startswith(f"{prefix}-q.fifo:  # not managed, so not written here: "
                                       "QueueFeatureOfTomorrow=on") for line in lines), text
    assert any(line.strip().startswith(f"{prefix}-t.fifo:  # not managed, so not written here: "
                                       "TopicFeatureOfTomorrow=7") for line in lines), text
    assert any(f"queue: {prefix}-q.fifo  # not managed, so not written here: ReplayPolicy=" in line
               for line in lines), text
    import topology as api

    assert api.plan(document=text, environ={"TOPOLOGY_TARGET_AWS": AWS_ENDPOINT_URL, **_CREDENTIALS}).is_empty
