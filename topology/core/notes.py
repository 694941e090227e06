"""Values an exported file writes with a comment after them: a secret's `${VAR}` placeholder saying
which variable to set, a construct topology cannot manage saying so. A broker's export returns a
`Noted` where it wants the comment; `topology export` writes it as `value  # note`."""

from __future__ import annotations

import re
import secrets
from typing import Any

import yaml

__all__ = ["Noted", "comment_text", "dump_with_notes"]


class Noted(str):
    """A string written with `note` as a YAML comment after it."""

    note: str

    def __new__(cls, value: str, note: str) -> Noted:
        noted = super().__new__(cls, value)
        noted.note = comment_text(" ".join(note.split()))  # one line
        return noted


def comment_text(text: str) -> str:
    """`text` as a YAML comment may hold it: on one line, and with no character YAML refuses to read (a live
    name in a note may hold controls and line breaks of every kind), each such written as its escape."""
    return "".join(c if c.isprintable() or c == " " else c.encode("unicode_escape").decode() for c in text)


def dump_with_notes(document: Any) -> str:
    """`document` as YAML (safe, in its own order), each `Noted` value followed on its line by its note.

    Each noted value is dumped first as a token no live text holds, and the token's line then gets the
    value, as YAML writes it alone, and the comment: a note always lands on its own value's line, however
    many values alike come before it."""
    nonce = secrets.token_hex(8)
    notes: dict[str, Noted] = {}

    class Dumper(yaml.SafeDumper):
        pass

    def token(dumper: yaml.SafeDumper, value: Noted) -> yaml.Node:
        name = f"topology-note-{nonce}-{len(notes)}"
        notes[name] = value
        return dumper.represent_str(name)

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"' if _folded(value) else None)

    Dumper.add_representer(Noted, token)
    Dumper.add_representer(str, text)
    lines = yaml.dump(document, Dumper=Dumper, sort_keys=False, allow_unicode=True, width=2**16).split("\n")
    found = {match.group(): index for index, line in enumerate(lines) for match in _TOKEN.finditer(line)}
    for name, value in notes.items():
        before, _, after = lines[found[name]].partition(name)
        scalar = _scalar(str(value))
        if after.startswith(":") and len(scalar) >= _SIMPLE_KEY:  # a long key: `? key  # note`, then `: value`
            lines[found[name]] = f"{before}? {scalar}  # {value.note}\n{' ' * len(before)}{after}"
        else:
            lines[found[name]] = f"{before}{scalar}{after}  # {value.note}"
    return "\n".join(lines)


_TOKEN = re.compile(r"topology-note-[0-9a-f]{16}-[0-9]+")
# The longest key YAML is written with as a simple key (`key: value`), as PyYAML's emitter does; a reader
# refuses a simple key past 1,024 characters, so a longer noted key is written as an explicit one.
_SIMPLE_KEY = 128


def _folded(text: str) -> bool:
    """Whether YAML would read `text` back otherwise unless it is double-quoted: PyYAML writes NEL and the
    Unicode line and paragraph separators as they are in other styles, and reads them back as a space."""
    return any(c in text for c in "\x85\u2028\u2029")


def _scalar(text: str) -> str:
    """`text` as YAML writes it on one line (double-quoted with escapes where it holds a line break)."""
    style = '"' if _folded(text) or any(c in text for c in "\n\r") else None
    dumped = yaml.safe_dump(text, allow_unicode=True, width=2**16, default_style=style)
    return dumped.removesuffix("\n").removesuffix("\n...")
