"""Prometheus alert rules for the declared limits, and promtool unit tests for them (being written)."""

from __future__ import annotations

from topology.format.compile import Topology

__all__ = ["prometheus_rules", "promtool_tests"]


def prometheus_rules(topology: Topology, *, hold: float) -> str:
    """A Prometheus rule file: one alert per watched object and limit, over the exporter's gauges; `hold`
    is the rules' `for:` in seconds."""
    raise NotImplementedError


def promtool_tests(topology: Topology, *, hold: float, rules_file: str) -> str:
    """A promtool test file for `prometheus_rules(topology, hold=hold)` saved as `rules_file`."""
    raise NotImplementedError
