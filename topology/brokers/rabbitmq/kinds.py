"""What RabbitMQ's kinds of object are like: immutable fields, what holds messages, and which policy
changes make the broker discard messages (and from which queues)."""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from functools import lru_cache

from topology.brokers.rabbitmq import parameters
from topology.core.kinds import Attributes, Drawn, KindRules, Link, lowered
from topology.core.resource import Live
from topology.core.units import format_duration
from topology.format.monitoring import QUEUE_LIMITS

__all__ = ["KINDS", "as_bytes", "policy_held", "policy_regex"]

_POLICY_LIMIT_PATHS = (("definition", "max-length"), ("definition", "max-length-bytes"),
                       ("definition", "message-ttl"), ("definition", "expires"), ("definition", "max-age"))
_POLICY_LIMITS = frozenset(path[-1] for path in _POLICY_LIMIT_PATHS)
_policy_lowered = lowered(*_POLICY_LIMIT_PATHS, creates=True)
# Constructs PCRE (RabbitMQ's regex engine) reads differently from Python's `re`, or Python lacks:
# a pattern using one is matched "unknown" rather than guessed.
_PCRE_ONLY = ("[:", "\\p", "\\P", "\\X", "\\Q", "\\E", "\\h", "\\H", "\\R", "\\K", "\\v", "\\V",
              "\\N", "\\g", "\\o", "\\x{", "(*", "(?|", "(?R", "(?(", "(?+", "(?-", "(?&", "(?C")


def _limits(attributes: Attributes | None) -> bool:
    return bool(attributes) and bool(_POLICY_LIMITS & set((attributes or {}).get("definition") or {}))


def _policy_discards(before: Attributes | None, after: Attributes | None) -> list[str]:
    """A policy discards when it lowers a limit or brings its limits to other queues; and any change of
    which queues it matches (or its removal) may let another policy's limits apply where it ruled."""
    if after is None:
        return ["removing it lets other policies apply to its queues"]
    found = _policy_lowered(before, after)
    if before is not None and not found and any(before.get(k) != after.get(k) for k in ("pattern", "apply-to",
                                                                                         "priority")):
        found.append("it now rules other queues, and other policies may apply to the ones it leaves")
    return found


@lru_cache(maxsize=512)
def policy_regex(pattern: str) -> re.Pattern[str] | None:
    """A policy pattern as RabbitMQ runs it (`re:run` on the name's bytes, PCRE without UTF or UCP): over the
    pattern's and the name's UTF-8 bytes read as Latin-1 (`as_bytes`), ASCII classes and case. None when
    Python might match otherwise than PCRE."""
    if any(construct in pattern for construct in (*_PCRE_ONLY, "\\Z", "\\z", "{,")):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            return re.compile(as_bytes(pattern), re.ASCII)
        except (re.error, FutureWarning):
            return None


def as_bytes(name: str) -> str:
    """A name as a policy's pattern sees it: its UTF-8 bytes, one character each (`é` is two)."""
    return name.encode().decode("latin-1")


def _pattern(attributes: Attributes | None) -> re.Pattern[str] | None:
    return policy_regex(str((attributes or {}).get("pattern", "")))


def policy_held(address: str, scope: str, before: Attributes | None, after: Attributes | None,
                 live: Mapping[str, Live]) -> int | None:
    """Messages in the queues of vhost `scope` whose limits the policy change can lower: the ones its
    (new) pattern matches when it sets limits; and, when another policy in the vhost sets limits, the
    ones its old or new pattern matches (those may now fall under the other policy)."""
    vhost = live.get(f"rabbitmq/vhost/{scope}")
    if vhost is None:
        return 0  # a new vhost holds nothing yet
    sides = _queue_sides(before, after, _others_limit(address, scope, live))
    if not sides:
        return 0
    patterns = [_pattern(side) for side in sides]
    if None in patterns:  # a pattern Python cannot match as RabbitMQ does: unknown, unless nothing is held
        return 0 if all(messages == 0 for messages in vhost.contents.values()) else None
    return _held_matching(vhost.contents, patterns)


def _others_limit(address: str, scope: str, live: Mapping[str, Live]) -> bool:
    """Whether another policy (or operator policy) in vhost `scope` sets limits."""
    return any(item.kind in ("rabbitmq.policy", "rabbitmq.operator_policy") and other != address
               and item.scope == scope and _limits(item.attributes) for other, item in live.items())


def _queue_sides(before: Attributes | None, after: Attributes | None, others: bool) -> list[Attributes]:
    """The sides of the change whose pattern counts, policies for exchanges left out: the new one when it sets
    limits; and both when another policy sets limits."""
    return [side for side in ((after,) if _limits(after) else ()) + ((before, after) if others else ())
            if side is not None and side.get("apply-to") != "exchanges"]


def _held_matching(contents: Mapping[str, int | None], patterns: list[re.Pattern[str] | None]) -> int | None:
    """Messages in the queues one of `patterns` matches; None when one of those queues' count is unknown."""
    total = 0
    for queue, messages in contents.items():
        if any(pattern is not None and pattern.search(as_bytes(queue)) for pattern in patterns):
            if messages is None:
                return None
            total += messages
    return total



def _arguments_text(arguments: Mapping[str, object]) -> str:
    return ", ".join(f"{key}={arguments[key]}" for key in sorted(arguments))


def _binding_links(drawn: Drawn) -> list[Link]:
    """A binding is its arrow: from its exchange to its queue (or exchange), the routing key on it."""
    attributes, vhost = drawn.attributes, drawn.scope
    source, destination = str(attributes.get("source", "")), str(attributes.get("destination", ""))
    kind = "exchange" if attributes.get("destination_type") == "exchange" else "queue"
    label = " ".join(part for part in (str(attributes.get("routing_key") or ""),
                                       _arguments_text(attributes.get("arguments") or {})) if part)
    return [Link(f"rabbitmq/{vhost}/exchange/{source}", f"rabbitmq/{vhost}/{kind}/{destination}", label,
                 source_name=source or "(default exchange)", target_name=destination)]


def _exchange_links(drawn: Drawn) -> list[Link]:
    """What the exchange cannot route goes to its alternate exchange."""
    alternate = (drawn.attributes.get("arguments") or {}).get("alternate-exchange")
    if not alternate:
        return []
    return [Link(drawn.address, f"rabbitmq/{drawn.scope}/exchange/{alternate}", "alternate", "alternate",
                 target_name=str(alternate))]


def _queue_links(drawn: Drawn) -> list[Link]:
    """The queue's dead-letter path. A wait queue (a message TTL, dead-lettering through the default exchange
    back to a queue) is drawn as that queue's retry tier: from the files when they made it (`retry:`), from a
    plan when its name extends the queue's (`billing.retry.5s` of `billing`)."""
    arguments = drawn.attributes.get("arguments") or {}
    if "x-dead-letter-exchange" not in arguments:
        return []
    exchange, key = str(arguments["x-dead-letter-exchange"]), arguments.get("x-dead-letter-routing-key")
    ttl = arguments.get("x-message-ttl")
    if exchange:
        label = "dead-letter" + (f" [{key}]" if key is not None else "")
        return [Link(drawn.address, f"rabbitmq/{drawn.scope}/exchange/{exchange}", label, "dead-letter",
                     target_name=exchange)]
    if key is None:  # the default exchange with each message's own routing key: no one queue to point at
        return []
    queue = f"rabbitmq/{drawn.scope}/queue/{key}"
    wait = format_duration(ttl) if isinstance(ttl, int) and not isinstance(ttl, bool) else None
    retry = drawn.role == "retry" if drawn.from_files else (wait is not None and drawn.name.startswith(f"{key}."))
    if retry:
        return [Link(queue, drawn.address, f"retry {wait}" if wait else "retry", "retry", source_name=str(key))]
    return [Link(drawn.address, queue, "dead-letter", "dead-letter", target_name=str(key))]


_BINDING = frozenset({"source", "destination", "destination_type", "routing_key", "arguments"})
_POLICY = KindRules(discards=_policy_discards, held=policy_held, container="rabbitmq/vhost/{scope}", in_container=True)

KINDS: dict[str, KindRules] = {
    "rabbitmq.vhost": KindRules(holds_data=True, is_container=True),  # deleting a vhost deletes every queue in it
    "rabbitmq.vhost_limits": KindRules(in_container=True),  # max-connections, max-queues: the ones not named lifted
    "rabbitmq.exchange": KindRules(immutable=frozenset({"type", "durable", "auto_delete", "internal", "arguments"}),
                                   in_container=True, drawn="node", links=_exchange_links),
    "rabbitmq.queue": KindRules(
        limits=QUEUE_LIMITS, immutable=frozenset({"type", "durable", "auto_delete", "arguments"}), holds_data=True,
        in_container=True, drawn="node", links=_queue_links),
    "rabbitmq.binding": KindRules(immutable=_BINDING, hangs_off=True, in_container=True, drawn="link",
                                  links=_binding_links),
    "rabbitmq.exchange_binding": KindRules(immutable=_BINDING, hangs_off=True, in_container=True, drawn="link",
                                           links=_binding_links),
    "rabbitmq.policy": _POLICY,
    "rabbitmq.operator_policy": _POLICY,
    "rabbitmq.user": KindRules(),
    "rabbitmq.permission": KindRules(hangs_off=True, in_container=True),
    "rabbitmq.topic_permission": KindRules(immutable=frozenset({"user", "exchange"}), hangs_off=True,
                                           in_container=True),
    **parameters.KINDS,  # global parameters, federation upstreams and sets, shovels
}
