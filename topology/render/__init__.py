"""Renderers of a plan: text for terminals and logs, JSON for machines, markdown for pull requests.

They read only the Plan, so `plan` and `show` print the same thing."""

from topology.render.markdown import render_markdown
from topology.render.text import render_text

__all__ = ["render_markdown", "render_text"]
