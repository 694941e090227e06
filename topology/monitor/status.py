"""`topology status`: the health rows as text, json or markdown, and the exit code.

Rows come worst first (core/monitor.py `evaluate`): breached limits by how far past them, then declared
objects the broker does not have, targets that could not be read, limits that could not be measured,
then the rest. Each breach names the
limit, its value and where it was declared, so the person paged can open the line that set it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from topology.core.monitor import LIMITS, METRICS, Row
from topology.core.units import format_duration
from topology.monitor.read import Health
from topology.monitor.series import target_label

__all__ = ["JSON_FORMAT", "overall", "render_status", "status_code"]

JSON_FORMAT = 1  # of `status --format json`; a change that removes or renames a field raises it

_STATE_WORDS = {"breach": "BREACH", "missing": "MISSING", "error": "ERROR", "unknown": "UNKNOWN", "ok": "ok"}
# The metrics a row shows, in this order, when the broker measured them.
_SHOWN = ("depth", "unacked", "in_flight", "delayed", "consumers", "age_seconds", "lag", "lag_seconds", "pending",
          "length")

_WORDS = {"in_flight": "in flight", "age_seconds": "age", "lag_seconds": "lag time"}


def overall(health: Health, rows: list[Row]) -> str:
    """breach when a limit is breached or a declared object is not on its broker (whatever else), error when
    a target could not be read, else ok."""
    if any(row.state in ("breach", "missing") for row in rows):
        return "breach"
    return "error" if health.errors else "ok"


def status_code(health: Health) -> int:
    """The exit code of `status`: 3 breach, 1 error, 0 ok (see `overall`)."""
    return {"breach": 3, "error": 1, "ok": 0}[overall(health, health.rows())]


def render_status(health: Health, format: str, *, files: Sequence[str] = ()) -> str:
    rows = health.rows()
    if format == "json":
        return json.dumps(_as_json(health, rows), indent=2, sort_keys=False) + "\n"
    if format == "jsonl":  # --watch --format json: one document a line, a stream a program can read
        return json.dumps(_as_json(health, rows), separators=(",", ":")) + "\n"
    if format == "markdown":
        return _markdown(health, rows, files)
    return _text(health, rows)


def seconds_text(seconds: float) -> str:
    """A time for people: 45s, 3m10s, 2h5m, 3d4h."""
    whole = round(seconds)
    if whole < 60:
        return f"{seconds:.1f}s" if 0 < seconds < 10 and seconds != whole else f"{whole}s"
    for size, unit, smaller, small_unit in ((86400, "d", 3600, "h"), (3600, "h", 60, "m"), (60, "m", 1, "s")):
        if whole >= size:
            rest = (whole % size) // smaller
            return f"{whole // size}{unit}{rest}{small_unit}" if rest else f"{whole // size}{unit}"
    return f"{whole}s"  # unreachable: whole >= 60 is caught above


def _measured(metric: str, value: float) -> str:
    return seconds_text(value) if METRICS[metric].unit == "seconds" else f"{value:g}"


def _limit_value(name: str, value: int) -> str:
    return format_duration(value) if LIMITS[name].duration else str(value)


def _summary(health: Health, rows: list[Row]) -> dict[str, int]:
    counts = {"breach": 0, "missing": 0, "error": 0, "unknown": 0, "ok": 0}
    for row in rows:
        counts[row.state] += 1
    return counts


def _headline(health: Health, rows: list[Row]) -> str:
    counts = _summary(health, rows)
    parts = [f"{counts['breach']} breached", f"{counts['ok']} within limits"]
    if counts["missing"]:
        parts.insert(1, f"{counts['missing']} missing")
    if counts["unknown"]:
        parts.append(f"{counts['unknown']} not measurable")
    if counts["error"]:
        parts.append(f"{counts['error']} unreadable")
    targets = len({w.target for w in health.watches})
    return (f"{len(rows)} watched: {', '.join(parts)} ({targets} target{'s' if targets != 1 else ''}, "
            f"read in {max(health.seconds.values(), default=0.0):.2f}s)")


def _object(row: Row) -> str:
    """The object of a row, as one line whatever its name holds (a newline would fake a row of its own)."""
    text = f"{row.watch.address} topic {row.part}" if row.part else row.watch.address
    return text if text.isprintable() else "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _metrics_text(row: Row) -> str:
    return ", ".join(f"{_WORDS.get(metric, metric)} {_measured(metric, row.metrics[metric])}"
                     for metric in _SHOWN if metric in row.metrics)


def _limits_text(row: Row) -> str:
    if row.error is not None:
        return row.error
    if row.missing:
        return "not on the broker: run `topology plan` to see what apply would create"
    if row.breaches:
        return "; ".join(f"{b.limit} {_limit_value(b.limit, b.value)} ({row.watch.limits[b.limit].source})"
                         for b in row.breaches)
    parts = [f"{name} {_limit_value(name, row.watch.limits[name].value)}"
             + (" (not measured)" if name in row.unknown else "") for name in LIMITS if name in row.watch.limits]
    return ", ".join(parts) if parts else "no limits"


def _text(health: Health, rows: list[Row]) -> str:
    table = [("STATE", "OBJECT", "ROLE", "NOW", "LIMITS")]
    for row in rows:
        table.append((_STATE_WORDS[row.state], _object(row), row.watch.role, _metrics_text(row) or "-",
                      _limits_text(row)))
    widths = [max(len(line[column]) for line in table) for column in range(4)]
    lines = [_headline(health, rows), ""]
    for line in table:
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(line[:4], widths, strict=True))
                     + "  " + line[4])
    notes = _notes(rows)
    if notes:
        lines.append("")
        lines.extend(f"note: {where}: {note}" for where, note in notes)
    for target, error in sorted(health.errors.items(), key=lambda item: str(item[0])):
        lines.append(f"error: target {target or 'local'}: {error}")
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _notes(rows: list[Row]) -> list[tuple[str, str]]:
    """Each row's notes; a note many rows share is said once, with how many."""
    by_note: dict[str, list[str]] = {}
    for row in rows:
        for note in row.notes:
            by_note.setdefault(note, []).append(_object(row))
    found: list[tuple[str, str]] = []
    for note, objects in by_note.items():
        if len(objects) > 3:
            found.append((f"{len(objects)} objects ({objects[0]}, ...)", note))
        else:
            found.extend((where, note) for where in objects)
    return found


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    """`text` as a markdown code span in a table cell: fenced with more backticks than it holds, its pipes
    escaped (GitHub splits cells on them even in code)."""
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{_cell(text)}{pad}{fence}"


def _markdown(health: Health, rows: list[Row], files: Sequence[str]) -> str:
    lines = [f"### topology status{': ' + ', '.join(f'`{f}`' for f in files) if files else ''}", "",
             _headline(health, rows), "", "| state | object | role | now | limits |", "| --- | --- | --- | --- | --- |"]
    for row in rows:
        state = f"**{_STATE_WORDS[row.state]}**" if row.state != "ok" else "ok"
        lines.append(f"| {state} | {_code(_object(row))} | {row.watch.role} | {_cell(_metrics_text(row) or '-')} | "
                     f"{_cell(_limits_text(row))} |")
    notes = [f"- {_cell(where)}: {_cell(note)}" for where, note in _notes(rows)]
    if notes:
        lines += ["", *notes]
    return "\n".join(lines) + "\n"


def _as_json(health: Health, rows: list[Row]) -> dict[str, Any]:
    counts = _summary(health, rows)
    targets: dict[str, Any] = {}
    for watch in health.watches:
        error = health.errors.get(watch.target)
        entry = targets.setdefault(target_label(watch.target), {
            "brokers": [], "up": error is None, "error": error,
            "seconds": round(health.seconds.get(watch.target, 0.0), 4)})
        if watch.broker not in entry["brokers"]:
            entry["brokers"] = sorted([*entry["brokers"], watch.broker])
    return {
        "format_version": JSON_FORMAT,
        "status": overall(health, rows),
        "summary": counts,
        "targets": targets,
        "objects": [{
            "address": row.watch.address, "kind": row.watch.kind, "broker": row.watch.broker,
            "target": target_label(row.watch.target), "role": row.watch.role, "topic": row.part or None,
            "state": row.state, "metrics": dict(row.metrics),
            "limits": {name: {"value": d.value, "metric": LIMITS[name].metric,
                              "threshold": LIMITS[name].threshold(d.value), "bound": LIMITS[name].bound,
                              "declared_at": str(d.where) if d.where else None, "default_for": d.default}
                       for name, d in row.watch.limits.items()},
            "breaches": [{"limit": b.limit, "measured": b.measured, "threshold": LIMITS[b.limit].threshold(b.value)}
                         for b in row.breaches],
            "not_measured": list(row.unknown), "notes": list(row.notes), "error": row.error,
        } for row in rows],
    }
