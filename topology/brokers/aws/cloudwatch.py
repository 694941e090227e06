"""The driver's CloudWatch side: SQS queues' alarms read in bulk and written (alarms.py says what they are).

Reads: DescribeAlarms by name, 100 names a request, the requests concurrently; with pruning, every
metric alarm of the account and region, page by page (100 a page), of which only those on AWS/SQS
metrics are kept, so that no glob ever reaches the account's other alarms. Writes: PutMetricAlarm
(which creates or wholly replaces an alarm) and DeleteAlarms; deleting an alarm that is gone already
is done.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from topology.brokers.aws.alarms import ALARM, NAMESPACE, PREFIX, alarm_request, parse_alarm
from topology.brokers.base import Live, Selection, glob_head, may_reach
from topology.core.pool import reading_pool
from topology.errors import BrokerError

__all__ = ["apply_alarm", "inspect_alarms", "wants_alarms"]

_NAMES_A_REQUEST = 100  # DescribeAlarms: AlarmNames, at most 100
_GONE = ("ResourceNotFound", "ResourceNotFoundException")


def wants_alarms(selection: Selection) -> bool:
    """Whether anything selected may be an alarm: one declared, or a pruning glob that can reach one."""
    return any(a.startswith(PREFIX) for a in selection.addresses) or \
        (selection.prune and any(may_reach(g, PREFIX) for g in selection.include))


def _live(raw: Mapping[str, Any]) -> Live:
    attributes = parse_alarm(raw)
    queue = attributes["Dimensions"].get("QueueName")
    return Live(ALARM, attributes, (f"sqs/queue/{queue}",) if queue else (), name=str(raw["AlarmName"]))


def _described(cloudwatch: Any, **kwargs: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    token = None
    while True:
        page = cloudwatch.describe_alarms(AlarmTypes=["MetricAlarm"], MaxRecords=100, **kwargs,
                                          **({"NextToken": token} if token else {}))
        found += page.get("MetricAlarms", [])
        token = page.get("NextToken")
        if not token:
            return found


def inspect_alarms(cloudwatch: Any, selection: Selection, parallelism: int) -> dict[str, Live]:
    """The selected alarms on AWS/SQS metrics, by address."""
    raw: list[dict[str, Any]] = []
    if selection.prune:
        heads = {glob_head(g) for g in selection.include if may_reach(g, PREFIX)}
        head = heads.pop() if len(heads) == 1 else ""
        prefix = head.removeprefix(PREFIX) if head.startswith(PREFIX) else ""  # one glob under alarms: its names
        raw = _described(cloudwatch, **({"AlarmNamePrefix": prefix} if prefix else {}))
    declared = sorted(a.removeprefix(PREFIX) for a in selection.addresses if a.startswith(PREFIX))
    if declared and not selection.prune:
        batches = [declared[i:i + _NAMES_A_REQUEST] for i in range(0, len(declared), _NAMES_A_REQUEST)]
        with reading_pool(max(1, min(parallelism, len(batches)))) as pool:
            for found in pool.map(lambda names: _described(cloudwatch, AlarmNames=names), batches):
                raw += found
    live = {f"{PREFIX}{alarm['AlarmName']}": _live(alarm) for alarm in raw if alarm.get("Namespace") == NAMESPACE}
    return {address: item for address, item in live.items() if selection.wants(address)}


def apply_alarm(cloudwatch: Any, action: str, name: str, after: Mapping[str, Any] | None,
                arn_of: Callable[[str], str]) -> None:
    """One alarm's change: a delete (done when the alarm is gone already), or a PutMetricAlarm with every
    attribute, tagged only when it creates."""
    if action in ("delete", "replace"):
        try:
            cloudwatch.delete_alarms(AlarmNames=[name])
        except BrokerError as exc:
            if getattr(exc, "code", None) not in _GONE:
                raise
        if action == "delete":
            return
    assert after is not None
    cloudwatch.put_metric_alarm(**alarm_request(name, after, arn_of, create=action in ("create", "replace")))

