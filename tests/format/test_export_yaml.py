"""The YAML `topology export` writes reads back as the same text, whatever a live name or value holds:
a broker's names are free text (RabbitMQ and Redis take any Unicode, NEL and line separators included)."""

from __future__ import annotations

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from topology.core.notes import Noted, dump_with_notes

# What a broker name may hold: any Unicode scalar value (surrogates are not text), controls included.
_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)


@given(keys=st.lists(_TEXT, min_size=1, max_size=5, unique=True), values=st.lists(_TEXT, min_size=1, max_size=5),
       note=st.text(max_size=20))
@settings(max_examples=300, deadline=None)
def test_every_text_reads_back_as_itself_with_or_without_a_note(keys: list[str], values: list[str],
                                                                note: str) -> None:
    document = {"plain": dict(zip(keys, values, strict=False)),
                "noted": {Noted(key, note): Noted(value, note) for key, value in zip(keys, values, strict=False)}}
    text = dump_with_notes(document)
    expected = {"plain": dict(zip(keys, values, strict=False)), "noted": dict(zip(keys, values, strict=False))}
    assert yaml.safe_load(text) == expected


def test_line_separators_are_escaped_not_folded_into_spaces() -> None:
    for character in ("\x85", "\u2028", "\u2029"):
        text = dump_with_notes({f"a{character}b": f"c{character}d"})
        assert character not in text
        assert yaml.safe_load(text) == {f"a{character}b": f"c{character}d"}
