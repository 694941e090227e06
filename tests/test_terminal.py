"""The terminal: a progress bar with counts and elapsed time while applying on a terminal, plain lines
elsewhere; -q and -v; colour only on a terminal and never with --no-color or NO_COLOR; shell completion."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli import on_terminal, topology

QUEUES = 150
FILE = "version: 1\nrabbitmq:\n  vhosts:\n    shop:\n      queues:\n" + "".join(
    f"        q{i}: {{}}\n" for i in range(QUEUES))
COLOUR = re.compile(r"\x1b\[[0-9;]*(?:3[0-9]|9[0-7])(?:;[0-9]+)*m")  # a foreground colour, in any SGR
ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")  # any control sequence: colours, cursor moves


def _on_terminal(folder: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    return on_terminal(*args, cwd=folder, env=env)


def _apply(folder: Path, *options: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    (folder / "t.topology.yaml").write_text(FILE)
    return _on_terminal(folder, *options, "apply", "t.topology.yaml", "--state", "s.json", "--auto-approve", env=env)


def test_apply_on_a_terminal_shows_a_bar_with_counts_and_elapsed_time(tmp_path: Path) -> None:
    code, output = _apply(tmp_path)
    assert code == 0, output
    assert re.search(rf"Applying .*{QUEUES + 1}/{QUEUES + 1} elapsed \d:\d\d:\d\d", ESCAPE.sub("", output))
    assert "q7: done" not in output  # the bar, not a line per change
    assert f"Apply complete: {QUEUES + 1} applied" in output


def test_plan_on_a_terminal_counts_the_targets_it_reads_and_leaves_stdout_the_plan(tmp_path: Path) -> None:
    (tmp_path / "t.topology.yaml").write_text(FILE)
    code, output = _on_terminal(tmp_path, "plan", "t.topology.yaml", "--state", "s.json")
    assert code == 0, output
    assert re.search(r"Inspecting 1 target .*1/1 elapsed", ESCAPE.sub("", output))
    piped = topology("plan", "t.topology.yaml", "--state", "s.json", "--format", "json", cwd=tmp_path)
    assert piped.stdout.startswith("{") and "Inspecting" not in piped.stdout + piped.stderr


def test_verbose_adds_each_change_on_a_terminal(tmp_path: Path) -> None:
    code, output = _apply(tmp_path, "-v")
    assert code == 0, output
    assert "+ rabbitmq/shop/queue/q7: done" in output and f"{QUEUES + 1}/{QUEUES + 1}" in output


def test_without_a_terminal_each_change_is_a_plain_line_and_quiet_keeps_only_the_result(tmp_path: Path) -> None:
    (tmp_path / "t.topology.yaml").write_text(FILE)
    plain = topology("apply", "t.topology.yaml", "--state", "s.json", "--auto-approve", cwd=tmp_path)
    assert plain.returncode == 0, plain.stderr
    lines = plain.stderr.splitlines()
    assert "  + rabbitmq/shop/queue/q7: done" in lines and len([x for x in lines if x.endswith(": done")]) == QUEUES + 1
    assert "\x1b[" not in plain.stderr + plain.stdout  # no bar, no colour in a log
    (tmp_path / "s.json").unlink()
    quiet = topology("-q", "apply", "t.topology.yaml", "--state", "s.json", "--auto-approve", cwd=tmp_path)
    assert quiet.returncode == 0, quiet.stderr
    assert ": done" not in quiet.stderr
    assert f"Apply complete: {QUEUES + 1} applied, 0 failed, 0 not attempted." in quiet.stdout


@pytest.mark.parametrize(("options", "env"), [(("--no-color",), {}), ((), {"NO_COLOR": "1"})])
def test_no_colour_with_no_color_or_NO_COLOR(tmp_path: Path, options: tuple[str, ...], env: dict[str, str]) -> None:
    (tmp_path / "t.topology.yaml").write_text(FILE)
    code, coloured = _on_terminal(tmp_path, "plan", "t.topology.yaml", "--state", "s.json")
    assert code == 0 and COLOUR.search(coloured), "on a terminal the plan is in colour"
    code, plain = _on_terminal(tmp_path, *options, "plan", "t.topology.yaml", "--state", "s.json", env=env)
    assert code == 0 and "+ rabbitmq/shop/queue/q7" in plain
    assert not COLOUR.search(plain)
    code, applied = _apply(tmp_path, *options, env=env)
    assert code == 0 and f"{QUEUES + 1}/{QUEUES + 1}" in applied and not COLOUR.search(applied)


def test_help_is_plain_text_and_an_empty_NO_COLOR_is_not_set(tmp_path: Path) -> None:
    for options, env in (((), {}), (("--no-color",), {}), ((), {"NO_COLOR": "1"})):
        code, plain = _on_terminal(tmp_path, *options, "plan", "--help", env=env)
        assert code == 0 and "--only" in plain and "\x1b[" not in plain
    (tmp_path / "t.topology.yaml").write_text(FILE)
    code, empty = _on_terminal(tmp_path, "plan", "t.topology.yaml", "--state", "s.json", env={"NO_COLOR": ""})
    assert code == 0 and COLOUR.search(empty)  # no-color.org: set to a non-empty value


def test_a_dumb_terminal_gets_plain_lines(tmp_path: Path) -> None:
    code, output = _apply(tmp_path, env={"TERM": "dumb"})
    assert code == 0, output
    assert "+ rabbitmq/shop/queue/q7: done" in output and "Applying" not in output


def test_verbose_and_quiet_together_are_refused(tmp_path: Path) -> None:
    result = topology("-v", "-q", "validate", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == "Error: --verbose and --quiet cannot go together; give one\n"


def test_shell_completion_completes_commands_and_options(tmp_path: Path) -> None:
    # the shell is detected from the parent processes (shellingham), so the command runs under bash
    # (`; exit` keeps bash from replacing itself with the command)
    script = subprocess.run(["bash", "-c", f"{shlex.quote(sys.executable)} -m topology --show-completion; exit $?"],
                            capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert script.returncode == 0 and "_TOPOLOGY_COMPLETE=complete_bash" in script.stdout, script.stderr
    command = topology(cwd=tmp_path, env={"_TOPOLOGY_COMPLETE": "complete_bash", "COMP_WORDS": "topology pl",
                                          "COMP_CWORD": "1"})
    assert command.stdout.split() == ["plan"]
    option = topology(cwd=tmp_path, env={"_TOPOLOGY_COMPLETE": "complete_bash", "COMP_WORDS": "topology plan --on",
                                         "COMP_CWORD": "2"})
    assert option.stdout.split() == ["--only"]
