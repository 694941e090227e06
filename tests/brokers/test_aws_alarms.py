"""CloudWatch alarms for SQS queues' limits (`sqs.alarms`), planned and applied on moto's server like
queues: one alarm per queue and limit, an update when a limit changes, no change once applied, pruned
only within `manage` and never beyond AWS/SQS alarms; and the checks of `sqs.alarms`. The tests use
their own names and leave moto's other state alone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli import with_file
from tests.conftest import AWS_ENDPOINT_URL, START_HINT, unique

pytestmark = pytest.mark.aws

_SETTINGS = {"endpoint_url": AWS_ENDPOINT_URL, "region_name": "us-east-1", "aws_access_key_id": "testing",
             "aws_secret_access_key": "testing"}


class _Aws:
    """boto3 clients on moto's server, and what the test made, removed after it."""

    def __init__(self, tag: str) -> None:
        import boto3

        self.tag = tag  # every name the test uses starts with it
        self.sqs = boto3.client("sqs", **_SETTINGS)
        self.sns = boto3.client("sns", **_SETTINGS)
        self.cloudwatch = boto3.client("cloudwatch", **_SETTINGS)

    def alarms(self, prefix: str = "") -> dict[str, dict[str, Any]]:
        """The test's alarms: named `prefix` + its tag."""
        pages = self.cloudwatch.get_paginator("describe_alarms").paginate(AlarmNamePrefix=prefix + self.tag)
        return {a["AlarmName"]: a for page in pages for a in page["MetricAlarms"]}

    def clean(self) -> None:
        names = [name for prefix in ("sqs-", "pr-") for name in self.alarms(prefix)]
        if names:
            self.cloudwatch.delete_alarms(AlarmNames=names)
        for url in self.sqs.list_queues(QueueNamePrefix=self.tag).get("QueueUrls", []):
            self.sqs.delete_queue(QueueUrl=url)
        for topic in self.sns.list_topics().get("Topics", []):
            if topic["TopicArn"].rsplit(":", 1)[-1].startswith(self.tag):
                self.sns.delete_topic(TopicArn=topic["TopicArn"])


@pytest.fixture(name="aws")
def aws_fixture() -> Iterator[_Aws]:
    import botocore.exceptions

    aws = _Aws(unique("al"))
    try:
        aws.cloudwatch.describe_alarms(MaxRecords=1)
    except botocore.exceptions.EndpointConnectionError as exc:
        pytest.fail(f"moto's server (CloudWatch) is not reachable at {AWS_ENDPOINT_URL} ({exc}); {START_HINT}",
                    pytrace=False)
    yield aws
    aws.clean()


def _file(tag: str, billing_limits: str, *, alarms: str = "{actions: [%(tag)s-oncall], period: 2m, "
          "evaluation_periods: 3, datapoints_to_alarm: 2}", manage: str = "") -> str:
    return f"""version: 1
targets:
  aws: {{kind: aws, region: us-east-1, endpoint_url: "{AWS_ENDPOINT_URL}"}}
{manage}sns:
  target: aws
  topics:
    {tag}-oncall: {{}}
sqs:
  target: aws
  alarms: {alarms % {"tag": tag}}
  queues:
    {tag}-billing: {{monitor: {billing_limits}, dead_letter: {{}}}}
"""


def test_limits_become_alarms_planned_and_applied_like_queues(aws: _Aws, tmp_path: Path) -> None:
    tag = aws.tag
    text = _file(tag, "{max_depth: 100, max_in_flight: 5, max_age: 5m}")
    planned = with_file(tmp_path, text, "plan")
    assert planned.returncode == 0, planned.stderr
    expected = {f"{tag}-billing-{limit}" for limit in ("max_depth", "max_in_flight", "max_age")} | {
        f"{tag}-billing-dlq-max_depth"}  # the dead-letter queue's built-in default: any message
    for name in expected:
        assert f"+ sqs/alarm/sqs-{name}  [sqs.alarm on aws]" in planned.stdout
    assert "Plan: 7 to create" in planned.stdout  # a topic, two queues and four alarms

    applied = with_file(tmp_path, text, "apply", "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    alarms = aws.alarms("sqs-")  # named PREFIX + queue + - + limit, the prefix sqs- unless set
    assert set(alarms) == {f"sqs-{n}" for n in expected}
    depth = alarms[f"sqs-{tag}-billing-max_depth"]
    assert (depth["Namespace"], depth["MetricName"], depth["Statistic"], depth["ComparisonOperator"]) == (
        "AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum", "GreaterThanThreshold")
    assert depth["Dimensions"] == [{"Name": "QueueName", "Value": f"{tag}-billing"}]
    assert (depth["Threshold"], depth["Period"], depth["EvaluationPeriods"], depth["DatapointsToAlarm"]) == (
        100.0, 120, 3, 2)
    topic_arn = aws.sns.create_topic(Name=f"{tag}-oncall")["TopicArn"]  # exists: gives its ARN back
    assert depth["AlarmActions"] == [topic_arn] and depth["OKActions"] == []
    assert f"{tag}-billing" in depth["AlarmDescription"] and "max_depth 100" in depth["AlarmDescription"]
    assert "t.topology.yaml:12" in depth["AlarmDescription"]  # the file and line that declared the limit
    age = alarms[f"sqs-{tag}-billing-max_age"]
    assert (age["MetricName"], age["Threshold"]) == ("ApproximateAgeOfOldestMessage", 300.0)
    assert alarms[f"sqs-{tag}-billing-max_in_flight"]["MetricName"] == "ApproximateNumberOfMessagesNotVisible"
    dlq = alarms[f"sqs-{tag}-billing-dlq-max_depth"]
    assert dlq["Threshold"] == 0.0 and "the built-in default for role dead_letter" in dlq["AlarmDescription"]
    tags = aws.cloudwatch.list_tags_for_resource(ResourceARN=depth["AlarmArn"])["Tags"]
    assert tags == [{"Key": "managed-by", "Value": "topology"}]

    again = with_file(tmp_path, text, "plan")
    assert again.returncode == 0 and "No changes" in again.stdout, again.stdout + again.stderr

    changed = text.replace("max_depth: 100", "max_depth: 250")
    updated = with_file(tmp_path, changed, "plan")
    assert f"~ sqs/alarm/sqs-{tag}-billing-max_depth" in updated.stdout
    assert "~ Threshold = 100.0 -> 250.0" in updated.stdout and "Plan: 0 to create, 1 to update" in updated.stdout
    assert with_file(tmp_path, changed, "apply", "--auto-approve").returncode == 0
    [after] = aws.cloudwatch.describe_alarms(AlarmNames=[f"sqs-{tag}-billing-max_depth"])["MetricAlarms"]
    assert after["Threshold"] == 250.0 and "max_depth 250" in after["AlarmDescription"]
    assert after["AlarmActions"] == [topic_arn]  # an update writes the whole alarm again
    assert "No changes" in with_file(tmp_path, changed, "plan").stdout


def test_a_file_without_sqs_alarms_plans_no_alarm(aws: _Aws, tmp_path: Path) -> None:
    text = _file(aws.tag, "{max_depth: 100}").replace("  alarms: {actions", "  # alarms: {actions")
    planned = with_file(tmp_path, text, "plan")
    assert planned.returncode == 0, planned.stderr
    assert "sqs/alarm" not in planned.stdout and "Plan: 3 to create" in planned.stdout


def test_alarms_are_pruned_only_within_manage_and_only_sqs_alarms(aws: _Aws, tmp_path: Path) -> None:
    tag = aws.tag
    manage = f"manage: {{prune: true, include: ['sqs/alarm/pr-{tag}-*']}}\n"
    alarms = "{prefix: pr-, actions: [%(tag)s-oncall]}"
    text = _file(tag, "{max_depth: 100, max_in_flight: 5}", alarms=alarms, manage=manage)
    assert with_file(tmp_path, text, "apply", "--auto-approve").returncode == 0
    assert set(aws.alarms("pr-")) == {f"pr-{tag}-billing-max_depth", f"pr-{tag}-billing-max_in_flight",
                                      f"pr-{tag}-billing-dlq-max_depth"}
    # Someone else's alarm under the same glob, on another service's metric: never read, so never pruned.
    aws.cloudwatch.put_metric_alarm(AlarmName=f"pr-{tag}-cpu", Namespace="AWS/EC2", MetricName="CPUUtilization",
                                    Statistic="Average", Period=60, EvaluationPeriods=1, Threshold=90.0,
                                    ComparisonOperator="GreaterThanThreshold")

    fewer = text.replace("{max_depth: 100, max_in_flight: 5}", "{max_depth: 100}")
    planned = with_file(tmp_path, fewer, "plan")
    assert f"- sqs/alarm/pr-{tag}-billing-max_in_flight" in planned.stdout, planned.stdout
    assert f"pr-{tag}-cpu" not in planned.stdout and "Plan: 0 to create, 0 to update, 0 to replace, 1 to delete" in \
        planned.stdout
    deleted = with_file(tmp_path, fewer, "apply", "--auto-approve", "--allow-delete")
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    assert set(aws.alarms("pr-")) == {f"pr-{tag}-billing-max_depth", f"pr-{tag}-billing-dlq-max_depth", f"pr-{tag}-cpu"}

    outside = fewer.replace(f"sqs/alarm/pr-{tag}-*", f"sqs/alarm/pr-{tag}-nothing-*")
    unmanaged = outside.replace("{max_depth: 100}", "{max_in_flight: 7}")  # max_depth's alarm: not in manage
    planned = with_file(tmp_path, unmanaged, "plan")
    assert f"+ sqs/alarm/pr-{tag}-billing-max_in_flight" in planned.stdout
    assert f"pr-{tag}-billing-max_depth" not in planned.stdout


def test_export_says_which_limit_makes_each_alarm(aws: _Aws, tmp_path: Path) -> None:
    tag = aws.tag
    text = _file(tag, "{max_depth: 100, max_age: 5m}", alarms="{prefix: pr-}")
    assert with_file(tmp_path, text, "apply", "--auto-approve").returncode == 0
    exported = with_file(tmp_path, text, "export", "--target", "aws", "--include", f"*{tag}*")
    assert exported.returncode == 0, exported.stderr
    line = next(x for x in exported.stdout.splitlines() if x.strip().startswith(f"{tag}-billing:"))
    assert f"CloudWatch alarm pr-{tag}-billing-max_depth" in line and "`monitor: {max_depth: 100}`" in line
    assert "`monitor: {max_age: 5m}`" in line


def test_validate_warns_of_max_age_and_checks_the_alarm_settings(tmp_path: Path) -> None:
    tag = "v"
    warned = with_file(tmp_path, _file(tag, "{max_age: 5m}"), "validate")
    assert warned.returncode == 0, warned.stderr
    assert "warning: `topology status` and the exporter cannot read max_age" in warned.stderr
    assert "CloudWatch alarm sqs-v-billing-max_age" in warned.stderr
    without = with_file(tmp_path, _file(tag, "{max_age: 5m}").replace("  alarms: {", "  # alarms: {"), "validate")
    assert without.returncode == 0 and "add `sqs.alarms`" in without.stderr

    period = with_file(tmp_path, _file(tag, "{max_depth: 1}", alarms="{period: 90s}"), "validate")
    assert period.returncode != 0
    assert "an alarm's period is a whole number of minutes; 90s is not" in period.stderr
    wrong = with_file(tmp_path, _file(tag, "{max_depth: 1, max_in_flight: 2}", alarms="{actions: [nowhere]}"),
                      "validate")
    assert wrong.returncode != 0
    assert "SNS topic `nowhere` in sqs.alarms.actions is not declared" in wrong.stderr
    assert wrong.stderr.count("`nowhere`") == 1  # once for the file, not once per alarm
    long = with_file(tmp_path, _file(tag, "{max_depth: 1}", alarms="{period: 1m, evaluation_periods: 1441}"),
                     "validate")
    assert long.returncode != 0 and "over CloudWatch's 1d" in long.stderr
    mn = with_file(tmp_path, _file(tag, "{max_depth: 1}", alarms="{evaluation_periods: 2, datapoints_to_alarm: 3}"),
                   "validate")
    assert mn.returncode != 0 and "datapoints_to_alarm (3) is more than evaluation_periods (2)" in mn.stderr


def test_an_action_given_by_arn_plans_no_change_once_applied(aws: _Aws, tmp_path: Path) -> None:
    tag = aws.tag
    arn = aws.sns.create_topic(Name=f"{tag}-pager")["TopicArn"]
    alarms = "{actions: [%(tag)s-oncall], ok_actions: [" + arn + "]}"
    text = _file(tag, "{max_in_flight: 9}", alarms=alarms)
    assert with_file(tmp_path, text, "apply", "--auto-approve").returncode == 0
    [alarm] = aws.cloudwatch.describe_alarms(AlarmNames=[f"sqs-{tag}-billing-max_in_flight"])["MetricAlarms"]
    assert alarm["OKActions"] == [arn] and alarm["AlarmActions"][0].endswith(f":{tag}-oncall")
    again = with_file(tmp_path, text, "plan")
    assert "No changes" in again.stdout, again.stdout + again.stderr
