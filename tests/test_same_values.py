"""`same` (how the differ and the drivers' read-backs compare attribute values) answers exactly as
comparing the values' canonical JSON does, for any values, its fast paths included."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from topology.core.resource import same

SCALARS = st.none() | st.booleans() | st.integers(-3, 3) | st.floats(-3, 3) | st.just(float("nan")) | st.sampled_from(
    ["", "a", "1", "true", "null"])
KEYS = st.sampled_from(["a", "b", "1"])
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.tuples(inner, inner)
                      | st.dictionaries(KEYS, inner, max_size=3), max_leaves=8)


def _as_json(left: Any, right: Any) -> bool:
    return json.dumps(left, sort_keys=True) == json.dumps(right, sort_keys=True)


def _reordered(value: Any) -> Any:
    """The same data, every mapping's keys in reverse order, lists as tuples and tuples as lists."""
    if isinstance(value, dict):
        return {key: _reordered(value[key]) for key in reversed(list(value))}
    if isinstance(value, list):
        return tuple(_reordered(v) for v in value)
    if isinstance(value, tuple):
        return [_reordered(v) for v in value]
    return value


def _loosened(value: Any) -> Any:
    """Equal in Python but not as JSON: ints as floats, bools as ints."""
    if isinstance(value, dict):
        return {key: _loosened(v) for key, v in value.items()}
    if isinstance(value, list | tuple):
        return [_loosened(v) for v in value]
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return float(value)
    return value


@given(VALUES, VALUES)
def test_any_two_values(left: Any, right: Any) -> None:
    assert same(left, right) == _as_json(left, right)


@given(VALUES)
def test_the_same_data_in_another_order_or_shape(value: Any) -> None:
    assert same(value, _reordered(value)) == _as_json(value, _reordered(value))
    assert same(value, _loosened(value)) == _as_json(value, _loosened(value))


def test_what_python_calls_equal_but_json_does_not() -> None:
    assert not same(1, True) and not same(1, 1.0) and not same({"a": 0}, {"a": False})
    assert same({"a": [1, "x"], "b": None}, {"b": None, "a": (1, "x")})
    assert same({1: "x"}, {"1": "x"})  # JSON keys are text
    assert not same(["a"], ["b"]) and not same({"a": 1}, {"a": 1, "b": 2})
