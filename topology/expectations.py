"""`topology test`: check the `expectations:` of a topology, statically or with live probes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from topology.compile import Topology
from topology.errors import InputError
from topology.routing import RoutingError, route_rabbitmq, route_sns
from topology.spec.document import Expectation

if TYPE_CHECKING:
    from topology.probe import LiveProbe

__all__ = ["Outcome", "check_expectations"]


@dataclass(frozen=True)
class Outcome:
    expectation: Expectation
    delivered: frozenset[str] | None  # None when routing could not be evaluated
    how: str  # "static" or "live"
    error: str | None = None

    @property
    def holds(self) -> bool:
        return self.delivered is not None and self.delivered == frozenset(self.expectation.delivered_to)

    def describe(self) -> str:
        publish = self.expectation.publish
        if publish.sns_topic is not None:
            what = f"sns topic {publish.sns_topic}" + (f" {publish.attributes}" if publish.attributes else "")
        else:
            exchange = publish.exchange or "(default exchange)"
            what = f"{publish.vhost}/{exchange} key {publish.routing_key!r}" + (
                f" headers {publish.headers}" if publish.headers else "")
        wanted = sorted(self.expectation.delivered_to)
        if self.error:
            return f"FAIL {what}: {self.error}"
        got = sorted(self.delivered or ())
        return (f"ok   {what} -> {wanted} ({self.how})" if self.holds
                else f"FAIL {what}: expected {wanted}, delivered to {got} ({self.how})")


def check_expectations(topology: Topology, *, live: bool = False) -> list[Outcome]:
    outcomes = []
    probes: dict[str, LiveProbe] = {}
    try:
        for expectation in topology.expectations:
            publish = expectation.publish
            how = "static"
            try:
                if publish.sns_topic is not None and live:
                    how = "live"
                    delivered = _sns_live(topology, publish.sns_topic, publish.attributes, publish.body)
                elif publish.sns_topic is not None:
                    delivered = route_sns(topology.resources, publish.sns_topic, publish.attributes, publish.body)
                elif live:
                    how = "live"
                    vhost = publish.vhost or "/"
                    probe = probes[vhost] = probes.get(vhost) or _probe(topology, vhost)
                    delivered = probe.route(publish.exchange or "", publish.routing_key, publish.headers)
                else:
                    delivered = route_rabbitmq(topology.resources, publish.vhost or "/", publish.exchange or "",
                                               publish.routing_key, publish.headers)
                outcomes.append(Outcome(expectation, frozenset(delivered), how))
            except RoutingError as exc:
                outcomes.append(Outcome(expectation, None, how, str(exc)))
    finally:
        for probe in probes.values():
            probe.close()
    return outcomes


def _probe(topology: Topology, vhost: str) -> LiveProbe:
    from topology.probe import LiveProbe

    targets = {r.target for r in topology.resources.values() if r.kind.startswith("rabbitmq.") and r.scope == vhost}
    target = topology.targets.get(next(iter(targets)) or "") if len(targets) == 1 else None
    if target is None or target.kind != "rabbitmq":
        raise InputError(f"`topology test --live` needs vhost `{vhost}` on a rabbitmq target (with `amqp_url` "
                         "or a management URL whose credentials also work over AMQP)")
    from topology.drivers.rabbitmq import default_amqp_url

    return LiveProbe(target.amqp_url or default_amqp_url(target.url), vhost, topology.resources)


def _sns_live(topology: Topology, topic: str, attributes: Mapping[str, Any],
              body: Mapping[str, Any] | None) -> set[str]:
    """Publish through a temporary topic whose temporary queues carry the real subscriptions' filters."""
    from topology.drivers.aws import AwsDriver
    from topology.probe import SnsProbe

    resource = topology.resources.get(f"sns/topic/{topic}")
    target = topology.targets.get(resource.target or "") if resource else None
    if target is None or target.kind != "aws":
        raise InputError(f"`topology test --live` needs SNS topic `{topic}` on an aws target")
    driver = AwsDriver(region=target.region, endpoint_url=target.endpoint_url or None, profile=target.profile,
                       connect_timeout=target.connect_timeout / 1000, read_timeout=target.timeout / 1000)
    subscriptions = [r.attributes for r in topology.resources.values()
                     if r.kind == "sns.subscription" and r.attributes["topic"] == topic]
    with SnsProbe(driver.sqs, driver.sns, topic, subscriptions) as probe:
        return probe.route(attributes, body)
