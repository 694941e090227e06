"""The plan: plain, frozen, serialisable data that says exactly what apply will do, in order.

The same inputs give byte-identical JSON (sorted keys, no timestamps), so plans can be reviewed,
saved, diffed and golden-tested. Renderers and apply read only this.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from topology import __version__

__all__ = ["FORMAT_VERSION", "PARTIAL_NO_CHANGES", "READABLE_VERSIONS", "AttributeChange", "Change", "Plan",
           "SourceFile", "digest", "file_digest"]

# 2: `variables` holds the names of the --var values only, never their values.
# 3: `sources`: each file's path relative to the saved plan and the digest of its content (2 is still read).
# 4: `only` and `exclude`: the globs of a partial plan (3 is still read).
FORMAT_VERSION: Literal[4] = 4
READABLE_VERSIONS = (2, 3, 4)
Action = Literal["create", "update", "replace", "delete"]
PARTIAL_NO_CHANGES = "No changes in what this partial plan covers."


def digest(data: Any) -> str:
    """sha256 of the canonical JSON of `data`."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def file_digest(content: bytes) -> str:
    """sha256 of a topology file's content, its line endings read as `\\n` (a checkout may turn them to `\\r\\n`)."""
    return "sha256:" + hashlib.sha256(content.replace(b"\r\n", b"\n")).hexdigest()


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


@dataclass(frozen=True, slots=True)
class AttributeChange:
    """One attribute of a change. Changes are slotted dataclasses, not models: a plan of 100,000 resources
    holds a million of them (validated by `Plan` when a saved plan is read)."""

    __pydantic_config__ = ConfigDict(extra="forbid")

    name: str
    before: Any = None
    after: Any = None
    forces_replacement: bool = False
    sensitive: bool = False  # before and after are never shown


@dataclass(frozen=True, slots=True)
class Change:
    __pydantic_config__ = ConfigDict(extra="forbid")

    address: str
    kind: str
    target: str  # a name under `targets`, or "local"
    action: Action
    name: str = ""  # the broker's name for it, and what that name is unique within (the vhost)
    scope: str = ""
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    attributes: tuple[AttributeChange, ...] = ()
    reasons: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()
    messages: int | None = None  # messages held now, for data-holding resources
    loses_data: bool = False
    # planned as losing nothing although it deletes, replaces or limits something that can hold data:
    # apply re-checks that it is still empty
    needs_empty: bool = False

    @property
    def is_destructive(self) -> bool:
        return self.action in ("delete", "replace")

class SourceFile(_Frozen):
    path: str = Field(description="Where the file is, relative to the saved plan's directory (`/` separated).")
    digest: str = Field(description="file_digest of its content when the plan was made.")


class Plan(_Frozen):
    format_version: Literal[2, 3, 4] = FORMAT_VERSION
    tool_version: str = __version__
    source_digest: str
    secrets_digest: str = Field("", description="scrypt of the secrets' values (never the values), so apply can "
                                "tell that a password changed since the plan.")
    live_digests: dict[str, str]
    files: tuple[str, ...] = ()
    environment: str | None = None
    variables: tuple[str, ...] = Field((), description="Names of the --var values the plan was made with; the "
                                       "values are never stored (one may be a password): apply takes them again.")
    sources: tuple[SourceFile, ...] = Field((), description="Set when the plan is saved (`plan --out`): one for "
                                            "each of `files` (but an in-memory document), in order, so apply finds "
                                            "and checks them wherever the checkout and the plan are moved.")
    only: tuple[str, ...] = Field((), description="`--only` globs: a partial plan covers only the addresses they "
                                  "select (and what those depend on).")
    exclude: tuple[str, ...] = Field((), description="`--exclude` globs: a partial plan leaves out the addresses they "
                                     "select (and what depends on those).")
    changes: tuple[Change, ...] = ()

    @model_validator(mode="after")
    def _one_source_a_file(self) -> Plan:
        if self.sources and len(self.sources) != len(self.on_disk):
            raise ValueError("`sources` must name each of `files` once, in order")
        return self

    @property
    def on_disk(self) -> tuple[str, ...]:
        """`files` but an in-memory document."""
        from topology.format.load import DOCUMENT

        return tuple(f for f in self.files if f != DOCUMENT)

    def saved_at(self, location: str | os.PathLike[str], contents: Sequence[bytes]) -> Plan:
        """This plan as saved to `location`: each file of `files` (whose `contents` these are, in order)
        recorded relative to the plan's directory, with the digest of its content."""
        base = os.path.abspath(os.path.dirname(os.fspath(location)) or ".")
        sources = []
        for name, content in zip(self.on_disk, contents, strict=True):
            try:
                relative = Path(os.path.relpath(os.path.abspath(name), base)).as_posix()
            except ValueError:  # on another drive than the plan (Windows): only an absolute path reaches it
                relative = Path(os.path.abspath(name)).as_posix()
            sources.append(SourceFile(path=relative, digest=file_digest(content)))
        return self.model_copy(update={"format_version": FORMAT_VERSION, "sources": tuple(sources)})

    @property
    def partial(self) -> bool:
        """Made with `--only` or `--exclude`: other changes the files need may be left out."""
        return bool(self.only or self.exclude)

    def partial_note(self, code: Callable[[str], str] = str) -> str:
        """The sentence a partial plan is shown with ("" for a whole one); `code` writes each of its options
        (markdown: as code)."""
        if not self.partial:
            return ""
        globs = [code(f"--only {g}") for g in self.only] + [code(f"--exclude {g}") for g in self.exclude]
        return (f"This plan is partial ({', '.join(globs)}): changes the files need outside it are not planned; "
                "plan without them to see everything.")

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
