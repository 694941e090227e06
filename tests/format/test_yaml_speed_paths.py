"""The YAML reader (load._parse_yaml) reads a file from the parser's events without yaml Nodes: it gives the
same data, positions and problems as the composer-then-builder it replaced, which still reads files with
anchors, aliases or merge keys and is the reference here."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from topology.core.problems import Location, Problem, dotted
from topology.format import load
from topology.format.load import YAML_DEPTH_LIMIT, YAML_VALUE_LIMIT, Positions, _parse_yaml, _parsed

REPO = Path(__file__).parents[2]

# ------------------------------------------------------------------ the reference: composed, then built


def _reference_parse(text: str, file: str, positions: Positions, problems: list[Problem]) -> Any:
    """The composer then the builder: the reader as it was, and still what reads a file with anchors."""
    return _parsed(text, file, positions, problems, fast=False)


# ------------------------------------------------------------------------------------ comparing


def _read(parse: Any, text: str) -> tuple[Any, Positions, list[Problem]]:
    positions, problems = Positions("f.yaml"), []
    data = parse(text, "f.yaml", positions, problems)
    return data, positions, problems


def _fast(text: str, file: str, positions: Positions, problems: list[Problem]) -> Any:
    """The event reader alone: fails the test if it falls back to composing."""
    try:
        return _parsed(text, file, positions, problems, fast=True)
    except load._Fallback:
        pytest.fail(f"the reader fell back to composing for {text!r}")


def _same(left: Any, right: Any) -> bool:
    """Equal data, both readers' unreadable markers taken as one, NaN equal to NaN, of the same types."""
    if left is load._UNREADABLE or right is load._UNREADABLE:
        return left is right
    if type(left) is not type(right):
        return False
    if isinstance(left, dict):
        return list(left) == list(right) and all(_same(left[key], right[key]) for key in left)
    if isinstance(left, list):
        return len(left) == len(right) and all(_same(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, float) and math.isnan(left):
        return math.isnan(right)
    return bool(left == right)


def _assert_same_reading(text: str, *, fast: bool = False) -> list[Problem]:
    expected = _read(_reference_parse, text)
    got = _read(_fast if fast else _parse_yaml, text)
    assert [str(p) for p in got[2]] == [str(p) for p in expected[2]], text
    assert got[2] == expected[2], text
    assert _same(expected[0], got[0]), (text, expected[0], got[0])
    assert got[1].values == expected[1].values, text
    assert list(got[1].values) == list(expected[1].values), text
    assert got[1].keys == expected[1].keys, text
    return got[2]


# ----------------------------------------------------------------------------------- generated YAML

_WORDS = ["a", "b", "name", "x.y", "s:1", "=", "1", "0x1F", "1_000", "1:30", "012", "0o17", "-0", "+7",
          "1.5", "1e3", "6.8523015e+5", ".inf", "-.Inf", ".NaN", "yes", "No", "on", "true", "False", "~", "null",
          "2001-12-14", "2001-12-14t21:59:43.10-05:00", "2002-13-45", "'0'", '"x y"', "'true'", "!!str 5",
          "!!int 7", "!!int x", "!!float 1", "!!bool yes", "!!bool x", "!!timestamp x", "!!null ''", "!!binary aGk=",
          "!!binary '%%'",
          "!!timestamp 2001-01-01", "!foo bar", "! 4", "'a': b", "9" * 5000, "''", '""']
_KEYS = ["a", "b", "c", "a", "1", "true", "~", "1.5", "=", "2001-12-14", ".inf", "'q'", "[k1, k2]", "{x: 1}",
         "!!str 3", "!!int x", "!foo k", "!!binary aGk=", "9" * 5000, "<<"]
_ANCHORS = ["", "", "", "", "", "&a ", "&b ", "&c "]


def _scalar(draw: Any) -> str:
    word: str = draw(st.sampled_from(_WORDS))
    if draw(st.integers(0, 9)) == 0:
        return f"*{draw(st.sampled_from('abcz'))}"
    return draw(st.sampled_from(_ANCHORS)) + word


@st.composite
def _tree(draw: Any, depth: int = 0) -> Any:
    """("map", [(key, tree)]) | ("seq", [tree]) | a scalar's text."""
    choice = draw(st.integers(0, 4 if depth < 4 else 0))
    if choice <= 1:
        return _scalar(draw)
    if choice == 2:
        return "seq", draw(st.lists(_tree(depth + 1), max_size=4))
    return "map", draw(st.lists(st.tuples(st.sampled_from(_KEYS), _tree(depth + 1)), max_size=4))


def _flow(tree: Any) -> str:
    if isinstance(tree, str):
        return tree if not tree.startswith("'a'") else f"{{{tree}}}"
    kind, items = tree
    if kind == "seq":
        return "[" + ", ".join(_flow(item) for item in items) + "]"
    return "{" + ", ".join(f"{key}: {_flow(value)}" for key, value in items) + "}"


def _block(tree: Any, indent: int, flow: Any) -> list[str]:
    """Lines of `tree` as a block collection `indent` spaces in; flow(tree) says where to switch to flow."""
    pad = " " * indent
    kind, items = tree
    lines: list[str] = []
    for item in items:
        key, value = item if kind == "map" else ("", item)
        lead = f"{pad}{key}:" if kind == "map" else f"{pad}-"
        if isinstance(value, str) or not value[1] or flow(value):
            lines.append(f"{lead} {_flow(value)}")
        else:
            lines.append(lead)
            lines.extend(_block(value, indent + 2, flow))
    return lines


@st.composite
def documents(draw: Any) -> str:
    tree = draw(_tree())
    flows = draw(st.lists(st.booleans(), min_size=1, max_size=8))
    turn = iter(flows * 100)
    if isinstance(tree, str) or not tree[1] or next(turn):
        text = _flow(tree)
    else:
        text = "\n".join(_block(tree, 0, lambda _: next(turn, False)))
    spoil = draw(st.sampled_from(["", "", "", "", "\n- x", "\n---\nb: 1", "\n  : :", "\n["]))
    return f"{text}{spoil}\n"


@given(documents())
@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_generated_documents_read_the_same(text: str) -> None:
    _assert_same_reading(text)


@given(documents())
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_documents_without_anchors_are_read_from_the_events(text: str) -> None:
    plain = text.replace("&", "x").replace("*", "y").replace("<<", "k")
    _assert_same_reading(plain, fast=True)


@pytest.mark.parametrize("text", [
    "a: 1\na: 2\n", "a: {x: 1}\na: [2]\n", "? [a]\n: {b: 1, b: 2}\nc: 1\nc: 2\n", "{1: a, 1.0: b, true: c}\n",
    "a: !foo x\na: 1\nb: {c: 1, c: 2}\n", "a: {c: 1, c: 2}\nb: !foo x\n", "!foo k: v\na: 1\n",
    "a: !foo x\nb: [\n", "a: 99999\nb: 2002-13-45\nc: " + "9" * 5000 + "\n", "=: 1\n", "a: =\n", "", "# only\n",
    "---\n...\n", "x\n", "a: 1\n---\nb: 2\n", "[a, {b: [c, {d: e}]}, [[]]]\n", "a:\n- 1\n- - 2\n  - {}\n",
    "{? {a: 1}: b, c: d, c: e}\n", "a: !!set x\n", "!!map {a: 1}\n", "a: !!seq [1]\n",
])
def test_chosen_documents_are_read_from_the_events_the_same(text: str) -> None:
    _assert_same_reading(text, fast=True)


@pytest.mark.parametrize("text", [
    "base: &b {x: 1, y: 2}\nuse: {<<: *b, y: 3}\n", "a: &x {k: 1, k: 2}\nb: *x\n", "a: *nowhere\n",
    "a: &x [*x]\n", "a: &x 1\nb: &x 2\n", "a: {<<: [{p: 1}, {p: 2, q: 3}], q: 4}\n", "a: {b: 1, <<: {b: 2}}\n",
    "b: &b {x: 1}\nc: {<<: &m {<<: *b, x: 2}}\nd: *m\n", "a: {!!merge x: {b: 1}}\n", "a: {<<: 1}\n",
])
def test_anchors_aliases_and_merge_keys_read_the_same(text: str) -> None:
    _assert_same_reading(text)


def test_nesting_past_the_limit_stops_at_its_bracket_in_bounded_time() -> None:
    [problem] = _assert_same_reading("a:\n  b: " + "[" * (load.FILE_LIMIT - 10), fast=True)
    assert problem.location is not None and problem.location.line == 2  # libyaml's own flow limit, 1,000 deep
    [problem] = _assert_same_reading("a:\n  b: " + "{a: " * (load.FILE_LIMIT // 4 - 4), fast=True)
    assert problem.message == f"lists and mappings nest more than {YAML_DEPTH_LIMIT} deep here"
    assert problem.location == Location("f.yaml", 2, 6 + 4 * (YAML_DEPTH_LIMIT - 3) + 1)  # the key 64 deep
    block = "".join("  " * level + "k:\n" for level in range(2 * YAML_DEPTH_LIMIT))
    [problem] = _assert_same_reading(block, fast=True)
    assert problem.location == Location("f.yaml", YAML_DEPTH_LIMIT, 2 * YAML_DEPTH_LIMIT - 1)


def test_the_value_limit_stops_where_it_is_passed() -> None:
    text = "a: [" + "1, " * YAML_VALUE_LIMIT + "2]\n"
    [problem] = _read(_fast, text)[2]
    assert problem.message == f"the file holds more than {YAML_VALUE_LIMIT:,} values"
    passing = YAML_VALUE_LIMIT + 1 - 4  # the index of the item that passes it: the mapping, key and list count first
    assert problem.location == Location("f.yaml", 1, 5 + 3 * passing)
    assert _read(_fast, "a: [" + "1, " * (YAML_VALUE_LIMIT - 4) + "2]\n")[2] == []


@pytest.mark.parametrize(("text", "at", "kind"), [
    ("a: !!timestamp x\n", Location("f.yaml", 1, 4), "timestamp"),
    ("!!timestamp x: 1\n", Location("f.yaml", 1, 1), "timestamp"),
    ("a: [!!bool x]\n", Location("f.yaml", 1, 5), "bool")])
def test_a_timestamp_or_bool_that_is_none_is_a_located_problem(text: str, at: Location, kind: str) -> None:
    """PyYAML's constructors raise an AttributeError and a KeyError there: once a traceback."""
    [problem] = _assert_same_reading(text, fast=True)
    assert problem == Problem(f"this is not a valid {kind}", at, "", "quote it to keep it as text")


def test_an_unreadable_value_is_said_with_the_problems_before_it() -> None:
    problems = _assert_same_reading("a: 1\na: 2\nb: !foo x\nb: 3\nc: " + "9" * 5000 + "\n", fast=True)
    assert [p.message.split(" (")[0] for p in problems] == [
        "`a` is declared twice in the same mapping",
        "this is not valid YAML: could not determine a constructor for the tag '!foo'"]


def test_the_files_of_the_repository_read_the_same() -> None:
    paths = sorted({*REPO.glob("tests/**/*.yaml"), *REPO.glob("examples/**/*.yaml")})
    assert len(paths) > 20
    for path in paths:
        text = path.read_text(encoding="utf-8", errors="replace")
        if len(text) < 1_000_000:
            _assert_same_reading(text)


def test_the_positions_name_lines_and_columns_of_keys_and_values() -> None:
    data, positions, problems = _read(_fast, "a:\n  b: [1, {c: x}]\n  d: 'q'\n")
    assert problems == []
    assert data == {"a": {"b": [1, {"c": "x"}], "d": "q"}}
    assert positions.values == {(): (1, 1), ("a",): (2, 3), ("a", "b"): (2, 6), ("a", "b", 0): (2, 7),
                                ("a", "b", 1): (2, 10), ("a", "b", 1, "c"): (2, 14), ("a", "d"): (3, 6)}
    assert positions.keys == {("a",): (1, 1), ("a", "b"): (2, 3), ("a", "b", 1, "c"): (2, 11), ("a", "d"): (3, 3)}
    assert dotted(("a", "b", 1)) == "a.b[1]"
