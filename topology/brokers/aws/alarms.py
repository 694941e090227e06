"""CloudWatch alarms for SQS queues' limits, where a file asks for them (`sqs.alarms`).

Limits alone never change a plan; with `sqs.alarms`, each limit of each queue the file declares (its own
`monitor:` and its role's defaults, generated queues included) becomes one CloudWatch alarm on the AWS/SQS
metric it bounds, a resource of the queue's target like the queue itself: `sqs/alarm/<name>`,
planned, applied, pruned (within `manage`) and exported like queues. Only alarms on AWS/SQS metrics are
read, so pruning never reaches an account's other alarms.

Here: the alarms made from the watches (`watched`, the broker's hook), the checks of `sqs.alarms`, and
the wire form of an alarm (DescribeAlarms' MetricAlarm to attributes, attributes to PutMetricAlarm).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from topology.brokers.aws.spec import SqsAlarms
from topology.core.monitor import LIMITS, Declared, Watch
from topology.core.problems import PathPart
from topology.core.resource import Resource
from topology.core.units import format_duration
from topology.format.expand import Expansion
from topology.format.load import LoadedFile

__all__ = ["ALARM", "METRICS", "NAMESPACE", "alarm_request", "check_settings", "parse_alarm", "watched"]

ALARM = "sqs.alarm"
PREFIX = "sqs/alarm/"
NAMESPACE = "AWS/SQS"
# The AWS/SQS metric each limit of an SQS queue bounds, in the limit's unit (messages; seconds for max_age).
METRICS = {"max_depth": "ApproximateNumberOfMessagesVisible", "max_in_flight": "ApproximateNumberOfMessagesNotVisible",
           "max_delayed": "ApproximateNumberOfMessagesDelayed", "max_age": "ApproximateAgeOfOldestMessage"}
LIMIT_OF = {metric: limit for limit, metric in METRICS.items()}
_NAME_LONGEST = 255  # PutMetricAlarm: AlarmName
_DESCRIPTION_LONGEST = 1024  # PutMetricAlarm: AlarmDescription
_ONE_DAY_S, _SEVEN_DAYS_S = 86_400, 604_800
_MANAGED_BY = {"managed-by": "topology"}


def alarm_name(prefix: str, queue: str, limit: str) -> str:
    return f"{prefix}{queue}-{limit}"


def check_settings(context: Expansion, alarms: SqsAlarms, path: tuple[PathPart, ...]) -> None:
    """`sqs.alarms` as PutMetricAlarm takes it: a period of whole minutes (SQS's metrics come once a
    minute), at most 1 day of periods under an hour and 7 days otherwise, M of N with M at most N."""
    period = alarms.period
    if period < 60_000 or period % 60_000:
        context.problem(f"an alarm's period is a whole number of minutes; {format_duration(period)} is not",
                        (*path, "period"), "SQS sends its metrics to CloudWatch once a minute: write 1m, 5m, ...")
        return
    seconds = period // 1000 * alarms.evaluation_periods
    longest = _ONE_DAY_S if period < 3_600_000 else _SEVEN_DAYS_S
    if seconds > longest:
        context.problem(f"period x evaluation_periods is {format_duration(seconds * 1000)}, over CloudWatch's "
                        f"{format_duration(longest * 1000)}", (*path, "evaluation_periods"),
                        "CloudWatch evaluates at most 1 day of periods shorter than an hour, and 7 days otherwise")
    if alarms.datapoints_to_alarm is not None and alarms.datapoints_to_alarm > alarms.evaluation_periods:
        context.problem(f"datapoints_to_alarm ({alarms.datapoints_to_alarm}) is more than evaluation_periods "
                        f"({alarms.evaluation_periods})", (*path, "datapoints_to_alarm"),
                        "an alarm fires when M of the last N periods breach: M is at most N")


def _description(watch: Watch, limit: str, declared: Declared) -> str:
    about = LIMITS[limit]
    value = format_duration(declared.value) if about.duration else f"{declared.value:,}"
    text = (f"SQS queue {watch.name} ({watch.role.replace('_', '-')}): {limit} {value}, "
            f"{declared.source}. Managed by topology.")
    return text[:_DESCRIPTION_LONGEST]


def _attributes(watch: Watch, limit: str, declared: Declared, settings: SqsAlarms) -> dict[str, Any]:
    evaluation = settings.evaluation_periods
    return {
        "Namespace": NAMESPACE, "MetricName": METRICS[limit], "Dimensions": {"QueueName": watch.name},
        "Statistic": "Maximum", "ComparisonOperator": "GreaterThanThreshold",
        "Threshold": LIMITS[limit].threshold(declared.value), "Period": settings.period // 1000,
        "EvaluationPeriods": evaluation, "DatapointsToAlarm": settings.datapoints_to_alarm or evaluation,
        "TreatMissingData": settings.missing_data, "AlarmActions": sorted(set(settings.actions)),
        "OKActions": sorted(set(settings.ok_actions)), "AlarmDescription": _description(watch, limit, declared),
        "tags_on_create": dict(_MANAGED_BY)}


def watched(watches: Callable[[], Sequence[Watch]], files: Sequence[LoadedFile]) -> list[Resource]:
    """One alarm per limit of each SQS queue declared (or generated) in a file whose `sqs:` section has
    `alarms:`, on the queue's target; each depends on its queue and on the SNS topics it names."""
    asking: dict[str, tuple[LoadedFile, SqsAlarms]] = {}
    for loaded in files:
        section = loaded.document.section("sqs") if loaded.document is not None else None
        if section is not None and section.alarms is not None:
            asking[loaded.positions.file] = (loaded, section.alarms)
    if not asking:
        return []
    made: list[Resource] = []
    for watch in watches():
        found = asking.get(watch.origin.file) if watch.kind == "sqs.queue" and watch.origin else None
        if found is None:
            continue
        loaded, settings = found
        topics = tuple(f"sns/topic/{a}" for a in sorted({*settings.actions, *settings.ok_actions})
                       if not a.startswith("arn:"))
        for limit, declared in sorted(watch.limits.items()):
            if limit not in METRICS:
                continue
            name = alarm_name(settings.prefix, watch.name, limit)
            made.append(Resource(
                kind=ALARM, address=f"{PREFIX}{name}", name=name, scope="", target=watch.target,
                attributes=_attributes(watch, limit, declared, settings), depends_on=(watch.address, *topics),
                generated_by=watch.address, origin=loaded.positions.at(("sqs", "alarms"), key=True),
                path=("sqs", "alarms")))
    return made


def parse_alarm(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A MetricAlarm as DescribeAlarms gives it, as the attributes `watched` makes: SNS topics of the
    alarm's own account and region by name, AWS's defaults written out (every period must breach,
    missing data is missing)."""
    evaluation = int(raw.get("EvaluationPeriods") or 1)
    parts = str(raw.get("AlarmArn", "")).split(":")
    region, account = (parts[3], parts[4]) if len(parts) >= 6 else ("", "")
    attributes: dict[str, Any] = {
        "Namespace": raw.get("Namespace", ""), "MetricName": raw.get("MetricName", ""),
        "Dimensions": {d["Name"]: d["Value"] for d in raw.get("Dimensions", [])},
        "Statistic": raw.get("Statistic") or raw.get("ExtendedStatistic", ""),
        "ComparisonOperator": raw.get("ComparisonOperator", ""), "Threshold": float(raw.get("Threshold", 0.0)),
        "Period": int(raw.get("Period") or 0), "EvaluationPeriods": evaluation,
        "DatapointsToAlarm": int(raw.get("DatapointsToAlarm") or evaluation),
        "TreatMissingData": raw.get("TreatMissingData") or "missing",
        "AlarmActions": sorted(_named(a, account, region) for a in raw.get("AlarmActions", [])),
        "OKActions": sorted(_named(a, account, region) for a in raw.get("OKActions", [])),
        "AlarmDescription": raw.get("AlarmDescription", "")}
    if raw.get("ActionsEnabled") is False:
        attributes["ActionsEnabled"] = False
    return attributes


def in_file_words(live: Mapping[str, Any], declared: Mapping[str, Any], region: str) -> dict[str, Any]:
    """A live alarm's actions as the file writes them: an SNS topic of the alarm's own account and region,
    read by its name, by its ARN where the file gives that."""
    result = dict(live)
    for key in ("AlarmActions", "OKActions"):
        arns = {a.rsplit(":", 1)[-1]: a for a in declared.get(key, ())
                if a.startswith("arn:") and a.split(":")[2:4] == ["sns", region]}
        result[key] = sorted(arns.get(a, a) for a in live.get(key, ()))
    return result


def _named(arn: str, account: str, region: str) -> str:
    """An SNS topic of this account and region by its name; any other action (another account's topic,
    an Auto Scaling policy, a Systems Manager action) by its ARN."""
    parts = arn.split(":")
    return parts[-1] if len(parts) == 6 and parts[2] == "sns" and parts[3:5] == [region, account] else arn


def alarm_request(name: str, attributes: Mapping[str, Any], arn_of: Callable[[str], str],
                  create: bool) -> dict[str, Any]:
    """PutMetricAlarm's arguments for the alarm `name` with these attributes; SNS topics named by name
    become their ARNs (`arn_of`); tags only on a create, as AWS ignores them on an update."""
    request: dict[str, Any] = {
        "AlarmName": name, "AlarmDescription": attributes.get("AlarmDescription", ""),
        "ActionsEnabled": attributes.get("ActionsEnabled", True),
        "AlarmActions": [a if a.startswith("arn:") else arn_of(a) for a in attributes.get("AlarmActions", [])],
        "OKActions": [a if a.startswith("arn:") else arn_of(a) for a in attributes.get("OKActions", [])],
        "Namespace": attributes["Namespace"], "MetricName": attributes["MetricName"],
        "Dimensions": [{"Name": k, "Value": v} for k, v in attributes.get("Dimensions", {}).items()],
        "Statistic": attributes["Statistic"], "Period": attributes["Period"],
        "EvaluationPeriods": attributes["EvaluationPeriods"], "Threshold": attributes["Threshold"],
        "ComparisonOperator": attributes["ComparisonOperator"],
        "TreatMissingData": attributes.get("TreatMissingData", "missing")}
    if "DatapointsToAlarm" in attributes:
        request["DatapointsToAlarm"] = attributes["DatapointsToAlarm"]
    if create and attributes.get("tags_on_create"):
        request["Tags"] = [{"Key": k, "Value": v} for k, v in attributes["tags_on_create"].items()]
    return request
