"""`topology status` output for names nobody here wrote: a newline cannot fake a row of its own in the
table, a backtick or a pipe cannot break out of its markdown cell, and `--watch --format json` is a stream
of one JSON document a line."""

from __future__ import annotations

import json

from topology.core.monitor import Declared, Reading, Watch
from topology.monitor.read import Health
from topology.monitor.status import render_status

_NAME = "a\nBREACH  fake`|`\\x"


def _health() -> Health:
    watch = Watch(f"rabbitmq/v/queue/{_NAME}", "rabbitmq.queue", _NAME, "v", "rabbit", "work",
                  {"max_depth": Declared(1)})
    return Health([watch], [Reading(watch.address, {"depth": 5.0, "consumers": 0.0})], {}, {"rabbit": 0.01})


def test_a_newline_in_a_name_stays_on_its_row() -> None:
    text = render_status(_health(), "text")
    rows = [line for line in text.splitlines() if line.startswith(("BREACH", "ok"))]
    assert len(rows) == 1 and "a\\nBREACH  fake`|`\\x" in rows[0]


def test_a_name_with_backticks_and_pipes_keeps_to_its_markdown_cell() -> None:
    markdown = render_status(_health(), "markdown")
    [row] = [line for line in markdown.splitlines() if line.startswith("| **BREACH**")]
    assert "| ``rabbitmq/v/queue/a\\nBREACH  fake`\\|`\\x`` |" in row
    assert row.count(" | ") == 4  # five cells: no pipe of the name splits one


def test_watch_json_is_one_document_a_line() -> None:
    lines = render_status(_health(), "jsonl").splitlines()
    assert len(lines) == 1
    document = json.loads(lines[0])
    assert document["format_version"] == 1 and document["objects"][0]["address"].endswith(_NAME)
