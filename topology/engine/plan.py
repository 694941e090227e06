"""The plan: plain, frozen, serialisable data that says exactly what apply will do, in order.

The same inputs give byte-identical JSON (sorted keys, no timestamps), so plans can be reviewed,
saved, diffed and golden-tested. Renderers and apply read only this.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from topology import __version__

__all__ = ["FORMAT_VERSION", "AttributeChange", "Change", "Plan", "digest"]

FORMAT_VERSION: Literal[2] = 2  # 2: `variables` holds the names of the --var values only, never their values
Action = Literal["create", "update", "replace", "delete"]


def digest(data: Any) -> str:
    """sha256 of the canonical JSON of `data`."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AttributeChange(_Frozen):
    name: str
    before: Any = None
    after: Any = None
    forces_replacement: bool = False
    sensitive: bool = False  # before and after are never shown


class Change(_Frozen):
    address: str
    kind: str
    target: str  # a name under `targets`, or "local"
    name: str = ""  # the broker's name for it, and what that name is unique within (the vhost)
    scope: str = ""
    action: Action
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    attributes: tuple[AttributeChange, ...] = ()
    reasons: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()
    messages: int | None = Field(None, description="Messages held now, for data-holding resources.")
    loses_data: bool = False
    needs_empty: bool = Field(False, description="Planned as losing nothing although it deletes, replaces or "
                              "limits something that can hold data: apply re-checks that it is still empty.")

    @property
    def is_destructive(self) -> bool:
        return self.action in ("delete", "replace")


class Plan(_Frozen):
    format_version: Literal[2] = FORMAT_VERSION
    tool_version: str = __version__
    source_digest: str
    secrets_digest: str = Field("", description="scrypt of the secrets' values (never the values), so apply can "
                                "tell that a password changed since the plan.")
    live_digests: dict[str, str]
    files: tuple[str, ...] = ()
    environment: str | None = None
    variables: tuple[str, ...] = Field((), description="Names of the --var values the plan was made with; the "
                                       "values are never stored (one may be a password): apply takes them again.")
    changes: tuple[Change, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.changes

    @property
    def is_destructive(self) -> bool:
        return any(c.is_destructive for c in self.changes)

    @property
    def loses_data(self) -> bool:
        return any(c.loses_data for c in self.changes)

    def count(self, action: Action) -> int:
        return sum(1 for c in self.changes if c.action == action)

    def summary(self) -> str:
        return (f"Plan: {self.count('create')} to create, {self.count('update')} to update, "
                f"{self.count('replace')} to replace, {self.count('delete')} to delete.")

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Plan:
        return cls.model_validate_json(text)
