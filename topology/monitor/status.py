"""`topology status`: the health rows as text, json or markdown, and the exit code."""

from __future__ import annotations

from collections.abc import Sequence

from topology.monitor.read import Health

__all__ = ["render_status", "status_code"]


def status_code(health: Health) -> int:
    """3 when a limit is breached (whatever else), 1 when a target could not be read, else 0."""
    rows = health.rows()
    if any(row.state == "breach" for row in rows):
        return 3
    return 1 if health.errors else 0


def render_status(health: Health, format: str, *, files: Sequence[str] = ()) -> str:
    raise NotImplementedError
