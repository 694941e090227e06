"""Human units: durations (`500ms`, `30s`, `5m`, `2h`, `7d`) and sizes (`512KiB`, `1GiB`).

Durations become integer milliseconds and sizes integer bytes; a bare integer is taken as already
in those units. `format_duration` gives the short canonical spelling used in generated names
(`30000` -> `30s`), so `retry: {delays: [30s]}` and `retry: {delays: [30000]}` name the same queue.
"""

from __future__ import annotations

import re
from decimal import Decimal

__all__ = ["format_duration", "parse_duration", "parse_size"]

_DURATION_UNITS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_SIZE_UNITS = {
    "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4,
}
_NUMBER_UNIT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")
# Digits a number may have before its unit: far beyond every broker's range (64-bit counts of milliseconds
# and bytes), so that reading one is exact and quick, and what it gives can be printed.
_MOST_DIGITS = 40


def _amount(number: str, unit: int, value: str, what: str) -> int:
    """`number` (digits, perhaps a decimal point) times `unit`, exactly; refused unless a whole number."""
    if len(number) > _MOST_DIGITS:
        raise ValueError(f"{value[:24]!r}... has more than {_MOST_DIGITS} digits, beyond any broker's range")
    amount = Decimal(number) * unit
    if amount != amount.to_integral_value():
        raise ValueError(f"{value!r} is not a whole number of {what}")
    return int(amount)


def parse_duration(value: object) -> int:
    """Milliseconds from `30s`, `5m`, `1.5h` or an integer of milliseconds."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number with a unit, such as 30s, 5m, 2h or 7d")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return value
    if isinstance(value, str):
        match = _NUMBER_UNIT.match(value)
        if match and match.group(2).lower() in _DURATION_UNITS:
            return _amount(match.group(1), _DURATION_UNITS[match.group(2).lower()], value, "milliseconds")
        if match and not match.group(2):
            return _amount(match.group(1).partition(".")[0], 1, value, "milliseconds")
    raise ValueError(f"{value!r} is not a duration: write a number with ms, s, m, h, d or w, such as 30s or 7d")


def parse_size(value: object) -> int:
    """Bytes from `512KiB`, `1GiB`, `10MB` or an integer of bytes."""
    if isinstance(value, bool):
        raise ValueError("a size is a number with a unit, such as 256KiB or 1GiB")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a size cannot be negative")
        return value
    if isinstance(value, str):
        match = _NUMBER_UNIT.match(value)
        if match and (match.group(2).lower() in _SIZE_UNITS or not match.group(2)):
            return _amount(match.group(1), _SIZE_UNITS.get(match.group(2).lower() or "b", 1), value, "bytes")
    raise ValueError(f"{value!r} is not a size: write a number with B, KiB, MiB, GiB (or KB, MB, GB), such as 256KiB")


def format_duration(milliseconds: int) -> str:
    """The shortest exact spelling: 30000 -> '30s', 300000 -> '5m', 1500 -> '1500ms'."""
    for unit in ("d", "h", "m", "s"):
        size = _DURATION_UNITS[unit]
        if milliseconds and milliseconds % size == 0:
            return f"{milliseconds // size}{unit}"
    return f"{milliseconds}ms"
