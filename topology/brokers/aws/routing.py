"""Which subscribed queues would an SNS message reach? The declared subscriptions' filter policies
(attribute and body scope), evaluated as AWS documents them (filter_policy.py), for `topology test`
and `expectations:`. A differential test checks them against the SNS server's own filtering, and
tests/brokers/test_sns_filter_docs.py against the cases of AWS's documentation.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any, cast

from topology.brokers.aws.filter_policy import (
    MESSAGE_ATTRIBUTES,
    MESSAGE_BODY,
    attributes_message,
    body_message,
    matches,
)
from topology.core.resource import Resource
from topology.errors import InputError, ProblemsError, RoutingError
from topology.format.document import Publish

if TYPE_CHECKING:
    from topology.format.compile import Topology

__all__ = ["RAW_ATTRIBUTES_MAX", "publishes", "route_expectation", "route_sns"]

RAW_ATTRIBUTES_MAX = 10  # sns-message-attributes.html: message attributes a raw SQS subscriber is sent


def route_sns(resources: Mapping[str, Resource], topic: str, attributes: Mapping[str, Any] | None = None,
              body: Mapping[str, Any] | None = None) -> set[str]:
    """The queues subscribed to `topic` whose filter policy accepts the message."""
    if f"sns/topic/{topic}" not in resources:
        raise RoutingError(f"SNS topic `{topic}` is not declared")
    try:
        messages = {MESSAGE_ATTRIBUTES: attributes_message(attributes or {}), MESSAGE_BODY: body_message(body or {})}
    except ValueError as exc:
        raise RoutingError(f"the message cannot be published to SNS: {exc}") from None
    delivered = set()
    for resource in resources.values():
        if resource.kind != "sns.subscription" or resource.attributes["topic"] != topic \
                or "queue" not in resource.attributes:  # expectations name queues; other endpoints are not
            continue
        policy = resource.attributes.get("FilterPolicy")
        scope = resource.attributes.get("FilterPolicyScope") or MESSAGE_ATTRIBUTES
        # attribute-key-matching.html: "An empty set of attributes results in the filter not matching."
        if policy is not None and scope == MESSAGE_ATTRIBUTES and not attributes:
            continue
        # sns-message-attributes.html: a message of more than 10 attributes is discarded for a raw SQS subscriber
        if resource.attributes.get("RawMessageDelivery") and len(attributes or {}) > RAW_ATTRIBUTES_MAX:
            continue
        try:
            if policy is None or matches(policy, messages[scope]):
                delivered.add(resource.attributes["queue"])
        except (ValueError, TypeError, AttributeError) as exc:
            raise RoutingError(f"the filter policy of `{resource.name}` cannot be evaluated: {exc}") from None
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
    from topology.format.load import unset_in_target

    resource = topology.resources.get(f"sns/topic/{topic}")
    target: Any = topology.targets.get(resource.target or "") if resource else None
    if target is None or target.kind != "aws":
        raise InputError(f"`topology test --live` needs SNS topic `{topic}` on an aws target")
    unset = unset_in_target(topology.files, str(resource.target if resource else ""))
    if unset:  # its connection values need a variable not set: said where it is written
        raise ProblemsError(unset)
    subscriptions = [r.attributes for r in topology.resources.values()
                     if r.kind == "sns.subscription" and r.attributes["topic"] == topic and "queue" in r.attributes]
    with cast(AwsDriver, open_driver(target, name=str(resource.target if resource else ""))) as driver, \
            SnsProbe(driver.sqs, driver.sns, topic, subscriptions) as probe:
        found: set[str] = probe.route(publish.attributes, publish.body)
        return found
