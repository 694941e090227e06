"""What SQS's and SNS's kinds of object are like: FIFO-ness is fixed at creation, tags may be added to
by others, and shortening a queue's retention discards messages."""

from __future__ import annotations

from topology.core.kinds import KindRules, lowered

__all__ = ["KINDS"]

KINDS: dict[str, KindRules] = {
    "sqs.queue": KindRules(immutable=frozenset({"FifoQueue"}), subset=frozenset({"tags"}), holds_data=True,
                           discards=lowered(("MessageRetentionPeriod",))),
    "sns.topic": KindRules(immutable=frozenset({"FifoTopic"}), subset=frozenset({"tags"})),
    "sns.subscription": KindRules(immutable=frozenset({"topic", "queue"}), hangs_off=True),
}
