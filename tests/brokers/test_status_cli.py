"""`topology status` end to end on real RabbitMQ and Redis: exit 0 within limits, 3 on a breach, 1 when a
target cannot be read (its password never printed); the table puts the worst first and names the line that
declared the breached limit; json is versioned; --watch refreshes until Ctrl-C and exits 130."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.brokers.watching import publish, until
from tests.cli import with_file
from tests.conftest import RABBITMQ_URL, REDIS_URL, unique

pytestmark = [pytest.mark.rabbitmq, pytest.mark.redis]

# RabbitMQ's management API reports message counts as of its last statistics tick (5 s by default).
_STATS_WAIT_S = 30.0


def _file(vhost: str, stream: str) -> str:
    return f"""version: 1
targets:
  rabbit: {{kind: rabbitmq, url: "${{RABBITMQ_URL}}"}}
  cache: {{kind: redis, url: "${{REDIS_URL}}"}}
monitoring:
  defaults:
    work: {{}}
rabbitmq:
  target: rabbit
  vhosts:
    {vhost}:
      queues:
        billing:
          dead_letter: {{}}
          monitor: {{max_depth: 3}}
redis:
  target: cache
  streams:
    {stream}:
      monitor: {{max_length: 100}}
      groups:
        g: {{start: "0"}}
"""


def _status(folder: Path, text: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return with_file(folder, text, "status", *args, env={"RABBITMQ_URL": RABBITMQ_URL, "REDIS_URL": REDIS_URL,
                                                        **(env or {})})


@pytest.fixture
def names(rabbitmq_api: Any, redis_prefix: tuple[Any, str]) -> Any:
    from urllib.parse import quote

    vhost = unique("status")
    _client, prefix = redis_prefix
    yield vhost, f"{prefix}orders"
    rabbitmq_api.delete(f"/api/vhosts/{quote(vhost, safe='')}")


def test_exit_codes_worst_first_and_where_the_limit_was_declared(tmp_path: Path, names: tuple[str, str]) -> None:
    vhost, stream = names
    text = _file(vhost, stream)
    applied = with_file(tmp_path, text, "apply", "--auto-approve", "--lock-timeout", "120s",
                        env={"RABBITMQ_URL": RABBITMQ_URL, "REDIS_URL": REDIS_URL})
    assert applied.returncode == 0, applied.stdout + applied.stderr
    within = _status(tmp_path, text)
    assert within.returncode == 0, within.stdout + within.stderr
    assert "0 breached" in within.stdout

    publish(vhost, "billing.dlq", 2)  # anything in a dead-letter queue breaches (max_depth 0, built in)
    publish(vhost, "billing", 12)  # four times its max_depth of 3
    breached = until(lambda: (r := _status(tmp_path, text)).returncode == 3 and "depth 12" in r.stdout and r,
                      "status sees 12 messages in billing and 2 in billing.dlq", _STATS_WAIT_S, every=0.5)
    rows = [line for line in breached.stdout.splitlines() if line.startswith(("BREACH", "ok", "UNKNOWN"))]
    assert rows[0].startswith("BREACH") and f"rabbitmq/{vhost}/queue/billing " in rows[0]  # 4x past: first
    assert rows[1].startswith("BREACH") and f"rabbitmq/{vhost}/queue/billing.dlq" in rows[1]
    assert "max_depth 3 (declared at " in rows[0] and "t.topology.yaml:15)" in rows[0]  # the line of `max_depth: 3`
    assert "the built-in default for role dead_letter" in rows[1]

    as_json = json.loads(_status(tmp_path, text, "--format", "json").stdout)
    assert as_json["format_version"] == 1 and as_json["status"] == "breach"
    dlq = next(o for o in as_json["objects"] if o["address"] == f"rabbitmq/{vhost}/queue/billing.dlq")
    assert dlq["role"] == "dead_letter" and dlq["metrics"]["depth"] == 2
    assert dlq["breaches"] == [{"limit": "max_depth", "measured": 2, "threshold": 0}]
    assert as_json["targets"]["cache"]["up"] is True

    markdown = _status(tmp_path, text, "--format", "markdown").stdout
    assert f"| **BREACH** | `rabbitmq/{vhost}/queue/billing` |" in markdown


def test_a_target_that_cannot_be_read_exits_1_without_its_password(tmp_path: Path, names: tuple[str, str]) -> None:
    vhost, stream = names
    text = _file(vhost, stream)
    applied = with_file(tmp_path, text, "apply", "--auto-approve", "--lock-timeout", "120s",
                        env={"RABBITMQ_URL": RABBITMQ_URL, "REDIS_URL": REDIS_URL})
    assert applied.returncode == 0, applied.stdout + applied.stderr
    down = _status(tmp_path, text, env={"RABBITMQ_URL": "http://guest:s3cr%23t@127.0.0.1:1"})
    assert down.returncode == 1, down.stdout + down.stderr
    assert "ERROR" in down.stdout and "error: target rabbit:" in down.stdout
    assert "s3cr" not in down.stdout + down.stderr
    assert re.search(rf"^ok +redis/stream/{re.escape(stream)} ", down.stdout, re.M)  # the other target is still read


def test_a_declared_object_missing_from_its_broker_exits_3(tmp_path: Path, names: tuple[str, str]) -> None:
    vhost, stream = names
    missing = _status(tmp_path, _file(vhost, stream))  # never applied
    assert missing.returncode == 3, missing.stdout + missing.stderr
    assert "0 breached, 4 missing" in missing.stdout
    assert re.search(rf"^MISSING +rabbitmq/{vhost}/queue/billing.dlq ", missing.stdout, re.M)
    assert "run `topology plan`" in missing.stdout


def test_watch_refreshes_until_ctrl_c(tmp_path: Path, names: tuple[str, str]) -> None:
    vhost, stream = names
    path = tmp_path / "t.topology.yaml"
    path.write_text(_file(vhost, stream))
    env = {**os.environ, "RABBITMQ_URL": RABBITMQ_URL, "REDIS_URL": REDIS_URL}
    leader, follower = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "topology", "status", str(path), "--watch", "1s"],
                               stdin=follower, stdout=follower, stderr=follower, env=env, cwd=tmp_path)
    os.close(follower)
    seen = b""
    deadline = time.monotonic() + 60
    try:
        while seen.count(b"Every 1s") < 2 and time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 1)
            if ready:
                seen += os.read(leader, 65536)
        assert seen.count(b"Every 1s") >= 2, seen.decode(errors="replace")
        assert b"\x1b[H\x1b[2J" in seen  # each frame replaces the last on a terminal
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 130
    finally:
        if process.poll() is None:
            process.kill()
        os.close(leader)


def test_watch_refuses_a_busy_loop(tmp_path: Path) -> None:
    refused = with_file(tmp_path, "version: 1\n", "status", "--watch", "0s")
    assert refused.returncode == 1 and "shorter than a second" in refused.stderr
