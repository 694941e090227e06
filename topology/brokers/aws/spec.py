"""The `sqs:` and `sns:` sections."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from topology.format.common import Duration, Protectable, RemoteTarget, Retry, Size, Spec

__all__ = [
    "SQS_PLAIN",
    "SQS_SECONDS",
    "AwsTarget",
    "RedriveAllow",
    "Sns",
    "SnsTopic",
    "Sqs",
    "SqsDeadLetter",
    "SqsQueue",
    "Subscription",
    "SubscriptionDeadLetter",
]

# A queue's fields and the SQS attribute each is stored as: durations in whole seconds, and values as
# they are. Expansion, the checks and export read these tables.
SQS_SECONDS = {"visibility_timeout": "VisibilityTimeout", "message_retention": "MessageRetentionPeriod",
               "delay": "DelaySeconds", "receive_wait": "ReceiveMessageWaitTimeSeconds"}
SQS_PLAIN = {"max_message_size": "MaximumMessageSize", "content_based_deduplication": "ContentBasedDeduplication",
             "deduplication_scope": "DeduplicationScope", "fifo_throughput_limit": "FifoThroughputLimit"}


class SqsDeadLetter(Spec):
    queue: str | None = Field(None, description="The dead-letter queue; created unless declared.")
    max_receives: int = Field(5, ge=1, le=1000, description="Receives before a message moves to the DLQ.")


class RedriveAllow(Spec):
    permission: Literal["allowAll", "denyAll", "byQueue"] = Field(
        description="Which queues may use this one as their dead-letter queue.")
    source_queues: list[str] = Field(
        default_factory=list, max_length=10, description="With byQueue: the queues (names or ARNs), at most 10.")


class SubscriptionDeadLetter(Spec):
    queue: str = Field(description="SQS queue (of this document, or an ARN) for messages SNS cannot deliver.")


class SqsQueue(Protectable):
    fifo: bool = Field(False, description="A FIFO queue; the name must end in .fifo. Immutable.")
    visibility_timeout: Duration | None = Field(None, description="VisibilityTimeout, at most 12h.")
    message_retention: Duration | None = Field(None, description="MessageRetentionPeriod, 60s to 14d.")
    delay: Duration | None = Field(None, description="DelaySeconds, at most 15m.")
    max_message_size: Size | None = Field(None, description="MaximumMessageSize, 1KiB to 1MiB.")
    receive_wait: Duration | None = Field(None, description="ReceiveMessageWaitTimeSeconds, at most 20s.")
    content_based_deduplication: bool | None = Field(None, description="FIFO only.")
    deduplication_scope: Literal["queue", "messageGroup"] | None = Field(None, description="FIFO only.")
    fifo_throughput_limit: Literal["perQueue", "perMessageGroupId"] | None = Field(None, description="FIFO only.")
    dead_letter: SqsDeadLetter | None = Field(None, description="Redrive to a dead-letter queue.")
    redrive_allow: RedriveAllow | None = Field(
        None, description="RedriveAllowPolicy: which queues may use this one as their dead-letter queue.")
    retry: Retry | None = Field(None, description="Retry queues with DelaySeconds, one per delay (max 15m each).")
    tags: dict[str, str] = Field(default_factory=dict, description="Queue tags (managed-by: topology is added).")


class Subscription(Spec):
    queue: str = Field(description="An SQS queue of this document, or a queue ARN.")
    raw_message_delivery: bool = Field(False, description="Deliver the message body without the SNS envelope.")
    filter_policy: dict[str, Any] | None = Field(None, description="SNS filter policy.")
    filter_policy_scope: Literal["MessageAttributes", "MessageBody"] | None = Field(
        None, description="What the filter policy matches.")
    dead_letter: SubscriptionDeadLetter | None = Field(
        None, description="The subscription's redrive policy: where undeliverable messages go.")
    protect: bool = Field(False, description="Never delete this subscription.")


class SnsTopic(Protectable):
    fifo: bool = Field(False, description="A FIFO topic; the name must end in .fifo. Immutable.")
    content_based_deduplication: bool | None = Field(None, description="FIFO only.")
    display_name: str | None = Field(None, description="DisplayName.")
    subscriptions: list[Subscription] = Field(default_factory=list, description="SQS subscriptions.")
    tags: dict[str, str] = Field(default_factory=dict, description="Topic tags (managed-by: topology is added).")


class Sqs(Spec):
    target: str | None = Field(None, description="A name under `targets`; none means the embedded local target.")
    queues: dict[str, SqsQueue] = Field(default_factory=dict, description="Queues by name.")


class Sns(Spec):
    target: str | None = Field(None, description="A name under `targets`; none means the embedded local target.")
    topics: dict[str, SnsTopic] = Field(default_factory=dict, description="Topics by name.")


class AwsTarget(RemoteTarget):
    kind: Literal["aws"] = Field(description="The broker kind this target serves.")
    region: str = Field(description="AWS region, e.g. us-east-1.")
    endpoint_url: str | None = Field(None, description="Endpoint override (moto, LocalStack); empty for AWS.")
    profile: str | None = Field(None, description="AWS profile name; default: the usual credential chain.")

