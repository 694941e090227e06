"""The plan as people read it in a terminal or a CI log, in the notation Terraform made familiar."""

from __future__ import annotations

from topology.engine.plan import PARTIAL_NO_CHANGES, Change, Plan
from topology.render.values import show, show_change

__all__ = ["SYMBOLS", "render_text"]

SYMBOLS = {"create": "+", "update": "~", "replace": "-/+", "delete": "-"}
_VERBS = {"create": "created", "update": "updated in place", "replace": "replaced", "delete": "deleted"}
_COLOURS = {"create": "32", "update": "33", "replace": "35", "delete": "31"}


def _paint(text: str, code: str, colour: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if colour else text


def _block(change: Change, colour: bool) -> list[str]:
    symbol = SYMBOLS[change.action]
    lines = [f"  # {change.address} will be {_VERBS[change.action]}" +
             (f" ({'; '.join(change.reasons)})" if change.reasons else ""),
             _paint(f"{symbol:>3} {change.address}", _COLOURS[change.action], colour) +
             f"  [{change.kind} on {change.target}]"]
    names = [a.name for a in change.attributes] or list(change.before or ())
    width = max((len(name) for name in names), default=0)
    if change.action == "delete" and not change.attributes and change.before:
        for name, value in change.before.items():
            lines.append(f"      - {name.ljust(width)} = {show(value)}")
    for attribute in change.attributes:
        mark = {"create": "+", "delete": "-"}.get(change.action, "~")
        text = show_change(attribute, change.action).replace(attribute.name, attribute.name.ljust(width), 1)
        note = "   # forces replacement" if attribute.forces_replacement else ""
        lines.append(f"      {mark} {text}{note}")
    if change.loses_data:
        loss = next((r for r in change.reasons if r.startswith("loses data")), "loses data")
        lines.append(_paint(f"      # {loss}", "31;1", colour))
    return lines


def render_text(plan: Plan, *, colour: bool = False) -> str:
    if plan.is_empty and plan.partial:
        return f"{PARTIAL_NO_CHANGES}\n{plan.partial_note()}\n"
    if plan.is_empty:
        return "No changes. The live brokers match the topology.\n"
    lines = ["topology will perform the following actions:", ""]
    for change in plan.changes:
        lines += _block(change, colour)
        lines.append("")
    if plan.loses_data:
        lines.append(_paint("Warning: this plan loses data; apply needs --allow-data-loss.", "31;1", colour))
    if plan.count("delete"):
        lines.append("This plan deletes resources; apply needs --allow-delete.")
    if plan.partial:
        lines.append(_paint(f"Warning: {plan.partial_note()}", "33;1", colour))
    lines.append(plan.summary())
    return "\n".join(lines) + "\n"
