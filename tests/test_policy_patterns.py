"""A RabbitMQ policy's pattern is matched as RabbitMQ matches it (PCRE over the name's UTF-8 bytes) both
where `topology test` finds a policy's alternate exchange and where plan counts the messages a limiting
policy puts at risk: one matcher for both, so the count never leaves out a queue the broker would trim."""

from __future__ import annotations

import pytest

from topology.brokers.rabbitmq.kinds import policy_held
from topology.core.resource import Live


def _held(pattern: str, queue: str) -> int | None:
    live = {"rabbitmq/vhost/v": Live("rabbitmq.vhost", {}, messages=7, contents={queue: 7}, name="v")}
    after = {"pattern": pattern, "apply-to": "queues", "priority": 0, "definition": {"max-length": 0}}
    return policy_held("rabbitmq/v/policy/p", "v", None, after, live)


@pytest.mark.parametrize(("pattern", "queue", "held"), [
    ("^q..$", "qé", 7),  # é is two bytes to PCRE: RabbitMQ applies the policy (read as text, it did not match)
    ("^q.$", "qé", 0),  # ... and one character is not enough for it
    ("^q\\w$", "qé", 0),  # PCRE's \w is ASCII only
    ("^orders$", "orders", 7), ("^orders$", "payments", 0),
])
def test_messages_at_risk_are_counted_over_the_names_bytes(pattern: str, queue: str, held: int) -> None:
    assert _held(pattern, queue) == held


def test_a_pattern_python_reads_otherwise_leaves_the_count_unknown() -> None:
    assert _held("^q{,2}$", "q") is None  # PCRE 8 reads `{,2}` as text, Python as a repeat
