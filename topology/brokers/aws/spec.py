"""The `sqs:` and `sns:` sections."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from topology.format.common import Duration, Protectable, RemoteTarget, Retry, Size, Spec
from topology.format.monitoring import SqsMonitor

__all__ = [
    "FEEDBACK",
    "FEEDBACK_FIELDS",
    "PROTOCOLS",
    "SNS_DOCUMENTS",
    "SNS_PLAIN",
    "SQS_PLAIN",
    "SQS_SECONDS",
    "AwsTarget",
    "DeliveryStatusLogging",
    "RedriveAllow",
    "Sns",
    "SnsTopic",
    "Sqs",
    "SqsAlarms",
    "SqsDeadLetter",
    "SqsQueue",
    "Subscription",
    "SubscriptionDeadLetter",
]

# A queue's fields and the SQS attribute each is stored as: durations in whole seconds, and values as
# they are. Expansion, the checks and export read these tables.
SQS_SECONDS = {"visibility_timeout": "VisibilityTimeout", "message_retention": "MessageRetentionPeriod",
               "delay": "DelaySeconds", "receive_wait": "ReceiveMessageWaitTimeSeconds",
               "kms_data_key_reuse_period": "KmsDataKeyReusePeriodSeconds"}
SQS_PLAIN = {"max_message_size": "MaximumMessageSize", "content_based_deduplication": "ContentBasedDeduplication",
             "deduplication_scope": "DeduplicationScope", "fifo_throughput_limit": "FifoThroughputLimit",
             "sqs_managed_sse_enabled": "SqsManagedSseEnabled", "kms_master_key_id": "KmsMasterKeyId"}
# A topic's fields and the SNS attribute each is: values as they are, and JSON documents (kept as data).
SNS_PLAIN = {"display_name": "DisplayName", "content_based_deduplication": "ContentBasedDeduplication",
             "fifo_throughput_scope": "FifoThroughputScope", "kms_master_key_id": "KmsMasterKeyId",
             "signature_version": "SignatureVersion", "tracing_config": "TracingConfig",
             "maximum_message_size": "MaximumMessageSize"}
SNS_DOCUMENTS = {"policy": "Policy", "delivery_policy": "DeliveryPolicy", "archive_policy": "ArchivePolicy"}
# Delivery status logging: the protocols it is kept for (SNS's attribute prefix for each), and its fields.
FEEDBACK = {"http": "HTTP", "firehose": "Firehose", "lambda": "Lambda", "application": "Application", "sqs": "SQS"}
FEEDBACK_FIELDS = {"success_feedback_role_arn": "SuccessFeedbackRoleArn",
                   "success_feedback_sample_rate": "SuccessFeedbackSampleRate",
                   "failure_feedback_role_arn": "FailureFeedbackRoleArn"}
# SNS's protocols (Subscribe's `Protocol`).
PROTOCOLS = ("sqs", "http", "https", "email", "email-json", "sms", "lambda", "firehose", "application")
Protocol = Literal["sqs", "http", "https", "email", "email-json", "sms", "lambda", "firehose", "application"]
_POLICY = "an IAM policy document (Version, Statement), as YAML or JSON"


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
    content_based_deduplication: bool | None = Field(None, description="ContentBasedDeduplication; FIFO only.")
    deduplication_scope: Literal["queue", "messageGroup"] | None = Field(
        None, description="DeduplicationScope; FIFO only.")
    fifo_throughput_limit: Literal["perQueue", "perMessageGroupId"] | None = Field(
        None, description="FifoThroughputLimit; FIFO only; perMessageGroupId needs deduplication_scope: messageGroup.")
    sqs_managed_sse_enabled: bool | None = Field(
        None, description="SqsManagedSseEnabled: server-side encryption with keys SQS owns (SSE-SQS).")
    kms_master_key_id: str | None = Field(
        None, description="KmsMasterKeyId: server-side encryption with this KMS key (SSE-KMS), e.g. alias/aws/sqs.")
    kms_data_key_reuse_period: Duration | None = Field(
        None, description="KmsDataKeyReusePeriodSeconds, 60s to 24h: how long SQS reuses a data key (SSE-KMS).")
    policy: dict[str, Any] | None = Field(
        None, description=f"Policy: the queue's access policy, {_POLICY}. Statements letting subscribed topics "
        "send are added to it.")
    dead_letter: SqsDeadLetter | None = Field(None, description="Redrive to a dead-letter queue.")
    redrive_allow: RedriveAllow | None = Field(
        None, description="RedriveAllowPolicy: which queues may use this one as their dead-letter queue.")
    retry: Retry | None = Field(None, description="Retry queues with DelaySeconds, one per delay (max 15m each).")
    tags: dict[str, str] = Field(default_factory=dict, description="Queue tags. A queue topology creates is also "
                                 "tagged managed-by: topology.")
    monitor: SqsMonitor | None = Field(  # type: ignore[valid-type]
        None, description="Limits `topology status`, `alerts` and `exporter` watch; they change a plan only "
        "through `sqs.alarms`, whose CloudWatch alarms watch them.")


class Subscription(Spec):
    queue: str | None = Field(None, description="An SQS queue of this document, or a queue ARN (protocol sqs).")
    protocol: Protocol | None = Field(None, description="Protocol, for an endpoint other than a queue.")
    endpoint: str | None = Field(
        None, description="Endpoint: a URL (http, https), an email address (email, email-json), a phone number "
        "(sms), or an ARN (lambda, firehose, application, sqs).")
    raw_message_delivery: bool | None = Field(
        None, description="RawMessageDelivery: the message body without the SNS envelope (sqs, http, https, "
        "firehose); false unless set.")
    filter_policy: dict[str, Any] | None = Field(None, description="SNS filter policy.")
    filter_policy_scope: Literal["MessageAttributes", "MessageBody"] | None = Field(
        None, description="What the filter policy matches.")
    dead_letter: SubscriptionDeadLetter | None = Field(
        None, description="The subscription's redrive policy: where undeliverable messages go.")
    delivery_policy: dict[str, Any] | None = Field(
        None, description="DeliveryPolicy: how SNS retries deliveries to an http or https endpoint.")
    subscription_role_arn: str | None = Field(
        None, description="SubscriptionRoleArn: the role SNS writes to a firehose delivery stream with (firehose).")
    protect: bool = Field(False, description="Never delete this subscription.")


class DeliveryStatusLogging(Spec):
    success_feedback_role_arn: str | None = Field(
        None, description="<Protocol>SuccessFeedbackRoleArn: the role that logs successful deliveries.")
    success_feedback_sample_rate: int | None = Field(
        None, ge=0, le=100, description="<Protocol>SuccessFeedbackSampleRate: the percentage of successful "
        "deliveries logged, 0 to 100.")
    failure_feedback_role_arn: str | None = Field(
        None, description="<Protocol>FailureFeedbackRoleArn: the role that logs failed deliveries.")


class SnsTopic(Protectable):
    fifo: bool = Field(False, description="A FIFO topic; the name must end in .fifo. Immutable.")
    content_based_deduplication: bool | None = Field(None, description="ContentBasedDeduplication; FIFO only.")
    fifo_throughput_scope: Literal["Topic", "MessageGroup"] | None = Field(
        None, description="FifoThroughputScope; FIFO only.")
    archive_policy: dict[str, Any] | None = Field(
        None, description="ArchivePolicy: how long a FIFO topic keeps messages for replay; FIFO only.")
    display_name: str | None = Field(None, description="DisplayName: the sender name of email and SMS messages.")
    policy: dict[str, Any] | None = Field(None, description=f"Policy: who may use the topic, {_POLICY}.")
    delivery_policy: dict[str, Any] | None = Field(
        None, description="DeliveryPolicy: how SNS retries deliveries to http and https endpoints.")
    kms_master_key_id: str | None = Field(
        None, description="KmsMasterKeyId: server-side encryption with this KMS key, e.g. alias/aws/sns.")
    signature_version: Literal[1, 2] | None = Field(
        None, description="SignatureVersion: how SNS signs its messages, 1 (SHA1) or 2 (SHA256).")
    tracing_config: Literal["PassThrough", "Active"] | None = Field(
        None, description="TracingConfig: Active sends X-Ray data; standard topics only.")
    maximum_message_size: Size | None = Field(
        None, description="MaximumMessageSize, 1KiB to 1MiB; above 256KiB only with at most 100 subscriptions, "
        "all sqs, lambda or firehose.")
    delivery_status_logging: dict[Literal["http", "firehose", "lambda", "application", "sqs"],
                                  DeliveryStatusLogging] = Field(
        default_factory=dict, description="Delivery status logging per protocol (http covers https): the "
        "<Protocol>SuccessFeedbackRoleArn, <Protocol>SuccessFeedbackSampleRate and <Protocol>FailureFeedbackRoleArn "
        "attributes.")
    subscriptions: list[Subscription] = Field(default_factory=list, description="Subscriptions: queues and endpoints.")
    tags: dict[str, str] = Field(default_factory=dict, description="Topic tags. A topic topology creates is also "
                                 "tagged managed-by: topology.")


class SqsAlarms(Spec):
    """CloudWatch alarms for the `monitor:` limits of this file's queues (their roles' defaults included):
    one alarm per queue and limit, planned and applied like the queues."""

    actions: list[str] = Field(
        default_factory=list, description="AlarmActions: told when an alarm fires: SNS topics of this target by "
        "name, or ARNs.")
    ok_actions: list[str] = Field(
        default_factory=list, description="OKActions: told when an alarm clears: SNS topics by name, or ARNs.")
    period: Duration = Field(60_000, description="Period: the time each data point covers, a whole number of "
                             "minutes (SQS sends its metrics to CloudWatch once a minute).")
    evaluation_periods: int = Field(1, ge=1, description="EvaluationPeriods: how many periods are compared with "
                                    "the limit.")
    datapoints_to_alarm: int | None = Field(
        None, ge=1, description="DatapointsToAlarm: how many of them must breach (M of N); default: all.")
    missing_data: Literal["missing", "notBreaching", "breaching", "ignore"] = Field(
        "missing", description="TreatMissingData: how a period without data counts (SQS sends none for a queue "
        "idle for six hours).")
    prefix: str = Field("sqs-", description="Alarm names are PREFIX + queue + `-` + limit: sqs-billing-max_depth.")


class Sqs(Spec):
    target: str | None = Field(None, description="A name under `targets`; none means the embedded local target.")
    queues: dict[str, SqsQueue] = Field(default_factory=dict, description="Queues by name.")
    alarms: SqsAlarms | None = Field(
        None, description="CloudWatch alarms for the limits of this section's queues, managed as resources of "
        "its target (kind sqs.alarm); without it, limits create nothing.")


class Sns(Spec):
    target: str | None = Field(None, description="A name under `targets`; none means the embedded local target.")
    topics: dict[str, SnsTopic] = Field(default_factory=dict, description="Topics by name.")


class AwsTarget(RemoteTarget):
    kind: Literal["aws"] = Field(description="The broker kind this target serves.")
    region: str = Field(description="AWS region, e.g. us-east-1.")
    endpoint_url: str | None = Field(None, description="Endpoint override (moto, LocalStack); empty for AWS.")
    profile: str | None = Field(None, description="AWS profile name; default: the usual credential chain.")

