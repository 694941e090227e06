"""`topology test`: check the `expectations:` of a topology, statically or with live probes."""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from topology.brokers.registry import brokers
from topology.errors import RoutingError
from topology.format.compile import Topology
from topology.format.document import Expectation

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
    """Each expectation's outcome, found by the broker it publishes to: statically, or `live` with probes
    that never touch the real queues (closed however this ends)."""
    outcomes = []
    how = "live" if live else "static"
    with ExitStack() as stack:
        probes: dict[str, Any] = {}
        for expectation in topology.expectations:
            publish = expectation.publish
            owner = next(b for b in brokers() if b.publishes is not None and b.publishes(publish))
            assert owner.route is not None
            try:
                delivered = owner.route(topology, publish, live=live, probes=probes, stack=stack)
                outcomes.append(Outcome(expectation, frozenset(delivered), how))
            except RoutingError as exc:
                outcomes.append(Outcome(expectation, None, how, str(exc)))
    return outcomes
