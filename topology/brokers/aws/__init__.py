"""AWS: SQS queues, SNS topics and their subscriptions, and CloudWatch alarms for the queues' limits, through
boto3 (moto's server in tests)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from topology.brokers.aws import alarms, check, expand, export, kinds, routing, spec
from topology.brokers.base import Broker, NamingTemplate, Section

if TYPE_CHECKING:
    from topology.brokers.base import Driver

__all__ = ["BROKER"]


def _open(target: Any, name: str, parallelism: int) -> Driver:
    from topology.brokers.aws.driver import AwsDriver

    return AwsDriver(region=target.region, endpoint_url=target.endpoint_url or None, profile=target.profile,
                     parallelism=parallelism, **target.timeouts())


def _target_from_url(url: str) -> spec.AwsTarget:
    """`--target NAME=URL`: an endpoint (moto, LocalStack), or `aws` itself, in the environment's region."""
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    return spec.AwsTarget(kind="aws", region=region, endpoint_url=url if url != "aws" else None)


_FIFO = "Jinja2 template; `.fifo` is added for FIFO queues."

BROKER = Broker(
    name="aws",
    target=spec.AwsTarget,
    address_field="endpoint_url",
    open=_open,
    sections=(Section("sqs", spec.Sqs, "SQS queues.", expand.expand_sqs),
              Section("sns", spec.Sns, "SNS topics and their subscriptions.", expand.expand_sns)),
    naming=(NamingTemplate("sqs_retry_queue", "{{ queue }}-retry-{{ delay }}", _FIFO),
            NamingTemplate("sqs_dead_letter_queue", "{{ queue }}-dlq", _FIFO)),
    kinds=kinds.KINDS,
    checks=check.CHECKS,
    check_all=check.check_all,
    publishes=routing.publishes,
    check_publish=check.check_publish,
    route=routing.route_expectation,
    link=expand.link_subscriptions,
    export=export.export_aws,
    export_target=export.export_target,
    target_from_url=_target_from_url,
    watched=alarms.watched,
)
