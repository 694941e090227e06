"""The Redis Streams driver on the real Redis: errors, start ids, pending entries, export."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.cli import topology, with_file
from tests.conftest import REDIS_URL

pytestmark = pytest.mark.redis


def _run(folder: Path, body: str, *args: str, url: str = REDIS_URL) -> subprocess.CompletedProcess[str]:
    return with_file(folder, f"""version: 1
targets:
  cache: {{kind: redis, url: "{url}"}}
redis:
  target: cache
{body}""", args[0], *args[1:])


def test_start_id_is_used_only_at_creation(tmp_path: Path, redis_prefix: tuple[Any, str]) -> None:
    client, prefix = redis_prefix
    stream = f"{prefix}orders"
    client.xadd(stream, {"n": 1})
    client.xadd(stream, {"n": 2})
    body = f"  streams:\n    {stream}:\n      groups: {{from-start: {{start: '0'}}, new-only: {{start: '$'}}}}\n"
    assert _run(tmp_path, body, "apply", "--auto-approve").returncode == 0
    assert len(client.xreadgroup("from-start", "c", {stream: ">"})[0][1]) == 2
    assert client.xreadgroup("new-only", "c", {stream: ">"}) == []
    flipped = body.replace("start: '0'", "start: '$'")
    assert "No changes" in _run(tmp_path, flipped, "plan").stdout


def test_group_with_pending_entries_is_deleted_only_with_allow_data_loss(tmp_path: Path,
                                                                         redis_prefix: tuple[Any, str]) -> None:
    client, prefix = redis_prefix
    stream = f"{prefix}jobs"
    body = f"  streams:\n    {stream}:\n      groups: {{workers: {{start: '0'}}, spare: {{}}}}\n"
    assert _run(tmp_path, body, "apply", "--auto-approve").returncode == 0
    client.xadd(stream, {"job": 1})
    client.xreadgroup("workers", "w1", {stream: ">"})  # read, not acknowledged: pending
    fewer = body.replace("workers: {start: '0'}, ", "")
    fewer += f"manage: {{prune: true, include: ['redis/group/{stream}/*']}}\n"
    plan = _run(tmp_path, fewer, "plan")
    assert f"- redis/group/{stream}/workers" in plan.stdout and "loses data: 1 pending entry" in plan.stdout
    refused = _run(tmp_path, fewer, "apply", "--auto-approve", "--allow-delete")
    assert refused.returncode == 1 and "--allow-data-loss" in refused.stderr
    assert [g["name"] for g in client.xinfo_groups(stream)] == ["spare", "workers"]
    assert _run(tmp_path, fewer, "apply", "--auto-approve", "--allow-delete", "--allow-data-loss").returncode == 0
    assert [g["name"] for g in client.xinfo_groups(stream)] == ["spare"]


def test_dead_letter_and_retry_streams_exist_before_the_first_failure(tmp_path: Path,
                                                                      redis_prefix: tuple[Any, str]) -> None:
    client, prefix = redis_prefix
    stream = f"{prefix}orders"
    body = (f"  streams:\n    {stream}:\n      groups: {{billing: {{}}}}\n      dead_letter: true\n"
            "      retry: {delays: [5s]}\n")
    assert _run(tmp_path, body, "apply", "--auto-approve").returncode == 0
    assert client.type(f"{stream}:dlq") == "stream" and client.xlen(f"{stream}:dlq") == 0
    assert [g["name"] for g in client.xinfo_groups(f"{stream}:dlq")] == ["dlq"]
    assert [g["name"] for g in client.xinfo_groups(f"{stream}:retry:5s")] == ["billing"]


def test_errors_are_one_sentence(tmp_path: Path, redis_prefix: tuple[Any, str]) -> None:
    client, prefix = redis_prefix
    body = f"  streams:\n    {prefix}orders: {{}}\n"
    down = _run(tmp_path, body, "plan", url="redis://:hunter2@127.0.0.1:1/0")
    assert down.returncode == 1 and "Redis at 127.0.0.1:1 is not reachable (Connection refused)" in down.stderr
    assert "hunter2" not in down.stderr and len(down.stderr.strip().splitlines()) == 1

    user = f"{prefix}user".replace(":", "-")
    client.acl_setuser(user, enabled=True, passwords=["+right-password"], keys=["*"], commands=["+@all"])
    try:
        parts = urlsplit(REDIS_URL)
        wrong = _run(tmp_path, body, "plan", url=f"redis://{user}:wrong-password@{parts.hostname}:{parts.port}/0")
        assert wrong.returncode == 1 and "refused the user name or password" in wrong.stderr
        assert "wrong-password" not in wrong.stderr
    finally:
        client.acl_deluser(user)

    client.set(f"{prefix}orders", "not a stream")
    typed = _run(tmp_path, body, "plan")
    assert typed.returncode == 1
    assert f"key '{prefix}orders' holds a string, not a stream" in typed.stderr


def test_export_then_plan_gives_no_changes(tmp_path: Path, redis_prefix: tuple[Any, str]) -> None:
    _client, prefix = redis_prefix
    body = f"  streams:\n    {prefix}orders: {{groups: {{billing: {{}}, audit: {{start: '0'}}}}, dead_letter: true}}\n"
    assert _run(tmp_path, body, "apply", "--auto-approve").returncode == 0
    exported = tmp_path / "exported.topology.yaml"
    env = {"TOPOLOGY_TARGET_CACHE": REDIS_URL}
    result = topology("export", "--target", "cache", "--include", f"redis/*/{prefix}*", "--to", str(exported),
                      env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"{prefix}orders:dlq:" in exported.read_text()
    plan = topology("plan", str(exported), "--detailed-exitcode", env=env, cwd=tmp_path)
    assert plan.returncode == 0, plan.stdout + plan.stderr


def test_target_address_from_the_command_line_or_the_environment(tmp_path: Path,
                                                                  redis_prefix: tuple[Any, str]) -> None:
    _client, prefix = redis_prefix
    body = f"  streams:\n    {prefix}orders: {{}}\n"
    nowhere = "redis://127.0.0.1:1/0"
    assert _run(tmp_path, body, "plan", url=nowhere).returncode == 1
    by_flag = _run(tmp_path, body, "plan", "--target", f"cache={REDIS_URL}", url=nowhere)
    assert by_flag.returncode == 0 and f"+ redis/stream/{prefix}orders" in by_flag.stdout
    path = tmp_path / "t.topology.yaml"
    by_env = topology("plan", str(path), env={"TOPOLOGY_TARGET_CACHE": REDIS_URL})
    assert by_env.returncode == 0 and f"+ redis/stream/{prefix}orders" in by_env.stdout
