"""`scripts/brokers` starts real brokers, reuses what already runs, and stops only what it started.

These tests run a second set of brokers on other ports with their own home folder, so they never
touch the brokers the rest of the suite uses.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.brokers.watching import until
from tests.conftest import RABBITMQ_CLUSTER_HOME

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "brokers"
ALT_PORTS = {"AMQP": 5682, "RABBITMQ_HTTP": 15682, "KAFKA": 9192, "KAFKA_CONTROLLER": 9193,
             "REDIS": 6389, "MOTO": 5010, "RABBITMQ_CLUSTER": 5782, "RABBITMQ_CLUSTER_HTTP": 15782, "PROMETHEUS": 9190}


def _run(home: Path, *args: str, ports: dict[str, int] = ALT_PORTS) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TOPOLOGY_BROKERS_HOME": str(home),
           **{f"TOPOLOGY_{name}_PORT": str(port) for name, port in ports.items()}}
    return subprocess.run([sys.executable, str(SCRIPT), *args], env=env, capture_output=True, text=True,
                          timeout=300)


def _lines(output: str) -> dict[str, str]:
    return {line.split()[0]: line for line in output.splitlines() if line.strip()}


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists() and b"zombie" not in Path(f"/proc/{pid}/status").read_bytes().lower()


@pytest.mark.rabbitmq
@pytest.mark.kafka
@pytest.mark.redis
@pytest.mark.aws
def test_up_status_reuse_and_down(tmp_path: Path) -> None:
    home, other_home = tmp_path / "ours", tmp_path / "someone-else"
    try:
        up = _run(home, "up")
        assert up.returncode == 0, up.stdout + up.stderr
        status = _run(home, "status")
        assert status.returncode == 0, status.stdout
        lines = _lines(status.stdout)
        assert sorted(lines) == ["kafka", "moto", "rabbitmq", "redis"]
        for line in lines.values():
            assert " up " in line and "started by scripts/brokers, pid" in line, line
        assert "RabbitMQ 3." in lines["rabbitmq"] and ":15682" in lines["rabbitmq"]
        assert "Kafka with 1 broker(s) at 127.0.0.1:9192" in lines["kafka"]
        pids = {name: int((home / name / "pid").read_text()) for name in lines}

        # `up` again is a no-op: the same processes keep serving.
        again = _run(home, "up")
        assert again.returncode == 0, again.stderr
        assert {name: int((home / name / "pid").read_text()) for name in lines} == pids

        # Another home sees working brokers on the ports: it reuses them and `down` leaves them alone.
        reuse = _run(other_home, "up", "redis", "moto")
        assert reuse.returncode == 0, reuse.stderr
        assert "not started by scripts/brokers" in _lines(reuse.stdout)["redis"]
        assert "left running" in _run(other_home, "down", "redis", "moto").stdout
        assert all(_alive(pid) for pid in pids.values())

        down = _run(home, "down")
        assert down.returncode == 0
        assert sorted(n for n, line in _lines(down.stdout).items() if "stopped" in line) == sorted(pids)
        assert [name for name, pid in pids.items() if _alive(pid)] == []
        after = _run(home, "status")
        assert after.returncode == 1
        assert all(" down " in line for line in _lines(after.stdout).values()), after.stdout
    finally:
        _run(home, "down")


@pytest.mark.redis
def test_port_taken_by_something_else_is_reported(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 6399))
        squatter.listen()
        result = _run(tmp_path, "up", "redis", ports={**ALT_PORTS, "REDIS": 6399})
    assert result.returncode == 1
    assert "a port it needs is taken by something that is not a working redis" in result.stderr
    assert not (tmp_path / "redis" / "pid").exists()


@pytest.mark.rabbitmq
def test_broker_that_fails_to_start_shows_its_log(tmp_path: Path) -> None:
    # RabbitMQ's inter-node port is the AMQP port + 20000; holding it makes the node fail at boot.
    with socket.socket() as squatter:
        squatter.bind(("0.0.0.0", 5692 + 20000))
        squatter.listen()
        result = _run(tmp_path, "up", "rabbitmq", ports={**ALT_PORTS, "AMQP": 5692, "RABBITMQ_HTTP": 15692})
    _run(tmp_path, "down", "rabbitmq", ports={**ALT_PORTS, "AMQP": 5692, "RABBITMQ_HTTP": 15692})
    assert result.returncode == 1
    assert "rabbitmq: the process exited during start-up" in result.stderr
    assert "--- last lines of" in result.stderr and "dist_port_already_used" in result.stderr


def test_cluster_flags_and_env(tmp_path: Path) -> None:
    env = _run(tmp_path, "env").stdout
    assert "export RABBITMQ_CLUSTER_URL=http://guest:guest@127.0.0.1:15782\n" in env
    assert f"export RABBITMQ_CLUSTER_HOME={tmp_path / 'rabbitmq-cluster'}\n" in env
    assert "export PROMETHEUS_URL=http://127.0.0.1:9190\n" in env
    assert f"export PROMETHEUS_RULES_DIR={tmp_path / 'prometheus' / 'rules'}\n" in env
    assert f"export PROMETHEUS_TARGETS_DIR={tmp_path / 'prometheus' / 'targets'}\n" in env
    assert "export PROMTOOL=/usr/bin/promtool\n" in env
    refused = _run(tmp_path, "up", "--rabbitmq-nodes", "5")
    assert refused.returncode == 2
    assert "flags: --kafka-brokers 3, --rabbitmq-nodes 3" in refused.stderr
    assert not (tmp_path / "rabbitmq-cluster").exists()


@pytest.mark.rabbitmq
def test_the_rabbitmq_cluster_nodes_are_in_the_process_group_down_stops(rabbitmq_cluster_api: Any) -> None:
    # Starting a second cluster here would cost more than the rest of this file; the one `make test`
    # started shows the same: `down` signals the process group whose leader's pid `up` wrote.
    group = int((Path(RABBITMQ_CLUSTER_HOME) / "pid").read_text())

    def reported() -> list[dict[str, Any]]:  # a busy node's os_pid is missing until its next stats emission
        listed = rabbitmq_cluster_api.get("/api/nodes", params={"columns": "name,os_pid"}).json()
        return listed if all("os_pid" in node for node in listed) else []

    nodes = until(reported, "every cluster node reports its os_pid", 60)
    assert len(nodes) == 3
    assert {node["name"]: os.getpgid(int(node["os_pid"])) for node in nodes} == {node["name"]: group for node in nodes}


def _prometheus_api(path: str, method: str = "GET") -> Any:
    request = urllib.request.Request(f"http://127.0.0.1:{ALT_PORTS['PROMETHEUS']}{path}", method=method)
    with urllib.request.urlopen(request, timeout=10) as response:
        body = response.read()
    return json.loads(body) if body.startswith(b"{") else body


def test_prometheus_reads_rules_and_targets_from_its_home(tmp_path: Path) -> None:
    if not Path("/usr/bin/prometheus").exists():
        pytest.fail("Prometheus is not installed: install and start it with `scripts/brokers up prometheus`",
                    pytrace=False)
    home, other_home = tmp_path / "ours", tmp_path / "someone-else"
    try:
        up = _run(home, "up", "prometheus")
        assert up.returncode == 0, up.stdout + up.stderr
        assert "Prometheus 2." in _lines(up.stdout)["prometheus"] and ":9190" in up.stdout
        assert sorted(_lines(_run(home, "status").stdout)) == ["kafka", "moto", "prometheus", "rabbitmq", "redis"]
        rules, targets = home / "prometheus" / "rules", home / "prometheus" / "targets"

        # A rule file put in the rules folder is loaded on reload; a target file is scraped.
        (rules / "one.yml").write_text("groups: [{name: from-the-folder, rules: [{record: one, expr: vector(1)}]}]\n")
        _prometheus_api("/-/reload", "POST")
        groups = _prometheus_api("/api/v1/rules")["data"]["groups"]
        assert [group["name"] for group in groups] == ["from-the-folder"]
        (targets / "self.json").write_text(json.dumps([{"targets": [f"127.0.0.1:{ALT_PORTS['PROMETHEUS']}"]}]))
        deadline, active = time.monotonic() + 30, []
        while time.monotonic() < deadline:
            active = _prometheus_api("/api/v1/targets")["data"]["activeTargets"]
            if any(target["health"] == "up" for target in active):
                break
            time.sleep(0.2)
        assert [target["health"] for target in active] == ["up"], active

        # Another home does not take this Prometheus for its own: it would never read that home's folders.
        other = _run(other_home, "up", "prometheus")
        assert other.returncode == 1
        assert "a port it needs is taken by something that is not a working prometheus" in other.stderr
        assert f"does not read {other_home / 'prometheus' / 'rules'}" in other.stderr

        down = _run(home, "down")
        assert "stopped" in _lines(down.stdout)["prometheus"]
        assert " down " in _lines(_run(home, "status", "prometheus").stdout)["prometheus"]
    finally:
        _run(home, "down", "prometheus")
