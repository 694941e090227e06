"""SQS's and SNS's attribute strings and topology's values, both ways: numbers and booleans parsed, JSON
documents kept as data (policies in their canonical form), ARNs of this account and region shortened
to names. The driver reads and writes through these; they make no request."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from topology.brokers.aws import policy
from topology.brokers.aws.spec import FEEDBACK, FEEDBACK_FIELDS

__all__ = ["CREDENTIALED", "QUEUE_INTS", "UNMANAGED", "credentialed", "local_name", "masked", "parse_queue",
           "parse_subscription", "parse_topic", "text", "topic_wire"]

UNMANAGED = "unmanaged"  # the attributes AWS reported that topology does not manage, as AWS gave them
CREDENTIALED = "credentialed"  # a subscription whose endpoint holds a password (shown masked): not managed

QUEUE_INTS = ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "MaximumMessageSize",
              "ReceiveMessageWaitTimeSeconds", "KmsDataKeyReusePeriodSeconds")
_QUEUE_TEXTS = ("DeduplicationScope", "FifoThroughputLimit", "KmsMasterKeyId")
_QUEUE_BOOLS = ("ContentBasedDeduplication", "SqsManagedSseEnabled")
_TOPIC_TEXTS = ("DisplayName", "FifoThroughputScope", "KmsMasterKeyId", "TracingConfig")
_TOPIC_INTS = ("SignatureVersion", "MaximumMessageSize")
_TOPIC_DOCUMENTS = ("DeliveryPolicy", "ArchivePolicy")
_FEEDBACK = tuple(prefix + suffix for prefix in FEEDBACK.values() for suffix in FEEDBACK_FIELDS.values())
# What Get*Attributes reports that is no setting (counts, times, names, states): read, never managed.
_QUEUE_INFO = {"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
               "ApproximateNumberOfMessagesDelayed", "CreatedTimestamp", "LastModifiedTimestamp", "QueueArn"}
_TOPIC_INFO = {"Owner", "TopicArn", "SubscriptionsPending", "SubscriptionsConfirmed", "SubscriptionsDeleted",
               "EffectiveDeliveryPolicy", "BeginningArchiveTime"}
_SUBSCRIPTION_INFO = {"SubscriptionArn", "TopicArn", "Owner", "Endpoint", "Protocol", "ConfirmationWasAuthenticated",
                      "PendingConfirmation", "EffectiveDeliveryPolicy", "ReplayStatus"}


def _unmanaged(raw: Mapping[str, str], known: set[str], attributes: dict[str, Any]) -> dict[str, Any]:
    """`attributes` with what else AWS reported (an attribute newer than topology, one it cannot manage)
    kept apart, so that export says so instead of dropping it."""
    others = {key: value for key, value in raw.items() if key not in known and value not in ("", None)}
    if others:
        attributes[UNMANAGED] = dict(sorted(others.items()))
    return attributes


def text(value: Any) -> str:
    """A value as the string SQS and SNS take: booleans in lower case, documents as JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


# scheme://user:password@ up to the host's `@`: a password may hold `#`, `?` and `@` unescaped (AWS takes them)
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://[^/?#@:]*):[^/]*@")


def credentialed(endpoint: str) -> bool:
    """Whether an http(s) endpoint holds a password (`https://user:password@host`, AWS's way to give an
    endpoint basic authentication): a secret, which topology never writes into an address or a file."""
    return bool(_USERINFO.match(endpoint))


def masked(endpoint: str) -> str:
    """The endpoint with its password, if any, as `***`."""
    return _USERINFO.sub(lambda match: f"{match[1]}:***@", endpoint, count=1)


def local_name(arn: str, account: str, region: str) -> str:
    """A queue's or topic's name when `arn` is of this account and region; else the ARN itself."""
    parts = arn.split(":")
    if len(parts) >= 6 and parts[3] == region and parts[4] == account:
        return parts[-1]
    return arn


def _arn_parts(arn: str) -> tuple[str, str]:
    """The region and account an ARN names ("", "" when it is not an ARN)."""
    parts = arn.split(":")
    return (parts[3], parts[4]) if len(parts) >= 6 else ("", "")


def parse_queue(raw: Mapping[str, str]) -> dict[str, Any]:
    """SQS's attribute strings as topology's values. The policy is what a file would declare: the queue's
    policy without the statements topology writes, in canonical form."""
    attributes: dict[str, Any] = {"FifoQueue": raw.get("FifoQueue", "false") == "true"}
    attributes.update({key: int(raw[key]) for key in QUEUE_INTS if raw.get(key)})
    attributes.update({key: raw[key] == "true" for key in _QUEUE_BOOLS if raw.get(key)})
    attributes.update({key: raw[key] for key in _QUEUE_TEXTS if raw.get(key)})
    region, account = _arn_parts(raw.get("QueueArn", ""))
    if raw.get("RedrivePolicy"):
        redrive = json.loads(raw["RedrivePolicy"])
        attributes["RedrivePolicy"] = {
            "deadLetterQueue": local_name(str(redrive["deadLetterTargetArn"]), account, region),
            "maxReceiveCount": int(redrive["maxReceiveCount"])}
    if raw.get("RedriveAllowPolicy"):
        allow = json.loads(raw["RedriveAllowPolicy"])
        attributes["RedriveAllowPolicy"] = {
            "redrivePermission": allow.get("redrivePermission"),
            "sourceQueues": sorted(local_name(str(arn), account, region) for arn in allow.get("sourceQueueArns", []))}
    declared = policy.canonical(policy.without_own(policy.parse(raw.get("Policy"))))
    if declared is not None:
        attributes["Policy"] = declared
    known = {*QUEUE_INTS, *_QUEUE_TEXTS, *_QUEUE_BOOLS, *_QUEUE_INFO, "FifoQueue", "RedrivePolicy",
             "RedriveAllowPolicy", "Policy"}
    return _unmanaged(raw, known, attributes)


def parse_topic(raw: Mapping[str, str]) -> dict[str, Any]:
    """SNS's topic attribute strings as topology's values (the policy always, in canonical form)."""
    attributes: dict[str, Any] = {"FifoTopic": raw.get("FifoTopic", "false") == "true"}
    if raw.get("ContentBasedDeduplication"):
        attributes["ContentBasedDeduplication"] = raw["ContentBasedDeduplication"] == "true"
    attributes.update({key: raw[key] for key in _TOPIC_TEXTS if raw.get(key)})
    attributes.update({key: int(raw[key]) for key in _TOPIC_INTS if raw.get(key)})
    attributes.update({key: json.loads(raw[key]) for key in _TOPIC_DOCUMENTS if raw.get(key)})
    if raw.get("Policy"):
        attributes["Policy"] = policy.canonical(policy.parse(raw["Policy"]))
    for key in _FEEDBACK:
        if raw.get(key):
            attributes[key] = int(raw[key]) if key.endswith("SampleRate") else raw[key]
    known = {*_TOPIC_TEXTS, *_TOPIC_INTS, *_TOPIC_DOCUMENTS, *_FEEDBACK, *_TOPIC_INFO, "FifoTopic",
             "ContentBasedDeduplication", "Policy"}
    return _unmanaged(raw, known, attributes)


def topic_wire(attributes: Mapping[str, Any]) -> dict[str, str]:
    """A topic's attributes as the strings CreateTopic takes (FifoTopic only when true)."""
    return {key: text(value) for key, value in attributes.items()
            if key not in ("tags", "tags_on_create") and not (key == "FifoTopic" and value is False)}


def parse_subscription(raw: Mapping[str, str], short: Callable[[str], str]) -> dict[str, Any]:
    """A subscription's attributes (GetSubscriptionAttributes) as topology's values; `short` turns a
    queue ARN into the queue's name where it is one of this account and region."""
    attributes: dict[str, Any] = {"RawMessageDelivery": raw.get("RawMessageDelivery", "false") == "true"}
    if raw.get("FilterPolicy"):
        attributes["FilterPolicy"] = json.loads(raw["FilterPolicy"])
        attributes["FilterPolicyScope"] = raw.get("FilterPolicyScope", "MessageAttributes")
    if raw.get("RedrivePolicy"):
        target = str(json.loads(raw["RedrivePolicy"]).get("deadLetterTargetArn", ""))
        attributes["RedrivePolicy"] = {"deadLetterQueue": short(target)}
    if raw.get("DeliveryPolicy"):
        attributes["DeliveryPolicy"] = json.loads(raw["DeliveryPolicy"])
    if raw.get("SubscriptionRoleArn"):
        attributes["SubscriptionRoleArn"] = raw["SubscriptionRoleArn"]
    known = {*_SUBSCRIPTION_INFO, "RawMessageDelivery", "FilterPolicy", "FilterPolicyScope", "RedrivePolicy",
             "DeliveryPolicy", "SubscriptionRoleArn"}
    return _unmanaged(raw, known, attributes)
