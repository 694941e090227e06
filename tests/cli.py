"""Running the `topology` command line from tests, the way a user's shell does."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]  # so that `-m tests.crash_apply` imports from any folder

# moto accepts any credentials; boto3 only needs some to sign requests.
_AWS_TEST_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def topology(*args: str, cwd: Path | None = None, env: Mapping[str, str] | None = None,
             timeout: float = 300, kill_after_batches: int | None = None,
             signals: tuple[str, ...] = ("SIGKILL",)) -> subprocess.CompletedProcess[str]:
    """`python -m topology ARGS` in a fresh process, with the test environment plus `env`, and no terminal;
    with `kill_after_batches`, the process sends itself `signals` (SIGKILL) after that many driver batches
    of an apply."""
    environment = {**_AWS_TEST_CREDENTIALS, **os.environ, **(env or {})}
    environment["PYTHONPATH"] = os.pathsep.join(p for p in (str(_ROOT), environment.get("PYTHONPATH", "")) if p)
    command = ["-m", "topology"] if kill_after_batches is None else \
        ["-m", "tests.crash_apply", ":".join((str(kill_after_batches), *signals))]
    return subprocess.run([sys.executable, *command, *args], capture_output=True, text=True, cwd=cwd,
                          env=environment, timeout=timeout, stdin=subprocess.DEVNULL)


def with_file(folder: Path, text: str, command: str, *args: str, env: Mapping[str, str] | None = None,
              timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Write `text` to FOLDER/t.topology.yaml and run `topology COMMAND that-file ARGS`."""
    path = folder / "t.topology.yaml"
    path.write_text(text)
    return topology(command, str(path), *args, cwd=folder, env=env, timeout=timeout)


def on_terminal(*args: str, cwd: Path, env: Mapping[str, str] | None = None, answer: str | None = None,
                after: bytes = b"Only 'yes' is accepted", timeout: float = 120) -> tuple[int, str]:
    """`python -m topology ARGS` with stdin, stdout and stderr on a pseudo-terminal (as a person runs it,
    NO_COLOR unset unless `env` sets it); with `answer`, typed once `after` is shown. Its exit code and
    all it wrote."""
    import pty
    import time

    controller, terminal = pty.openpty()
    environment = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    environment.update({"TERM": "xterm-256color", "COLUMNS": "120", **(env or {})})
    process = subprocess.Popen([sys.executable, "-m", "topology", *args], stdin=terminal, stdout=terminal,
                               stderr=terminal, cwd=cwd, env=environment, close_fds=True)
    os.close(terminal)
    output = b""
    deadline = time.monotonic() + timeout
    waiting = answer is not None
    while time.monotonic() < deadline:
        if waiting and after in output:
            os.write(controller, (answer or "").encode() + b"\n")
            waiting = False
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the process closed the terminal
            break
        if not chunk:
            break
        output += chunk
    process.wait(timeout=60)
    os.close(controller)
    return process.returncode, output.decode(errors="replace")
