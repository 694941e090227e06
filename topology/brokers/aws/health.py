"""What SQS queues hold now, for `topology status` and the exporter: SQS's three approximate counts.

One GetQueueAttributes per queue, asking for the counts only, the queues read concurrently on a bounded
pool (the target's parallelism) with the driver's client; a queue's URL is looked up once and then kept
by the driver. The age of the oldest message is not among a queue's attributes (it is the CloudWatch
metric ApproximateAgeOfOldestMessage), so it is not read here: a queue whose limits include `max_age`
says so in a note, and `sqs.alarms` watches it in CloudWatch instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from topology.core.monitor import Reading, Watch
from topology.core.pool import reading_pool
from topology.errors import BrokerError

__all__ = ["AGE_NOTE", "COUNTS", "read_health"]

# SQS's counts and the metric (core/monitor.py METRICS) each one is.
COUNTS = {"ApproximateNumberOfMessages": "depth", "ApproximateNumberOfMessagesNotVisible": "in_flight",
          "ApproximateNumberOfMessagesDelayed": "delayed"}
AGE_NOTE = ("the age of the oldest message is a CloudWatch metric (ApproximateAgeOfOldestMessage), "
            "not a queue attribute")
_NO_QUEUE = ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist")


def _gone(exc: BrokerError) -> bool:
    return getattr(exc, "code", None) in _NO_QUEUE


def read_health(sqs: Any, url_of: Callable[[str], str], forget: Callable[[str], None], watches: Sequence[Watch],
                parallelism: int) -> list[Reading]:
    """A reading of each watched SQS queue (`missing` for one that does not exist); any other watch is
    not SQS's and is said to be so. `url_of` gives a queue's URL (kept by the driver), `forget` drops it."""

    def one(watch: Watch) -> Reading:
        if watch.kind != "sqs.queue":
            return Reading(watch.address, {}, notes=(f"an AWS target does not hold {watch.kind} objects",))
        notes = (AGE_NOTE,) if "max_age" in watch.limits else ()
        try:
            url = url_of(watch.name)
            raw = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(COUNTS)).get("Attributes", {})
        except BrokerError as exc:
            if not _gone(exc):
                raise
            forget(watch.name)
            return Reading(watch.address, {}, notes=notes, missing=True)
        metrics = {metric: float(raw[count]) for count, metric in COUNTS.items() if count in raw}
        return Reading(watch.address, metrics, notes=notes)

    if not watches:
        return []
    with reading_pool(max(1, min(parallelism, len(watches)))) as pool:
        return list(pool.map(one, watches))
