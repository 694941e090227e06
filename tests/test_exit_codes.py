"""Exit codes mean one thing each: a mistyped command line exits 1 like every other error, with click's
one-sentence message, so CI never reads a typo as `plan --detailed-exitcode`'s 2, "changes present"."""

from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path

import pytest
import typer.main
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.cli import topology
from topology.cli import app, main

COMMANDS = typer.main.get_command(app).commands  # type: ignore[attr-defined]
WITH_ARGUMENT = sorted(name for name, command in COMMANDS.items()
                       if any(p.param_type_name == "argument" and p.required for p in command.params))
WITH_FORMAT_CHOICE = {"validate": "text, json", "plan": "text, json, markdown", "show": "text, json, markdown",
                      "status": "text, json, markdown", "alerts": "prometheus, promtool-test"}


def _run(*args: str) -> tuple[int, str, str]:
    """`topology ARGS` through the console script's entry point, in this process."""
    out, err = io.StringIO(), io.StringIO()
    argv = sys.argv
    sys.argv = ["topology", *args]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), pytest.raises(SystemExit) as exit_:
            main()
    finally:
        sys.argv = argv
    code = exit_.value.code
    return code if isinstance(code, int) else (0 if code is None else 1), out.getvalue(), err.getvalue()


def _one_sentence(err: str, command: str, message: str) -> None:
    assert err.count("\n") == 1 and err.startswith("Error: "), err
    assert message in err, err
    assert err.endswith(f"; see `topology {command} --help`.\n")
    assert "Traceback" not in err and "Usage:" not in err


def test_every_command_is_covered() -> None:
    assert {"validate", "render", "plan", "apply", "show", "export", "status", "alerts", "exporter", "test",
            "schema"} <= set(COMMANDS)
    assert set(WITH_FORMAT_CHOICE) <= set(COMMANDS)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_an_unknown_option_exits_1_in_one_sentence(command: str) -> None:
    code, out, err = _run(command, "--fromat", "json")
    assert code == 1 and out == ""
    _one_sentence(err, command, "No such option: --fromat")


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_help_still_exits_0(command: str) -> None:
    code, out, err = _run(command, "--help")
    assert code == 0 and "--help" in out and err == ""


@pytest.mark.parametrize("command", WITH_ARGUMENT)
def test_a_missing_files_argument_exits_1_in_one_sentence(command: str) -> None:
    code, _, err = _run(command)
    assert code == 1
    _one_sentence(err, command, "Missing argument '")


@pytest.mark.parametrize(("command", "choices"), sorted(WITH_FORMAT_CHOICE.items()))
def test_a_bad_format_exits_1_naming_the_choices(command: str, choices: str, tmp_path: Path) -> None:
    code, _, err = _run(command, str(tmp_path / "x.topology.yaml"), "--format", "yaml")
    assert code == 1
    quoted = ", ".join(f"'{c}'" for c in choices.split(", "))
    _one_sentence(err, command, f"Invalid value for '--format': 'yaml' is not one of {quoted}")


@pytest.mark.parametrize(("args", "message"), [
    (("apply", "x.topology.yaml", "--parallelism", "many"), "Invalid value for '--parallelism'"),
    (("plan", "x.topology.yaml", "--env"), "Option '--env' requires an argument"),
    (("validate", "x.topology.yaml", "--whole-topology=yes"), "Option '--whole-topology' does not take a value"),
    (("export",), "Missing option '--target'"),
])
def test_other_usage_errors_exit_1(args: tuple[str, ...], message: str) -> None:
    code, _, err = _run(*args)
    assert code == 1 and err.startswith("Error: ") and message in err and err.count("\n") == 1, err


def test_an_unknown_command_exits_1_with_a_suggestion() -> None:
    code, _, err = _run("valdate", "shop.topology.yaml")
    assert code == 1
    assert err == "Error: No such command 'valdate' (did you mean 'validate'?); see `topology --help`.\n"


def test_no_command_shows_the_help_and_exits_1() -> None:
    code, out, err = _run()
    assert code == 1 and "validate" in out + err and "Error" not in out + err


def test_the_root_help_and_version_exit_0() -> None:
    assert _run("--help")[0] == 0
    code, out, _ = _run("--version")
    assert code == 0 and out.startswith("topology ")


@settings(max_examples=60, deadline=None)
@given(command=st.sampled_from(sorted(COMMANDS)),
       option=st.from_regex(r"--?[a-z][a-z0-9-]{0,12}", fullmatch=True))
def test_any_misspelt_option_exits_1(command: str, option: str) -> None:
    known = {o for p in COMMANDS[command].params for o in (*p.opts, *p.secondary_opts)} | {"--help"}
    if option in known:
        return
    code, _, err = _run(command, option)
    assert code == 1, err
    assert err.startswith("Error: ") and err.count("\n") == 1 and "Traceback" not in err


def test_the_console_script_exits_1_on_a_typo_and_2_only_for_changes(tmp_path: Path) -> None:
    (tmp_path / "t.topology.yaml").write_text(
        "version: 1\ntargets:\n  home: {kind: local, path: state.json}\nredis:\n  target: home\n  streams: {s: {}}\n")
    typo = topology("plan", "t.topology.yaml", "--detailed-exitcode", "--fromat", "json", cwd=tmp_path)
    assert typo.returncode == 1 and typo.stderr.startswith("Error: No such option: --fromat"), typo.stderr
    changes = topology("plan", "t.topology.yaml", "--detailed-exitcode", cwd=tmp_path)
    assert changes.returncode == 2, changes.stderr
    assert topology("apply", "t.topology.yaml", "--auto-approve", cwd=tmp_path).returncode == 0
    none = topology("plan", "t.topology.yaml", "--detailed-exitcode", cwd=tmp_path)
    assert none.returncode == 0, none.stderr


def test_ctrl_c_at_apply_s_question_exits_130_and_changes_nothing(tmp_path: Path) -> None:
    """click turns Ctrl-C at a prompt into its Abort, which it would exit 1 for: here it is 130, interrupted."""
    import os
    import pty
    import select
    import signal
    import subprocess
    import time

    (tmp_path / "t.topology.yaml").write_text("version: 1\nredis:\n  streams: {orders: {}}\n")
    controller, terminal = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "topology", "apply", "t.topology.yaml", "--state", "s.json"],
                               stdin=terminal, stdout=terminal, stderr=terminal, cwd=tmp_path, close_fds=True)
    os.close(terminal)
    output = b""
    deadline = time.monotonic() + 60
    interrupted = 0.0
    try:
        while process.poll() is None and time.monotonic() < deadline:
            if select.select([controller], [], [], 0.2)[0]:
                with contextlib.suppress(OSError):
                    output += os.read(controller, 4096)
            # Ctrl-C once the question waits for an answer (again if it came before the terminal was read)
            if b"Only 'yes' is accepted" in output and time.monotonic() - interrupted > 2:
                time.sleep(0.3)
                process.send_signal(signal.SIGINT)
                interrupted = time.monotonic()
        with contextlib.suppress(OSError):
            while select.select([controller], [], [], 0.2)[0] and (chunk := os.read(controller, 4096)):
                output += chunk
    finally:
        if process.poll() is None:
            process.kill()
        os.close(controller)
    assert process.wait(timeout=10) == 130, output
    assert output.decode().rstrip().endswith("Interrupted.") and b"Traceback" not in output
    assert not (tmp_path / "s.json").exists()
