"""What SQS's, SNS's and CloudWatch's kinds of object are like: FIFO-ness is fixed at creation, tags and the topics a
queue lets send may be added to by others, the `managed-by: topology` tag is set only by a create (so
adopting an object plans no change), and shortening a queue's retention discards messages. An alarm's
description (naming the file and line of its limit) is written whenever the alarm is, but a moved line
alone plans no change."""

from __future__ import annotations

from topology.core.kinds import KindRules, lowered
from topology.format.monitoring import SQS_LIMITS

__all__ = ["KINDS"]

KINDS: dict[str, KindRules] = {
    "sqs.queue": KindRules(
        limits=SQS_LIMITS, alarm_only=frozenset({"max_age"}), immutable=frozenset({"FifoQueue"}),
        create_only=frozenset({"tags_on_create"}),
        subset=frozenset({"tags", "allow_sns_topics"}), holds_data=True,
        discards=lowered(("MessageRetentionPeriod",))),
    "sns.topic": KindRules(immutable=frozenset({"FifoTopic"}), create_only=frozenset({"tags_on_create"}),
                           subset=frozenset({"tags"})),
    "sns.subscription": KindRules(immutable=frozenset({"topic", "queue", "protocol", "endpoint"}), hangs_off=True),
    "sqs.alarm": KindRules(create_only=frozenset({"tags_on_create", "AlarmDescription"})),
}
