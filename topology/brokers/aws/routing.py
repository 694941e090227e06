"""Which subscribed queues would an SNS message reach? A static evaluator of SNS filter policies
(attribute and body scope) over the declared topology, for `topology test` and `expectations:`.
A differential test checks it against the SNS server's own filtering.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any, cast

from topology.core.resource import Resource
from topology.errors import InputError, RoutingError
from topology.format.document import Publish

if TYPE_CHECKING:
    from topology.format.compile import Topology

__all__ = ["publishes", "route_expectation", "route_sns"]

def _rule_matches(rule: Any, value: Any, present: bool) -> bool:
    if isinstance(rule, dict):
        if "exists" in rule:
            return bool(rule["exists"]) == present
        if not present:
            return False
        if "prefix" in rule:
            return isinstance(value, str) and value.startswith(rule["prefix"])
        if "suffix" in rule:
            return isinstance(value, str) and value.endswith(rule["suffix"])
        if "anything-but" in rule:
            excluded = rule["anything-but"]
            excluded = excluded if isinstance(excluded, list) else [excluded]
            return value not in excluded
        if "numeric" in rule:
            return _numeric(rule["numeric"], value)
        if "equals-ignore-case" in rule:
            return isinstance(value, str) and value.lower() == str(rule["equals-ignore-case"]).lower()
        return False
    return present and (value == rule or (isinstance(value, list) and rule in value))


def _numeric(conditions: list[Any], value: Any) -> bool:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    checks = {"=": number.__eq__, "<": number.__lt__, "<=": number.__le__, ">": number.__gt__, ">=": number.__ge__}
    return all(checks[conditions[i]](float(conditions[i + 1])) for i in range(0, len(conditions), 2))


def _policy_matches(policy: Mapping[str, Any], message: Mapping[str, Any]) -> bool:
    for key, rules in policy.items():
        if key == "$or":
            if not any(_policy_matches(option, message) for option in rules):
                return False
            continue
        present = key in message
        value = message.get(key)
        if isinstance(rules, dict):  # nested (body scope)
            if not (present and isinstance(value, dict) and _policy_matches(rules, value)):
                return False
            continue
        if not any(_rule_matches(rule, value, present) for rule in rules):
            return False
    return True


def route_sns(resources: Mapping[str, Resource], topic: str, attributes: Mapping[str, Any] | None = None,
              body: Mapping[str, Any] | None = None) -> set[str]:
    """The queues subscribed to `topic` whose filter policy accepts the message."""
    if f"sns/topic/{topic}" not in resources:
        raise RoutingError(f"SNS topic `{topic}` is not declared")
    delivered = set()
    for resource in resources.values():
        if resource.kind != "sns.subscription" or resource.attributes["topic"] != topic:
            continue
        policy = resource.attributes.get("FilterPolicy")
        scope = resource.attributes.get("FilterPolicyScope", "MessageAttributes")
        message = (body or {}) if scope == "MessageBody" else (attributes or {})
        if policy is None or _policy_matches(policy, message):
            delivered.add(resource.attributes["queue"])
    return delivered


def publishes(publish: Publish) -> bool:
    """An expectation that publishes to an SNS topic is AWS's."""
    return publish.sns_topic is not None


def route_expectation(topology: Topology, publish: Publish, *, live: bool, probes: dict[str, Any],
                      stack: ExitStack) -> set[str]:
    """The queues `publish` reaches: by the declared filter policies, or `live` through a temporary topic
    whose temporary queues carry the real subscriptions' filters."""
    topic = str(publish.sns_topic)
    if not live:
        return route_sns(topology.resources, topic, publish.attributes, publish.body)
    from topology.brokers.aws.driver import AwsDriver
    from topology.brokers.aws.probe import SnsProbe
    from topology.brokers.registry import open_driver

    resource = topology.resources.get(f"sns/topic/{topic}")
    target: Any = topology.targets.get(resource.target or "") if resource else None
    if target is None or target.kind != "aws":
        raise InputError(f"`topology test --live` needs SNS topic `{topic}` on an aws target")
    subscriptions = [r.attributes for r in topology.resources.values()
                     if r.kind == "sns.subscription" and r.attributes["topic"] == topic]
    with cast(AwsDriver, open_driver(target, name=str(resource.target if resource else ""))) as driver, \
            SnsProbe(driver.sqs, driver.sns, topic, subscriptions) as probe:
        found: set[str] = probe.route(publish.attributes, publish.body)
        return found
