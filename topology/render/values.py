"""How attribute values are written in plans: compact JSON, sensitive ones hidden."""

from __future__ import annotations

import json
from typing import Any

from topology.engine.plan import AttributeChange

__all__ = ["SENSITIVE", "show", "show_change"]

SENSITIVE = "(sensitive)"


def show(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def show_change(attribute: AttributeChange, action: str) -> str:
    """`name = after`, `name = before -> after` or `name = (sensitive)`."""
    if attribute.sensitive:
        return f"{attribute.name} = {SENSITIVE}"
    if action == "create":
        return f"{attribute.name} = {show(attribute.after)}"
    if action == "delete":
        return f"{attribute.name} = {show(attribute.before)}"
    return f"{attribute.name} = {show(attribute.before)} -> {show(attribute.after)}"
