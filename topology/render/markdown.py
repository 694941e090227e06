"""The plan as a pull-request comment: summary table first, destructive changes called out at the
top, every resource's details folded away."""

from __future__ import annotations

from topology.engine.plan import Plan
from topology.render.text import SYMBOLS
from topology.render.values import show_change

__all__ = ["render_markdown"]


def render_markdown(plan: Plan) -> str:
    if plan.is_empty:
        return "### topology plan\n\n**No changes.** The live brokers match the topology.\n"
    lines = ["### topology plan", "", "| create | update | replace | delete |", "| ---: | ---: | ---: | ---: |",
             f"| {plan.count('create')} | {plan.count('update')} | {plan.count('replace')} | {plan.count('delete')} |",
             ""]
    destructive = [c for c in plan.changes if c.is_destructive]
    if destructive:
        lines += ["> [!WARNING]", "> **Destructive changes**", ">"]
        for change in destructive:
            reasons = f": {'; '.join(change.reasons)}" if change.reasons else ""
            lines.append(f"> - `{SYMBOLS[change.action]}` `{change.address}` is {change.action}d{reasons}")
        lines.append("")
    lines += ["<details><summary>All changes</summary>", ""]
    for change in plan.changes:
        lines.append(f"#### `{SYMBOLS[change.action]}` `{change.address}` ({change.kind} on {change.target})")
        if change.reasons:
            lines.append(f"_{'; '.join(change.reasons)}_")
        lines += ["", "```diff"]
        mark = {"create": "+", "delete": "-"}.get(change.action, "!")
        lines += [f"{mark} {show_change(a, change.action)}" + ("  # forces replacement" if a.forces_replacement else "")
                  for a in change.attributes]
        lines += ["```", ""]
    lines += ["</details>", "", plan.summary()]
    return "\n".join(lines) + "\n"
