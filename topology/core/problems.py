"""Located problems in topology files: what `validate` reports, all at once.

Each problem prints as `file:line:col path: what is wrong (what to do)`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

__all__ = ["Location", "Problem", "did_you_mean", "dotted"]

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
Severity = Literal["error", "warning"]
PathPart = str | int


@dataclass(frozen=True, slots=True)
class Location:
    file: str
    line: int  # 1-based
    column: int  # 1-based

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class Problem:
    message: str
    location: Location | None = None
    path: str = ""
    hint: str | None = None
    severity: Severity = "error"

    def __str__(self) -> str:
        where = f"{self.location} " if self.location else ""
        path = f"{self.path}: " if self.path else ""
        hint = f" ({self.hint})" if self.hint else ""
        prefix = "warning: " if self.severity == "warning" else ""
        return f"{where}{path}{prefix}{self.message}{hint}"

    def as_json(self) -> dict[str, object]:
        return {
            "severity": self.severity,
            "file": self.location.file if self.location else None,
            "line": self.location.line if self.location else None,
            "column": self.location.column if self.location else None,
            "path": self.path,
            "message": self.message,
            "hint": self.hint,
        }



def dotted(path: Iterable[PathPart]) -> str:
    """('kafka', 'topics', 'shop.orders', 'config') -> 'kafka.topics["shop.orders"].config'."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif not _PLAIN_KEY.match(part):
            text += f'["{part}"]'
        else:
            text += f".{part}" if text else str(part)
    return text


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """'did you mean `durable`?' when `word` looks like a misspelling of one of `choices`."""
    matches = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f"did you mean `{matches[0]}`?" if matches else None
