"""A live name of any length reads back from an exported file, with its note: a RabbitMQ user's name
(which RabbitMQ takes at any length) is a key written with the note that its password stays on the
broker, and YAML reads a key written plainly only up to 1,024 characters."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from topology.brokers.rabbitmq.export import export_rabbitmq
from topology.cli import app
from topology.core.notes import Noted, dump_with_notes
from topology.core.resource import Live


@pytest.mark.parametrize("length", [1, 127, 128, 129, 1023, 1024, 1025, 5000])
def test_noted_keys_and_values_of_any_length_read_back(length: int) -> None:
    key, value = "k" * length, "v" * length
    document = {"top": {Noted(key, "a note"): {"inner": Noted(value, "another")}},
                "listed": [{Noted(key, "in a list"): 1, "next": 2}], Noted(key, "at the top"): Noted(value, "too")}
    text = dump_with_notes(document)
    assert yaml.safe_load(text) == {"top": {key: {"inner": value}}, "listed": [{key: 1, "next": 2}], key: value}
    assert all(f"# {note}" in text for note in ("a note", "another", "in a list", "at the top", "too"))


def test_an_exported_user_with_a_long_name_validates(tmp_path: Path) -> None:
    name = "svc-" + "x" * 1100
    live = {f"rabbitmq/user/{name}": Live("rabbitmq.user", {"tags": ["management"], "limits": {}}, name=name)}
    document = {"version": 1, "targets": {"r": {"kind": "rabbitmq", "url": "amqp://guest:guest@127.0.0.1:1/"}},
                **export_rabbitmq(live, "r")}
    path = tmp_path / "t.topology.yaml"
    path.write_text(dump_with_notes(document))
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert "password not exported" in path.read_text()
