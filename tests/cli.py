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
