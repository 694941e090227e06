"""The SQS and SNS driver (boto3), for AWS and for endpoints that speak its API (moto, LocalStack).

Reads: ListQueues with pagination (1,000 a page on AWS), then attributes and tags of the queues in
scope concurrently with a bounded pool; SNS topics, attributes, tags and subscriptions likewise.
Attribute strings are parsed (numbers, booleans) and JSON documents compared as data.

Writes what AWS needs and moto does not model as well: a re-create of a name deleted less than 60 s
ago waits out `QueueDeletedRecently` (bounded, with progress); SetQueueAttributes is read back until
it agrees (bounded), since SQS is eventually consistent; the queue policy that lets a topic send is
merged into the queue's policy, never overwriting statements topology did not write.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from topology.drivers.base import ChangeResult, Driver, Live, Scope
from topology.errors import BrokerError, BrokerUnavailable
from topology.plan import Change
from topology.resources import Resource

__all__ = ["AwsDriver"]

_SID = "topology-sns-"  # statements topology writes into queue policies start with this
_INTS = ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "MaximumMessageSize",
         "ReceiveMessageWaitTimeSeconds")
_QUEUE_ATTRIBUTES = (*_INTS, "FifoQueue", "ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit",
                     "RedrivePolicy", "Policy")
_DELETED_RECENTLY_WAIT_S = 75.0
_READ_BACK_TRIES = 25


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


class AwsDriver(Driver):
    name = "aws"

    def __init__(self, *, region: str, endpoint_url: str | None = None, profile: str | None = None,
                 parallelism: int = 10, clients: tuple[Any, Any] | None = None) -> None:
        import boto3
        import botocore.config

        self.region = region
        self.where = endpoint_url or f"AWS {region}"
        self.parallelism = max(1, parallelism)
        if clients is not None:  # tests pass fault-injecting wrappers around real clients
            self.sqs, self.sns = clients
        else:
            session = boto3.session.Session(profile_name=profile, region_name=region)
            config = botocore.config.Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 3},
                                            max_pool_connections=self.parallelism * 2)
            self.sqs = session.client("sqs", endpoint_url=endpoint_url or None, config=config)
            self.sns = session.client("sns", endpoint_url=endpoint_url or None, config=config)
        self._urls: dict[str, str] = {}
        self._arns: dict[str, str] = {}  # queue name -> ARN
        self._topics: dict[str, str] = {}  # topic name -> ARN
        self._account: str | None = None
        self._subscriptions: dict[str, str] = {}  # subscription address -> ARN
        self._call("sqs", "ListQueues", lambda: self.sqs.list_queues(MaxResults=1))

    # ---------------------------------------------------------------------------- calling AWS

    def _call(self, service: str, action: str, function: Callable[[], Any]) -> Any:
        import botocore.exceptions

        try:
            return function()
        except botocore.exceptions.EndpointConnectionError as exc:
            raise BrokerUnavailable(f"{service.upper()} at {self.where} is not reachable; check endpoint_url "
                                    "and the network") from exc
        except botocore.exceptions.NoCredentialsError as exc:
            raise BrokerUnavailable(f"no AWS credentials for {service.upper()} at {self.where}: set them in the "
                                    "environment, a profile or an instance role") from exc
        except botocore.exceptions.ClientError as exc:
            code = _error_code(exc)
            if code in ("InvalidClientTokenId", "SignatureDoesNotMatch", "UnrecognizedClientException",
                        "InvalidAccessKeyId", "ExpiredToken"):
                raise BrokerUnavailable(f"{service.upper()} at {self.where} rejected the AWS credentials "
                                        f"({code})") from exc
            if code in ("AccessDenied", "AccessDeniedException", "AuthorizationError"):
                raise BrokerError(f"access denied for {service}:{action} at {self.where}; grant it to "
                                  "topology's role") from exc
            raise

    # --------------------------------------------------------------------------------- inspect

    def _queue_urls(self) -> dict[str, str]:
        urls: dict[str, str] = {}
        token = None
        while True:
            kwargs: dict[str, Any] = {"MaxResults": 1000}
            if token:
                kwargs["NextToken"] = token
            page = self._call("sqs", "ListQueues", partial(self.sqs.list_queues, **kwargs))
            for url in page.get("QueueUrls", []):
                urls[url.rstrip("/").rsplit("/", 1)[-1]] = url
            token = page.get("NextToken")
            if not token:
                return urls

    def _topic_arns(self) -> dict[str, str]:
        arns: dict[str, str] = {}
        token = None
        while True:
            kwargs: dict[str, Any] = {"NextToken": token} if token else {}
            page = self._call("sns", "ListTopics", partial(self.sns.list_topics, **kwargs))
            for topic in page.get("Topics", []):
                arns[topic["TopicArn"].rsplit(":", 1)[-1]] = topic["TopicArn"]
            token = page.get("NextToken")
            if not token:
                return arns

    def inspect(self, scope: Scope) -> dict[str, Live]:
        live: dict[str, Live] = {}
        wants_sqs = scope.prune or any(a.startswith("sqs/") for a in scope.addresses)
        if wants_sqs:
            self._urls = self._queue_urls()
            names = [n for n in sorted(self._urls) if scope.wants(f"sqs/queue/{n}")]
            with ThreadPoolExecutor(max_workers=self.parallelism) as pool:
                for name, item in zip(names, pool.map(self._inspect_queue, names), strict=True):
                    if item is not None:
                        live[f"sqs/queue/{name}"] = item
        wants_sns = scope.prune or any(a.startswith("sns/") for a in scope.addresses)
        if wants_sns:
            self._topics = self._topic_arns()
            names = [n for n in sorted(self._topics) if scope.wants(f"sns/topic/{n}")
                     or any(a.startswith(f"sns/subscription/{n}->") for a in scope.addresses)]
            with ThreadPoolExecutor(max_workers=self.parallelism) as pool:
                for found in pool.map(lambda n: self._inspect_topic(n, scope), names):
                    live.update(found)
        return {address: item for address, item in live.items() if scope.wants(address)}

    def _inspect_queue(self, name: str) -> Live | None:
        import botocore.exceptions

        url = self._urls[name]
        try:
            raw = self._call("sqs", "GetQueueAttributes", lambda: self.sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["All"])).get("Attributes", {})
            tags = self._call("sqs", "ListQueueTags", lambda: self.sqs.list_queue_tags(QueueUrl=url)).get("Tags", {})
        except botocore.exceptions.ClientError as exc:
            if _error_code(exc) in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
                return None  # deleted since it was listed
            raise
        self._arns[name] = raw.get("QueueArn", "")
        attributes = _parse_queue(raw)
        attributes["tags"] = dict(tags)
        messages = sum(int(raw.get(k, 0)) for k in ("ApproximateNumberOfMessages",
                                                    "ApproximateNumberOfMessagesNotVisible",
                                                    "ApproximateNumberOfMessagesDelayed"))
        depends = (f"sqs/queue/{attributes['RedrivePolicy']['deadLetterQueue']}",) \
            if "RedrivePolicy" in attributes else ()
        return Live("sqs.queue", attributes, depends, messages, name=name)

    def _inspect_topic(self, name: str, scope: Scope) -> dict[str, Live]:
        arn = self._topics[name]
        raw = self._call("sns", "GetTopicAttributes",
                         lambda: self.sns.get_topic_attributes(TopicArn=arn)).get("Attributes", {})
        tags = self._call("sns", "ListTagsForResource", lambda: self.sns.list_tags_for_resource(ResourceArn=arn))
        attributes: dict[str, Any] = {"FifoTopic": raw.get("FifoTopic", "false") == "true"}
        if "ContentBasedDeduplication" in raw:
            attributes["ContentBasedDeduplication"] = raw["ContentBasedDeduplication"] == "true"
        if raw.get("DisplayName"):
            attributes["DisplayName"] = raw["DisplayName"]
        attributes["tags"] = {t["Key"]: t["Value"] for t in tags.get("Tags", [])}
        found = {f"sns/topic/{name}": Live("sns.topic", attributes, name=name)}
        token = None
        while True:
            kwargs: dict[str, Any] = {"TopicArn": arn, **({"NextToken": token} if token else {})}
            page = self._call("sns", "ListSubscriptionsByTopic",
                              partial(self.sns.list_subscriptions_by_topic, **kwargs))
            for subscription in page.get("Subscriptions", []):
                if subscription.get("Protocol") != "sqs" or subscription["SubscriptionArn"] == "PendingConfirmation":
                    continue
                endpoint = subscription["Endpoint"]
                queue = endpoint.rsplit(":", 1)[-1]
                address = f"sns/subscription/{name}->{endpoint}"
                if address not in scope.addresses:
                    address, queue = f"sns/subscription/{name}->{queue}", queue
                else:
                    queue = endpoint
                found[address] = self._inspect_subscription(subscription["SubscriptionArn"], name, queue)
            token = page.get("NextToken")
            if not token:
                return found

    def _inspect_subscription(self, arn: str, topic: str, queue: str) -> Live:
        raw = self._call("sns", "GetSubscriptionAttributes",
                         lambda: self.sns.get_subscription_attributes(SubscriptionArn=arn)).get("Attributes", {})
        attributes: dict[str, Any] = {"topic": topic, "queue": queue,
                                      "RawMessageDelivery": raw.get("RawMessageDelivery", "false") == "true"}
        if raw.get("FilterPolicy"):
            attributes["FilterPolicy"] = json.loads(raw["FilterPolicy"])
            attributes["FilterPolicyScope"] = raw.get("FilterPolicyScope", "MessageAttributes")
        if raw.get("RedrivePolicy"):
            target = str(json.loads(raw["RedrivePolicy"]).get("deadLetterTargetArn", ""))
            attributes["RedrivePolicy"] = {"deadLetterQueue": target.rsplit(":", 1)[-1]}
        depends = (f"sns/topic/{topic}",) if queue.startswith("arn:") else (f"sns/topic/{topic}", f"sqs/queue/{queue}")
        live = Live("sns.subscription", attributes, depends, name=f"{topic}->{queue}")
        self._subscriptions[f"sns/subscription/{topic}->{queue}"] = arn
        return live

    # ----------------------------------------------------------------------------------- apply

    def apply(self, changes: Sequence[Change], desired: Mapping[str, Resource]) -> list[ChangeResult]:
        def run(change: Change) -> ChangeResult:
            import botocore.exceptions

            try:
                handler = {"sqs.queue": self._apply_queue, "sns.topic": self._apply_topic,
                           "sns.subscription": self._apply_subscription}.get(change.kind)
                if handler is None:
                    raise BrokerError(f"the AWS driver does not manage {change.kind}")
                handler(change)
                return ChangeResult(change.address, True)
            except BrokerError as exc:
                return ChangeResult(change.address, False, str(exc))
            except botocore.exceptions.ClientError as exc:
                return ChangeResult(change.address, False, f"{_error_code(exc)}: {exc}")

        with ThreadPoolExecutor(max_workers=self.parallelism) as pool:
            return list(pool.map(run, changes))

    def _account_id(self) -> str:
        if self._account is None:
            known = next((arn for arn in self._arns.values() if arn), None) or \
                next(iter(self._topics.values()), None)
            if known is None:
                import boto3

                known = boto3.client("sts", region_name=self.region, endpoint_url=getattr(
                    self.sqs.meta, "endpoint_url", None)).get_caller_identity()["Arn"]
            self._account = known.split(":")[4]
        return self._account

    def _queue_arn(self, name: str) -> str:
        return self._arns.get(name) or f"arn:aws:sqs:{self.region}:{self._account_id()}:{name}"

    def _topic_arn(self, name: str) -> str:
        return self._topics.get(name) or f"arn:aws:sns:{self.region}:{self._account_id()}:{name}"

    def _url(self, name: str) -> str:
        if name not in self._urls:
            self._urls[name] = self._call("sqs", "GetQueueUrl", lambda: self.sqs.get_queue_url(QueueName=name))[
                "QueueUrl"]
        return self._urls[name]

    def _wire(self, name: str, attributes: Mapping[str, Any], *, policy_base: str | None) -> dict[str, str]:
        """Our attributes as the strings SQS takes."""
        wire: dict[str, str] = {}
        for key, value in attributes.items():
            if key == "tags":
                continue
            if key == "RedrivePolicy":
                wire[key] = json.dumps({"deadLetterTargetArn": self._queue_arn(value["deadLetterQueue"]),
                                        "maxReceiveCount": value["maxReceiveCount"]})
            elif key == "RedriveAllowPolicy":
                document: dict[str, Any] = {"redrivePermission": value["redrivePermission"]}
                if value["sourceQueues"]:
                    document["sourceQueueArns"] = [q if q.startswith("arn:") else self._queue_arn(q)
                                                   for q in value["sourceQueues"]]
                wire[key] = json.dumps(document)
            elif key == "Policy":
                wire[key] = json.dumps(_merge_policy(policy_base, self._queue_arn(name),
                                                     [self._topic_arn(t) for t in value["allow_sns_topics"]]))
            elif isinstance(value, bool):
                wire[key] = "true" if value else "false"
            else:
                wire[key] = str(value)
        return wire

    def _apply_queue(self, change: Change) -> None:
        import botocore.exceptions

        name = change.name
        if change.action in ("delete", "replace"):
            try:
                self._call("sqs", "DeleteQueue", lambda: self.sqs.delete_queue(QueueUrl=self._url(name)))
            except botocore.exceptions.ClientError as exc:
                if _error_code(exc) not in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
                    raise
            self._urls.pop(name, None)
            if change.action == "delete":
                return
        after = change.after or {}
        if change.action in ("create", "replace"):
            wire = self._wire(name, after, policy_base=None)
            if after.get("FifoQueue") is False:
                wire.pop("FifoQueue", None)  # standard queues must not send FifoQueue=false to AWS
            tags = dict(after.get("tags", {}))
            self._create_queue(name, wire, tags)
            return
        changed = {a.name for a in change.attributes}
        base = None
        if "Policy" in after:
            # Always send the policy with any attribute change: moto's SetQueueAttributes drops a policy it
            # is not given (AWS keeps it); sending it back, merged, is right on both.
            base = self._call("sqs", "GetQueueAttributes", lambda: self.sqs.get_queue_attributes(
                QueueUrl=self._url(name), AttributeNames=["Policy"])).get("Attributes", {}).get("Policy")
            changed.add("Policy")
        wire = self._wire(name, {k: v for k, v in after.items() if k in changed}, policy_base=base)
        if wire:
            self._call("sqs", "SetQueueAttributes", lambda: self.sqs.set_queue_attributes(
                QueueUrl=self._url(name), Attributes=wire))
            self._read_back(name, {k: after[k] for k in changed if k != "tags"})
        if "tags" in changed:
            self._call("sqs", "TagQueue", lambda: self.sqs.tag_queue(QueueUrl=self._url(name), Tags=after["tags"]))

    def _create_queue(self, name: str, wire: dict[str, str], tags: dict[str, str]) -> None:
        import botocore.exceptions

        deadline = time.monotonic() + _DELETED_RECENTLY_WAIT_S
        told = False
        while True:
            try:
                url = self._call("sqs", "CreateQueue", lambda: self.sqs.create_queue(
                    QueueName=name, Attributes=wire, tags=tags))["QueueUrl"]
                break
            except botocore.exceptions.ClientError as exc:
                code = _error_code(exc)
                if code in ("AWS.SimpleQueueService.QueueDeletedRecently", "QueueDeletedRecently") and \
                        time.monotonic() < deadline:
                    if not told:
                        print(f"    sqs/queue/{name}: deleted less than 60 s ago; waiting until SQS accepts the "
                              "name again", file=sys.stderr)
                        told = True
                    time.sleep(2)
                    continue
                if code in ("QueueAlreadyExists", "QueueNameExists"):
                    raise BrokerError(f"sqs/queue/{name} exists with other attributes; plan again") from exc
                raise
        self._urls[name] = url

    def _read_back(self, name: str, expected: Mapping[str, Any]) -> None:
        """SQS applies attribute changes eventually: read them back until they agree (bounded)."""
        for _ in range(_READ_BACK_TRIES):
            raw = self._call("sqs", "GetQueueAttributes", lambda: self.sqs.get_queue_attributes(
                QueueUrl=self._url(name), AttributeNames=list(expected) or ["All"])).get("Attributes", {})
            parsed = _parse_queue(raw)
            if all(_same(parsed.get(k), v) for k, v in expected.items()):
                return
            time.sleep(0.2)
        raise BrokerError(f"sqs/queue/{name}: SetQueueAttributes was accepted but the queue does not show it yet; "
                          "plan again in a minute")

    def _apply_topic(self, change: Change) -> None:
        import botocore.exceptions

        name = change.name
        if change.action in ("delete", "replace"):
            try:
                self._call("sns", "DeleteTopic", lambda: self.sns.delete_topic(TopicArn=self._topic_arn(name)))
            except botocore.exceptions.ClientError as exc:
                if _error_code(exc) != "NotFound":
                    raise
            self._topics.pop(name, None)
            if change.action == "delete":
                return
        after = change.after or {}
        if change.action in ("create", "replace"):
            attributes = {k: ("true" if v else "false") if isinstance(v, bool) else str(v)
                          for k, v in after.items() if k != "tags" and not (k == "FifoTopic" and v is False)}
            tags = [{"Key": k, "Value": v} for k, v in after.get("tags", {}).items()]
            arn = self._call("sns", "CreateTopic", lambda: self.sns.create_topic(
                Name=name, Attributes=attributes, Tags=tags))["TopicArn"]
            self._topics[name] = arn
            return
        arn = self._topic_arn(name)
        for attribute in change.attributes:
            if attribute.name == "tags":
                tags = [{"Key": k, "Value": v} for k, v in after["tags"].items()]
                self._call("sns", "TagResource", partial(self.sns.tag_resource, ResourceArn=arn, Tags=tags))
            else:
                value = attribute.after
                text = ("true" if value else "false") if isinstance(value, bool) else str(value)
                self._call("sns", "SetTopicAttributes", partial(
                    self.sns.set_topic_attributes, TopicArn=arn, AttributeName=attribute.name, AttributeValue=text))

    def _apply_subscription(self, change: Change) -> None:
        after = change.after or {}
        data = after or change.before or {}
        if change.action in ("delete", "replace"):
            arn = self._subscriptions.get(change.address)
            if arn:
                self._call("sns", "Unsubscribe", lambda: self.sns.unsubscribe(SubscriptionArn=arn))
            if change.action == "delete":
                return
        queue = data["queue"]
        endpoint = queue if queue.startswith("arn:") else self._queue_arn(queue)
        attributes = {"RawMessageDelivery": "true" if after.get("RawMessageDelivery") else "false"}
        if "FilterPolicy" in after:
            attributes["FilterPolicy"] = json.dumps(after["FilterPolicy"])
            attributes["FilterPolicyScope"] = after.get("FilterPolicyScope", "MessageAttributes")
        if "RedrivePolicy" in after:
            dlq = after["RedrivePolicy"]["deadLetterQueue"]
            arn = dlq if dlq.startswith("arn:") else self._queue_arn(dlq)
            attributes["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": arn})
        if change.action in ("create", "replace"):
            arn = self._call("sns", "Subscribe", lambda: self.sns.subscribe(
                TopicArn=self._topic_arn(data["topic"]), Protocol="sqs", Endpoint=endpoint,
                Attributes=attributes, ReturnSubscriptionArn=True))["SubscriptionArn"]
            self._subscriptions[change.address] = arn
            return
        # Subscribe does not change an existing subscription: set each changed attribute.
        arn = self._subscriptions[change.address]
        for attribute in change.attributes:
            name = attribute.name
            value = attributes.get(name, "" if name == "FilterPolicy" else None)
            if value is None:
                continue
            self._call("sns", "SetSubscriptionAttributes", partial(
                self.sns.set_subscription_attributes, SubscriptionArn=arn, AttributeName=name, AttributeValue=value))


def _same(left: Any, right: Any) -> bool:
    return json.dumps(left, sort_keys=True) == json.dumps(right, sort_keys=True)


def _parse_queue(raw: Mapping[str, str]) -> dict[str, Any]:
    """SQS's attribute strings as topology's values: numbers, booleans, parsed JSON."""
    attributes: dict[str, Any] = {"FifoQueue": raw.get("FifoQueue", "false") == "true"}
    for key in _INTS:
        if key in raw:
            attributes[key] = int(raw[key])
    if "ContentBasedDeduplication" in raw:
        attributes["ContentBasedDeduplication"] = raw["ContentBasedDeduplication"] == "true"
    for key in ("DeduplicationScope", "FifoThroughputLimit"):
        if key in raw:
            attributes[key] = raw[key]
    if raw.get("RedrivePolicy"):
        redrive = json.loads(raw["RedrivePolicy"])
        attributes["RedrivePolicy"] = {"deadLetterQueue": str(redrive["deadLetterTargetArn"]).rsplit(":", 1)[-1],
                                       "maxReceiveCount": int(redrive["maxReceiveCount"])}
    if raw.get("RedriveAllowPolicy"):
        allow = json.loads(raw["RedriveAllowPolicy"])
        attributes["RedriveAllowPolicy"] = {
            "redrivePermission": allow.get("redrivePermission"),
            "sourceQueues": sorted(str(arn).rsplit(":", 1)[-1] for arn in allow.get("sourceQueueArns", []))}
    if raw.get("Policy"):
        statements = json.loads(raw["Policy"]).get("Statement", [])
        topics = sorted(str(s.get("Sid", "")).removeprefix(_SID) for s in statements
                        if str(s.get("Sid", "")).startswith(_SID))
        if topics:
            attributes["Policy"] = {"allow_sns_topics": topics}
    return attributes


def _merge_policy(existing: str | None, queue_arn: str, topic_arns: Sequence[str]) -> dict[str, Any]:
    """The queue's policy with topology's statements replaced and everyone else's kept."""
    policy: dict[str, Any] = json.loads(existing) if existing else {"Version": "2012-10-17", "Statement": []}
    kept = [s for s in policy.get("Statement", []) if not str(s.get("Sid", "")).startswith(_SID)]
    ours = [{"Sid": _SID + arn.rsplit(":", 1)[-1], "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
             "Action": "sqs:SendMessage", "Resource": queue_arn, "Condition": {"ArnEquals": {"aws:SourceArn": arn}}}
            for arn in topic_arns]
    return {**policy, "Version": policy.get("Version", "2012-10-17"), "Statement": kept + ours}
