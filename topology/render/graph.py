"""A picture of the topology: mermaid or Graphviz dot, a plan's changes coloured."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from topology.engine.plan import Plan
    from topology.format.compile import Topology

__all__ = ["render_graph"]


def render_graph(topology: Topology, plan: Plan | None, format: str) -> str:
    """The topology drawn in `format` ("mermaid" or "dot")."""
    raise NotImplementedError(format)
