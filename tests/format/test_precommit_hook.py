"""The pre-commit hook's entry, run the way pre-commit runs it, passes good files and fails bad ones."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _hook() -> dict[str, object]:
    [hook] = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "topology-validate"
    return dict(hook)


def _run(files: list[Path]) -> subprocess.CompletedProcess[str]:
    entry = shlex.split(str(_hook()["entry"]))
    assert entry[0] == "topology"
    executable = Path(sys.executable).parent / "topology"
    return subprocess.run([str(executable), *entry[1:], *map(str, files)], capture_output=True, text=True)


def test_hook_selects_topology_files() -> None:
    import re

    pattern = re.compile(str(_hook()["files"]))
    assert pattern.search("infra/shop.topology.yaml") and pattern.search("a.topology.yml")
    assert not pattern.search("docker-compose.yaml")


def test_hook_passes_good_files() -> None:
    examples = ROOT / "examples"
    result = _run([examples / "rabbitmq-retry.topology.yaml", examples / "redis-streams.topology.yaml"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Valid: 2 files")


def test_hook_fails_bad_files_with_located_messages(tmp_path: Path) -> None:
    bad = tmp_path / "bad.topology.yaml"
    bad.write_text("version: 1\nkafka:\n  topics:\n    orders: {partitions: 0}\n")
    result = _run([ROOT / "examples" / "redis-streams.topology.yaml", bad])
    assert result.returncode == 1
    assert f"{bad}:4:" in result.stderr and "partitions" in result.stderr
    assert "Traceback" not in result.stderr
