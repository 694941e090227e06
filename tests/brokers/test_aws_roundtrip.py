"""Whatever SQS and SNS hold round-trips: hypothesis makes queues (standard and FIFO, every attribute at
and between its edges, encryption either way, dead-letter redrives, redrive-allow policies, tags with
Unicode values, policies with equivalent fan-out grants and foreign statements), topics (every attribute,
standard and FIFO, policies, delivery policies, delivery status logging, tags) and subscriptions of every
protocol moto accepts, THROUGH boto3; then `export` scoped to the example's prefix -> validate -> plan
is empty -> apply of the exported file under a fresh prefix gives the same objects back, compared
through boto3.

Where moto differs from AWS, the clients (the test's and the driver's alike) answer as AWS documents
(`AwsAsDocumented`): moto accepts but never returns RedriveAllowPolicy and several topic attributes
(SignatureVersion, TracingConfig, ArchivePolicy, FifoThroughputScope, <Protocol>*Feedback*); and moto
confirms every subscription at once, where an email or email-json subscription stays pending until the
address confirms it (SNS lists it with SubscriptionArn "PendingConfirmation"). Such a subscription cannot
be managed: it must be exported as a comment naming it, and is not re-created."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import topology as api
from tests.aws_clients import Faulty
from tests.conftest import AWS_ENDPOINT_URL, unique
from topology.brokers.aws.driver import AwsDriver
from topology.engine.export import export_text

pytestmark = pytest.mark.aws

ACCOUNT = "123456789012"  # moto's account
REGION = "us-east-1"
_CLIENT = {"endpoint_url": AWS_ENDPOINT_URL, "region_name": REGION, "aws_access_key_id": "testing",
           "aws_secret_access_key": "testing"}
_ENVIRON = {"TOPOLOGY_TARGET_AWS": AWS_ENDPOINT_URL, "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": REGION}
_PENDING = ("email", "email-json")  # AWS keeps these pending until the address confirms


# ------------------------------------------------------------------------------------- AWS as documented


class AwsAsDocumented:
    """What AWS answers and moto does not: attributes AWS accepted are returned by Get*Attributes (moto
    drops some silently), and email subscriptions stay pending confirmation. State is shared by every
    client it wraps, as AWS's is."""

    def __init__(self) -> None:
        self.queues: dict[str, dict[str, str]] = {}  # queue URL -> attributes moto dropped
        self.topics: dict[str, dict[str, str]] = {}  # topic ARN -> attributes moto dropped
        self.pending: set[str] = set()  # subscription ARNs not confirmed yet

    def sqs(self) -> Faulty:
        def keep(url: str, sent: dict[str, str], real_get: Any) -> None:
            shown = real_get(QueueUrl=url, AttributeNames=["All"]).get("Attributes", {})
            kept = self.queues.setdefault(url, {})
            kept.update({k: v for k, v in sent.items() if k not in shown and v != ""})

        def create_queue(real: Any, **kwargs: Any) -> Any:
            answer = real(**kwargs)
            keep(answer["QueueUrl"], kwargs.get("Attributes", {}), real.__self__.get_queue_attributes)
            return answer

        def set_queue_attributes(real: Any, **kwargs: Any) -> Any:
            answer = real(**kwargs)
            keep(kwargs["QueueUrl"], kwargs["Attributes"], real.__self__.get_queue_attributes)
            return answer

        def get_queue_attributes(real: Any, **kwargs: Any) -> Any:
            answer = real(**kwargs)
            names = kwargs.get("AttributeNames", [])
            kept = {k: v for k, v in self.queues.get(kwargs["QueueUrl"], {}).items() if "All" in names or k in names}
            if kept:
                answer.setdefault("Attributes", {}).update(kept)
            return answer

        def delete_queue(real: Any, **kwargs: Any) -> Any:
            self.queues.pop(kwargs["QueueUrl"], None)
            return real(**kwargs)

        return Faulty(create_queue=create_queue, set_queue_attributes=set_queue_attributes,
                      get_queue_attributes=get_queue_attributes, delete_queue=delete_queue)

    def sns(self) -> Faulty:
        def keep(arn: str, sent: dict[str, str], real_get: Any) -> None:
            shown = real_get(TopicArn=arn).get("Attributes", {})
            self.topics.setdefault(arn, {}).update({k: v for k, v in sent.items() if k not in shown})

        def create_topic(real: Any, **kwargs: Any) -> Any:
            answer = real(**kwargs)
            keep(answer["TopicArn"], kwargs.get("Attributes", {}), real.__self__.get_topic_attributes)
            return answer

        def set_topic_attributes(real: Any, **kwargs: Any) -> Any:
            answer = real(**kwargs)
            keep(kwargs["TopicArn"], {kwargs["AttributeName"]: kwargs["AttributeValue"]},
                 real.__self__.get_topic_attributes)
            return answer

        def get_topic_attributes(real: Any, **kwargs: Any) -> Any:
            answer = real(**kwargs)
            answer.setdefault("Attributes", {}).update(self.topics.get(kwargs["TopicArn"], {}))
            return answer

        def delete_topic(real: Any, **kwargs: Any) -> Any:
            self.topics.pop(kwargs["TopicArn"], None)
            return real(**kwargs)

        def subscribe(real: Any, **kwargs: Any) -> Any:
            answer = real(**kwargs)
            if kwargs["Protocol"] in _PENDING:
                self.pending.add(answer["SubscriptionArn"])
            return answer

        def list_subscriptions_by_topic(real: Any, **kwargs: Any) -> Any:
            answer = real(**kwargs)
            for subscription in answer.get("Subscriptions", []):
                if subscription["SubscriptionArn"] in self.pending:
                    subscription["SubscriptionArn"] = "PendingConfirmation"
            return answer

        return Faulty(create_topic=create_topic, set_topic_attributes=set_topic_attributes,
                      get_topic_attributes=get_topic_attributes, delete_topic=delete_topic, subscribe=subscribe,
                      list_subscriptions_by_topic=list_subscriptions_by_topic)


@dataclass
class Clients:
    sqs: Any
    sns: Any
    raw_sqs: Any
    raw_sns: Any


@pytest.fixture(name="clients", scope="module")
def clients_fixture() -> Iterator[Clients]:
    """boto3 clients as AWS answers, and the same wrapping for every AwsDriver this module opens."""
    aws = AwsAsDocumented()
    faults = {"sqs": aws.sqs(), "sns": aws.sns()}
    raw_sqs, raw_sns = boto3.client("sqs", **_CLIENT), boto3.client("sns", **_CLIENT)
    patch = pytest.MonkeyPatch()
    patch.setenv("AWS_ACCESS_KEY_ID", "testing")
    patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    make = AwsDriver._new_client

    def new_client(driver: AwsDriver, service: str) -> Any:
        client = make(driver, service)
        return faults[service].wrap(client) if service in faults else client

    patch.setattr(AwsDriver, "_new_client", new_client)
    try:
        yield Clients(faults["sqs"].wrap(raw_sqs), faults["sns"].wrap(raw_sns), raw_sqs, raw_sns)
    finally:
        patch.undo()


# ----------------------------------------------------------------------------------------- the world

_EDGES = {"VisibilityTimeout": (0, 43_200), "MessageRetentionPeriod": (60, 1_209_600), "DelaySeconds": (0, 900),
          "MaximumMessageSize": (1024, 1_048_576), "ReceiveMessageWaitTimeSeconds": (0, 20),
          "KmsDataKeyReusePeriodSeconds": (60, 86_400)}
_TEXT = st.text(st.characters(codec="utf-8", categories=("L", "N", "Zs"), include_characters="_.:/=+-@"),
                max_size=12)
_TAG_KEYS = st.from_regex(r"[A-Za-z][A-Za-z0-9_.:/=+@-]{0,15}", fullmatch=True)


def _edged(attribute: str) -> st.SearchStrategy[int]:
    low, high = _EDGES[attribute]
    return st.one_of(st.sampled_from((low, high)), st.integers(low, high))


@dataclass
class Queue:
    fifo: bool
    attributes: dict[str, str]
    tags: dict[str, str]
    dead_letter: tuple[int, int] | None = None  # (index of an earlier queue, maxReceiveCount)
    redrive_allow: tuple[str, list[int]] | None = None
    extra_statement: bool = False


@dataclass
class Topic:
    fifo: bool
    attributes: dict[str, str]
    tags: dict[str, str]
    policy: bool = False  # a policy beyond SNS's default
    subscriptions: list[Subscription] = field(default_factory=list)


@dataclass
class Subscription:
    protocol: str
    endpoint: str  # for sqs: the index of a queue of the world ("q3"), or an ARN of another account
    attributes: dict[str, str]
    grant: str = ""  # for a queue of the world: how its policy lets the topic send


GRANTS = ["aws-docs", "any-sid", "principal-star", "principal-aws-star", "action-list", "action-all",
          "resource-star", "arn-like-pattern", "condition-list", "source-account"]


@st.composite
def queues(draw: st.DrawFn, count: int) -> list[Queue]:
    made: list[Queue] = []
    for index in range(count):
        fifo = draw(st.booleans())
        attributes = {name: str(draw(_edged(name))) for name in ("VisibilityTimeout", "MessageRetentionPeriod",
                                                                  "DelaySeconds", "MaximumMessageSize",
                                                                  "ReceiveMessageWaitTimeSeconds")
                      if draw(st.booleans())}
        encryption = draw(st.sampled_from(["default", "sse-sqs", "none", "kms", "kms-reuse"]))
        if encryption in ("sse-sqs", "none"):
            attributes["SqsManagedSseEnabled"] = "true" if encryption == "sse-sqs" else "false"
        elif encryption.startswith("kms"):
            attributes["KmsMasterKeyId"] = draw(st.sampled_from(["alias/aws/sqs", "alias/orders-key",
                                                                 "1234abcd-12ab-34cd-56ef-1234567890ab"]))
            if encryption == "kms-reuse":
                attributes["KmsDataKeyReusePeriodSeconds"] = str(draw(_edged("KmsDataKeyReusePeriodSeconds")))
        if fifo:
            attributes["FifoQueue"] = "true"
            if draw(st.booleans()):
                attributes["ContentBasedDeduplication"] = draw(st.sampled_from(["true", "false"]))
            scope, limit = draw(st.sampled_from([(None, None), ("queue", "perQueue"), ("messageGroup", "perQueue"),
                                                 ("messageGroup", "perMessageGroupId"), ("messageGroup", None)]))
            attributes.update({k: v for k, v in (("DeduplicationScope", scope), ("FifoThroughputLimit", limit)) if v})
        tags = draw(st.dictionaries(_TAG_KEYS, _TEXT, max_size=3))
        if draw(st.integers(0, 5)) == 0:
            tags["managed-by"] = "another-tool"
        same = [i for i, q in enumerate(made) if q.fifo == fifo]
        dead_letter = (draw(st.sampled_from(same)), draw(st.sampled_from([1, 1000, 5]))) \
            if same and draw(st.booleans()) else None
        permission = draw(st.sampled_from([None, "allowAll", "denyAll", "byQueue"]))
        others = [i for i in range(count) if i != index]
        redrive_allow = None
        if permission == "byQueue" and others:
            redrive_allow = (permission, sorted(draw(st.sets(st.sampled_from(others), min_size=1, max_size=3))))
        elif permission in ("allowAll", "denyAll"):
            redrive_allow = (permission, [])
        made.append(Queue(fifo, attributes, tags, dead_letter, redrive_allow, draw(st.booleans())))
    return made


def _topic_attributes(draw: st.DrawFn, fifo: bool) -> dict[str, str]:
    attributes: dict[str, str] = {}
    if fifo:
        attributes["FifoTopic"] = "true"
        if draw(st.booleans()):
            attributes["ContentBasedDeduplication"] = draw(st.sampled_from(["true", "false"]))
        if draw(st.booleans()):
            attributes["ArchivePolicy"] = json.dumps({"MessageRetentionPeriod": str(draw(st.sampled_from([1, 30,
                                                                                                         365])))})
        if draw(st.booleans()):
            attributes["FifoThroughputScope"] = draw(st.sampled_from(["Topic", "MessageGroup"]))
    else:
        if draw(st.booleans()):
            attributes["TracingConfig"] = draw(st.sampled_from(["PassThrough", "Active"]))
        if draw(st.booleans()):
            attributes["DeliveryPolicy"] = json.dumps({"http": {"defaultHealthyRetryPolicy": {
                "minDelayTarget": draw(st.integers(1, 20)), "maxDelayTarget": 20,
                "numRetries": draw(st.integers(0, 100)),
                "backoffFunction": draw(st.sampled_from(["linear", "exponential", "arithmetic", "geometric"]))},
                "disableSubscriptionOverrides": draw(st.booleans())}})
    if draw(st.booleans()):
        attributes["DisplayName"] = draw(_TEXT.filter(bool))
    if draw(st.booleans()):
        attributes["KmsMasterKeyId"] = "alias/aws/sns"
    if draw(st.booleans()):
        attributes["SignatureVersion"] = draw(st.sampled_from(["1", "2"]))
    if draw(st.booleans()):
        protocol = draw(st.sampled_from(["HTTP", "SQS", "Lambda", "Firehose", "Application"]))
        attributes[f"{protocol}SuccessFeedbackRoleArn"] = f"arn:aws:iam::{ACCOUNT}:role/sns-success"
        attributes[f"{protocol}SuccessFeedbackSampleRate"] = str(draw(st.sampled_from([0, 100, 37])))
        attributes[f"{protocol}FailureFeedbackRoleArn"] = f"arn:aws:iam::{ACCOUNT}:role/sns-failure"
    return attributes


_FILTERS = st.sampled_from([{"kind": ["paid", "refunded"]}, {"région": ["überall"]},
                            {"price": [{"numeric": [">", 0, "<=", 100]}]}, {"kind": [{"prefix": "pa"}]}])


@st.composite
def subscriptions(draw: st.DrawFn, fifo: bool, world_queues: list[Queue]) -> list[Subscription]:
    made: dict[tuple[str, str], Subscription] = {}
    targets = [i for i, q in enumerate(world_queues) if fifo or not q.fifo]  # a standard topic: no FIFO queue
    dead_letters = [i for i, q in enumerate(world_queues) if q.fifo == fifo]
    for index in draw(st.sets(st.sampled_from(targets), max_size=2)) if targets else ():
        attributes = {"RawMessageDelivery": draw(st.sampled_from(["true", "false"]))}
        if draw(st.booleans()):
            attributes["FilterPolicy"] = json.dumps(draw(_FILTERS))
            attributes["FilterPolicyScope"] = draw(st.sampled_from(["MessageAttributes", "MessageBody"]))
        if dead_letters and draw(st.booleans()):
            attributes["RedrivePolicy"] = f"q{draw(st.sampled_from(dead_letters))}"
        made["sqs", f"q{index}"] = Subscription("sqs", f"q{index}", attributes, draw(st.sampled_from(GRANTS)))
    if fifo:
        return list(made.values())
    for protocol in draw(st.sets(st.sampled_from(["http", "https", "email", "email-json", "sms", "lambda", "firehose",
                                                  "application", "sqs"]), max_size=4)):
        attributes: dict[str, str] = {}
        if protocol in ("http", "https"):
            attributes["RawMessageDelivery"] = draw(st.sampled_from(["true", "false"]))
            if draw(st.booleans()):
                attributes["DeliveryPolicy"] = json.dumps({"healthyRetryPolicy": {
                    "minDelayTarget": 1, "maxDelayTarget": 60, "numRetries": draw(st.integers(0, 50)),
                    "backoffFunction": "exponential"}, "throttlePolicy": {"maxReceivesPerSecond": 10}})
        if protocol == "firehose":
            attributes["SubscriptionRoleArn"] = f"arn:aws:iam::{ACCOUNT}:role/sns-firehose"
        if draw(st.booleans()):
            attributes["FilterPolicy"] = json.dumps(draw(_FILTERS))
        endpoint = {"http": "http://hooks.example.com/{p}/events", "https": "https://hooks.example.com/{p}",
                    "email": "{p}@example.com", "email-json": "{p}.json@example.com", "sms": "+15555550100",
                    "lambda": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{{p}}-handler",
                    "firehose": f"arn:aws:firehose:{REGION}:{ACCOUNT}:deliverystream/{{p}}-stream",
                    "application": "application", "sqs": f"arn:aws:sqs:{REGION}:210987654321:{{p}}-remote"}[protocol]
        made[protocol, endpoint] = Subscription(protocol, endpoint, attributes)
    return list(made.values())


@dataclass
class World:
    queues: list[Queue]
    topics: list[Topic]


@st.composite
def worlds(draw: st.DrawFn) -> World:
    world_queues = draw(queues(draw(st.integers(1, 4))))
    topics: list[Topic] = []
    for _ in range(draw(st.integers(1, 3))):
        fifo = draw(st.booleans())
        topic = Topic(fifo, _topic_attributes(draw, fifo), draw(st.dictionaries(_TAG_KEYS, _TEXT, max_size=2)),
                      draw(st.booleans()))
        topic.subscriptions = draw(subscriptions(fifo, world_queues))
        topics.append(topic)
    return World(world_queues, topics)


# ---------------------------------------------------------------------------------------- making it


def _queue_name(world: World, prefix: str, index: int) -> str:
    return f"{prefix}-q{index}" + (".fifo" if world.queues[index].fifo else "")


def _topic_name(world: World, prefix: str, index: int) -> str:
    return f"{prefix}-t{index}" + (".fifo" if world.topics[index].fifo else "")


def _queue_arn(name: str) -> str:
    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"


def _topic_arn(name: str) -> str:
    return f"arn:aws:sns:{REGION}:{ACCOUNT}:{name}"


def _grant(variant: str, queue_arn: str, topic_arn: str, sid: str) -> dict[str, Any]:
    grant: dict[str, Any] = {"Sid": sid, "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
                             "Action": "SQS:SendMessage", "Resource": queue_arn,
                             "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}}}
    grant.update({
        "aws-docs": {}, "any-sid": {"Sid": f"fan-out-{sid}"}, "principal-star": {"Principal": "*"},
        "principal-aws-star": {"Principal": {"AWS": "*"}}, "action-list": {"Action": ["sqs:SendMessage"]},
        "action-all": {"Action": "sqs:*"}, "resource-star": {"Resource": "*"},
        "arn-like-pattern": {"Condition": {"ArnLike": {"aws:SourceArn": topic_arn.split("-t")[0] + "-*"}}},
        "condition-list": {"Condition": {"ArnEquals": {"aws:SourceArn": [topic_arn, f"{topic_arn}-old"]}}},
        "source-account": {"Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}}},
    }[variant])
    return grant


def _queue_policy(world: World, prefix: str, index: int) -> dict[str, Any] | None:
    queue_arn = _queue_arn(_queue_name(world, prefix, index))
    statements = [_grant(s.grant, queue_arn, _topic_arn(_topic_name(world, prefix, t)), f"t{t}")
                  for t, topic in enumerate(world.topics) for s in topic.subscriptions
                  if s.protocol == "sqs" and s.endpoint == f"q{index}"]
    if world.queues[index].extra_statement:
        statements.append({"Sid": "audit-reads", "Effect": "Allow", "Principal": {"AWS": "210987654321"},
                           "Action": ["sqs:ReceiveMessage", "sqs:GetQueueAttributes"], "Resource": queue_arn})
    return {"Version": "2012-10-17", "Id": f"{prefix}-q{index}-policy", "Statement": statements} if statements else None


def make(clients: Clients, world: World, prefix: str) -> list[str]:
    """The world's objects under `prefix`, through boto3; returns the addresses of the subscriptions left
    pending confirmation."""
    for index, queue in enumerate(world.queues):
        name = _queue_name(world, prefix, index)
        attributes = dict(queue.attributes)
        if queue.dead_letter is not None:
            attributes["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": _queue_arn(_queue_name(
                world, prefix, queue.dead_letter[0])), "maxReceiveCount": queue.dead_letter[1]})
        if queue.redrive_allow is not None:
            permission, sources = queue.redrive_allow
            attributes["RedriveAllowPolicy"] = json.dumps({"redrivePermission": permission, **(
                {"sourceQueueArns": [_queue_arn(_queue_name(world, prefix, i)) for i in sources]} if sources else {})})
        policy = _queue_policy(world, prefix, index)
        if policy is not None:
            attributes["Policy"] = json.dumps(policy)
        clients.sqs.create_queue(QueueName=name, Attributes=attributes, tags=queue.tags)
    pending: list[str] = []
    for index, topic in enumerate(world.topics):
        name = _topic_name(world, prefix, index)
        arn = clients.sns.create_topic(Name=name, Attributes=topic.attributes,
                                       Tags=[{"Key": k, "Value": v} for k, v in topic.tags.items()])["TopicArn"]
        if topic.policy:
            default = json.loads(clients.sns.get_topic_attributes(TopicArn=arn)["Attributes"]["Policy"])
            default["Statement"].append({"Sid": "partner-publishes", "Effect": "Allow",
                                         "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                                         "Action": "SNS:Publish", "Resource": arn})
            clients.sns.set_topic_attributes(TopicArn=arn, AttributeName="Policy", AttributeValue=json.dumps(default))
        for subscription in topic.subscriptions:
            endpoint = _endpoint(clients, world, prefix, subscription)
            attributes = dict(subscription.attributes)
            if "RedrivePolicy" in attributes:
                attributes["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": _queue_arn(_queue_name(
                    world, prefix, int(attributes["RedrivePolicy"][1:])))})
            clients.sns.subscribe(TopicArn=arn, Protocol=subscription.protocol, Endpoint=endpoint,
                                  Attributes=attributes, ReturnSubscriptionArn=True)
            if subscription.protocol in _PENDING:
                pending.append(f"sns/subscription/{name}->{subscription.protocol}:{endpoint}")
    return pending


def _endpoint(clients: Clients, world: World, prefix: str, subscription: Subscription) -> str:
    if subscription.protocol == "sqs" and subscription.endpoint.startswith("q"):
        return _queue_arn(_queue_name(world, prefix, int(subscription.endpoint[1:])))
    if subscription.protocol == "application":  # one platform endpoint, outside every prefix
        app = clients.raw_sns.create_platform_application(Name="roundtrip-app", Platform="GCM", Attributes={
            "PlatformCredential": "key"})["PlatformApplicationArn"]
        return str(clients.raw_sns.create_platform_endpoint(PlatformApplicationArn=app, Token="roundtrip-device")[
            "EndpointArn"])
    return subscription.endpoint.format(p=prefix)


def clean(clients: Clients, prefix: str) -> None:
    for url in clients.raw_sqs.list_queues(QueueNamePrefix=prefix).get("QueueUrls", []):
        clients.sqs.delete_queue(QueueUrl=url)
    for topic in clients.raw_sns.list_topics().get("Topics", []):
        if topic["TopicArn"].rsplit(":", 1)[-1].startswith(prefix):
            for subscription in clients.raw_sns.list_subscriptions_by_topic(TopicArn=topic["TopicArn"]).get(
                    "Subscriptions", []):
                clients.raw_sns.unsubscribe(SubscriptionArn=subscription["SubscriptionArn"])
            clients.sns.delete_topic(TopicArn=topic["TopicArn"])


# ----------------------------------------------------------------------------- what boto3 sees of it


def _relative(value: Any, prefix: str) -> Any:
    if isinstance(value, str):
        return value.replace(prefix, "P")
    if isinstance(value, list):
        return [_relative(v, prefix) for v in value]
    if isinstance(value, dict):
        return {_relative(k, prefix): _relative(v, prefix) for k, v in value.items()}
    return value


def _listed(value: Any) -> list[Any]:
    values = value if isinstance(value, list) else [value]
    return sorted({json.dumps(v, sort_keys=True): v for v in values}.values(), key=lambda v: json.dumps(v))


def _policy(text: str) -> Any:
    """A policy as IAM reads it: lists or single values alike, in any order; a bare account id as a
    principal is the account's root (SQS and SNS store it so)."""
    document = json.loads(text)
    statements = []
    for statement in _listed(document.get("Statement", [])):
        same: dict[str, Any] = {}
        for key, value in statement.items():
            if key in ("Action", "Resource", "NotAction", "NotResource"):
                same[key] = _listed(value)
            elif key == "Principal" and isinstance(value, dict):
                same[key] = {kind: _listed([f"arn:aws:iam::{v}:root" if str(v).isdigit() else v
                                            for v in _listed(names)]) for kind, names in value.items()}
            elif key == "Condition":
                same[key] = {op: {k: _listed(v) for k, v in keys.items()} for op, keys in value.items()}
            else:
                same[key] = value
        statements.append(same)
    return {**document, "Version": document.get("Version", "2008-10-17"),
            "Statement": sorted(statements, key=lambda s: json.dumps(s, sort_keys=True))}


_DOCUMENTS = ("RedrivePolicy", "RedriveAllowPolicy", "DeliveryPolicy", "ArchivePolicy", "FilterPolicy")
_VOLATILE = {"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed",
             "ApproximateNumberOfMessagesNotVisible", "CreatedTimestamp", "LastModifiedTimestamp", "QueueArn",
             "Owner", "TopicArn", "SubscriptionsPending", "SubscriptionsConfirmed", "SubscriptionsDeleted",
             "EffectiveDeliveryPolicy", "SubscriptionArn", "Endpoint", "Protocol", "ConfirmationWasAuthenticated",
             "PendingConfirmation"}


def _attributes(raw: dict[str, str]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in raw.items():
        if key in _VOLATILE:
            continue
        if key == "Policy":
            seen[key] = _policy(value)
        elif key in _DOCUMENTS and value:
            seen[key] = json.loads(value)
        else:
            seen[key] = value
    return seen


# What AWS documents a topic that does not show these attributes to have (GetTopicAttributes: "If the API
# response does not include the SignatureVersion attribute, it means [...] 1"; TracingConfig "By default [...]
# PassThrough"): the same topic either way.
_TOPIC_DEFAULTS = {"SignatureVersion": "1", "TracingConfig": "PassThrough"}


def _own_tags(tags: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in tags.items() if (k, v) != ("managed-by", "topology")}


def snapshot(clients: Clients, prefix: str) -> dict[str, Any]:
    """Every queue, topic and subscription under `prefix` as boto3 reads them, names relative to it;
    subscriptions pending confirmation as such."""
    seen: dict[str, Any] = {}
    for url in clients.raw_sqs.list_queues(QueueNamePrefix=prefix).get("QueueUrls", []):
        raw = clients.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        tags = clients.sqs.list_queue_tags(QueueUrl=url).get("Tags", {})
        seen[f"queue {url.rsplit('/', 1)[-1]}"] = {**_attributes(raw), "tags": _own_tags(tags)}
    for topic in clients.raw_sns.list_topics().get("Topics", []):
        arn = topic["TopicArn"]
        if not arn.rsplit(":", 1)[-1].startswith(prefix):
            continue
        raw = {**_TOPIC_DEFAULTS, **clients.sns.get_topic_attributes(TopicArn=arn)["Attributes"]}
        if raw.get("FifoTopic") == "true":
            raw.pop("TracingConfig")  # standard topics only
        tags = {t["Key"]: t["Value"] for t in clients.sns.list_tags_for_resource(ResourceArn=arn).get("Tags", [])}
        seen[f"topic {arn.rsplit(':', 1)[-1]}"] = {**_attributes(raw), "tags": _own_tags(tags)}
        for subscription in clients.sns.list_subscriptions_by_topic(TopicArn=arn).get("Subscriptions", []):
            key = f"subscription {arn.rsplit(':', 1)[-1]} {subscription['Protocol']} {subscription['Endpoint']}"
            if subscription["SubscriptionArn"] == "PendingConfirmation":
                seen[key] = "pending confirmation"
            else:
                seen[key] = _attributes(clients.sns.get_subscription_attributes(
                    SubscriptionArn=subscription["SubscriptionArn"])["Attributes"])
    return _relative(seen, prefix)


# ------------------------------------------------------------------------------------------ the test


def _round_trip(clients: Clients, world: World, prefix: str, copy: str) -> None:
    pending = make(clients, world, prefix)
    before = snapshot(clients, prefix)
    include = [f"sqs/queue/{prefix}-*", f"sns/topic/{prefix}-*", f"sns/subscription/{prefix}-*"]
    text = export_text(f"aws={AWS_ENDPOINT_URL}", [], state=None, format="yaml", kind="aws", include=include)
    for address in pending:  # never dropped: named in a comment, not written as data
        assert f"{address}" in text and f"endpoint: {address.rsplit(':', 1)[-1]}" not in text, text
    api.load(document=text, environ=_ENVIRON)
    plan = api.plan(document=text, environ=_ENVIRON)
    assert plan.is_empty, f"{plan.summary()}\n{[(c.address, c.attributes) for c in plan.changes]}\n{text}"

    fresh = text.replace(prefix, copy)
    report = api.apply(document=fresh, environ=_ENVIRON)
    assert report.ok, (report.failed, report.not_attempted, report.exceptions)
    expected = {k: v for k, v in before.items() if v != "pending confirmation"}
    assert snapshot(clients, copy) == expected, text
    assert api.plan(document=fresh, environ=_ENVIRON).is_empty


# No shrinking: each example costs seconds on moto; a failure prints the whole example instead.
@settings(max_examples=8, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(world=worlds())
def test_whatever_sqs_and_sns_hold_round_trips(clients: Clients, world: World) -> None:
    prefix, copy = unique("rt"), unique("rc")
    try:
        _round_trip(clients, world, prefix, copy)
    finally:
        clean(clients, prefix)
        clean(clients, copy)
