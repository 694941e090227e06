"""Values an exported file writes with a comment after them: a secret's `${VAR}` placeholder saying
which variable to set, a construct topology cannot manage saying so. A broker's export returns a
`Noted` where it wants the comment; `topology export` writes it as `value  # note`."""

from __future__ import annotations

__all__ = ["Noted", "with_notes"]


class Noted(str):
    """A string written with `note` as a YAML comment after it."""

    note: str

    def __new__(cls, value: str, note: str) -> Noted:
        noted = super().__new__(cls, value)
        noted.note = " ".join(note.split())  # one line
        return noted


def with_notes(text: str, notes: list[Noted]) -> str:
    """`text` (YAML dumped in document order) with each of `notes`, in the same order, as a comment
    at the end of the first line after the previous one's that ends with its value."""
    lines = text.split("\n")
    index = 0
    for noted in notes:
        values = (str(noted), f"'{noted}'", f'"{noted}"')
        forms = values + tuple(f"{form}:" for form in values)  # a mapping's key (a topic's name) carries one too
        while index < len(lines) and not lines[index].rstrip().endswith(forms):
            index += 1
        if index == len(lines):
            break
        lines[index] = f"{lines[index].rstrip()}  # {noted.note}"
        index += 1
    return "\n".join(lines)
