"""apply asks on a terminal and refuses without one; --format json keeps stdout pure JSON."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli import on_terminal, topology

DOCUMENT = "version: 1\nredis:\n  streams:\n    orders: {groups: {billing: {start: '$'}}}\n"


def _on_terminal(folder: Path, answer: str) -> tuple[int, str]:
    (folder / "t.topology.yaml").write_text(DOCUMENT)
    return on_terminal("apply", "t.topology.yaml", "--state", "s.json", cwd=folder, answer=answer)


def test_terminal_answer_no_changes_nothing(tmp_path: Path) -> None:
    code, output = _on_terminal(tmp_path, "no")
    assert code == 1
    assert "+ redis/stream/orders" in output and "Apply cancelled; nothing was changed." in output
    assert not (tmp_path / "s.json").exists()


def test_terminal_answer_yes_applies(tmp_path: Path) -> None:
    code, output = _on_terminal(tmp_path, "yes")
    assert code == 0, output
    assert "Apply complete: 2 applied, 0 failed, 0 not attempted." in output
    state = json.loads((tmp_path / "s.json").read_text())
    assert sorted(state["resources"]) == ["redis/group/orders/billing", "redis/stream/orders"]


def test_without_a_terminal_apply_needs_auto_approve(tmp_path: Path) -> None:
    (tmp_path / "t.topology.yaml").write_text(DOCUMENT)
    result = topology("apply", "t.topology.yaml", "--state", "s.json", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == "Error: apply needs --auto-approve when it is not run from a terminal"
    assert not (tmp_path / "s.json").exists()


def test_json_plan_is_alone_on_stdout(tmp_path: Path) -> None:
    (tmp_path / "t.topology.yaml").write_text(DOCUMENT + "kafka:\n  topics:\n    a.b: {}\n    a_b: {}\n")
    result = topology("plan", "t.topology.yaml", "--state", "s.json", "--format", "json", "--out", "p.json",
                      cwd=tmp_path)
    assert result.returncode == 0
    plan = json.loads(result.stdout)
    assert plan["format_version"] == 4 and len(plan["changes"]) == 4
    assert "differ only in `.` and `_`" in result.stderr and "Saved the plan" in result.stderr
    assert json.loads((tmp_path / "p.json").read_text()) == plan
