"""What SQS's, SNS's and CloudWatch's kinds of object are like: FIFO-ness is fixed at creation, tags and the topics a
queue lets send may be added to by others, the `managed-by: topology` tag is set only by a create (so
adopting an object plans no change), and shortening a queue's retention discards messages. An alarm's
description (naming the file and line of its limit) is written whenever the alarm is, but a moved line
alone plans no change."""

from __future__ import annotations

import json
from collections.abc import Mapping

from topology.core.kinds import Drawn, KindRules, Link, lowered, made_from
from topology.core.units import format_duration
from topology.format.monitoring import SQS_LIMITS

__all__ = ["KINDS"]


def _queue_name(queue: str) -> str:
    """A queue named by its ARN (`arn:aws:sqs:REGION:ACCOUNT:NAME`) or by its name: its name."""
    return queue.rsplit(":", 1)[-1] if queue.startswith("arn:") else queue


def _redrive(redrive: object) -> tuple[str, str]:
    """The dead-letter queue of a redrive policy and when messages go there."""
    if not isinstance(redrive, Mapping) or not redrive.get("deadLetterQueue"):
        return "", ""
    receives = redrive.get("maxReceiveCount")
    return _queue_name(str(redrive["deadLetterQueue"])), f"after {receives} receives" if receives else ""


def _queue_links(drawn: Drawn) -> list[Link]:
    """The queue's redrive to its dead-letter queue; a retry queue hangs off the queue whose `retry` made it."""
    links = []
    dead_letter, when = _redrive(drawn.attributes.get("RedrivePolicy"))
    if dead_letter:
        links.append(Link(drawn.address, f"sqs/queue/{dead_letter}", f"dead-letter {when}".strip(), "dead-letter",
                          target_name=dead_letter))
    delay = drawn.attributes.get("DelaySeconds")
    wait = format_duration(delay * 1000) if isinstance(delay, int) and not isinstance(delay, bool) and delay else None
    if drawn.role != "dead_letter":  # the redrive above draws that one
        links += made_from(drawn, "sqs/queue/", r"(?!)", r"(?P<parent>.+)-retry-(?P<delay>[^-.]+)(?P<suffix>\.fifo)?",
                           wait)
    return links


def _filter_text(policy: object, scope: object) -> str:
    """A filter policy in a line: `type: created, paid`."""
    if not isinstance(policy, Mapping):
        return ""
    parts = []
    for key in sorted(policy):
        value = policy[key]
        if isinstance(value, list) and all(isinstance(item, str | int | float) for item in value):
            parts.append(f"{key}: {', '.join(str(item) for item in value)}")
        else:
            parts.append(f"{key}: {json.dumps(value, sort_keys=True, separators=(',', ':'))}")
    return ("body " if scope == "MessageBody" else "") + "; ".join(parts)


def _subscription_links(drawn: Drawn) -> list[Link]:
    """A subscription is its arrow: from its topic to its queue (or endpoint), the filter policy on it; its own
    dead-letter queue takes what it cannot deliver."""
    attributes = drawn.attributes
    topic = str(attributes.get("topic", ""))
    source = f"sns/topic/{topic}"
    if attributes.get("queue"):
        queue = _queue_name(str(attributes["queue"]))
        target, name = f"sqs/queue/{queue}", queue
    else:
        name = f"{attributes.get('protocol', '')}: {attributes.get('endpoint', '')}"
        target = f"sns/endpoint/{attributes.get('protocol', '')}/{attributes.get('endpoint', '')}"
    links = [Link(source, target, _filter_text(attributes.get("FilterPolicy"), attributes.get("FilterPolicyScope")),
                  source_name=topic, target_name=name)]
    dead_letter, _ = _redrive(attributes.get("RedrivePolicy"))
    if dead_letter:
        links.append(Link(source, f"sqs/queue/{dead_letter}", f"dead-letter of {name}", "dead-letter",
                          source_name=topic, target_name=dead_letter))
    return links

KINDS: dict[str, KindRules] = {
    "sqs.queue": KindRules(
        limits=SQS_LIMITS, alarm_only=frozenset({"max_age"}), immutable=frozenset({"FifoQueue"}),
        create_only=frozenset({"tags_on_create"}),
        subset=frozenset({"tags", "allow_sns_topics"}), holds_data=True,
        discards=lowered(("MessageRetentionPeriod",)), drawn="node", links=_queue_links),
    "sns.topic": KindRules(immutable=frozenset({"FifoTopic"}), create_only=frozenset({"tags_on_create"}),
                           subset=frozenset({"tags"}), drawn="node"),
    "sns.subscription": KindRules(immutable=frozenset({"topic", "queue", "protocol", "endpoint"}), hangs_off=True,
                                  drawn="link", links=_subscription_links),
    "sqs.alarm": KindRules(create_only=frozenset({"tags_on_create", "AlarmDescription"})),
}
