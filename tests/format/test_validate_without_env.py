"""A target's connection values (`targets.<name>.url`, ...) are needed only when the target is contacted:
`validate` and `render` run without the brokers' environment; plan, apply, status and export name the
variable that is not set, where it is written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from topology.format.compile import compile_topology
from topology.format.load import unset_in_target

TOPOLOGY = str(Path(sys.executable).parent / "topology")
FILE = """version: 1
targets:
  rabbit: {kind: rabbitmq, url: "http://admin:${TOPOLOGY_T_PASSWORD}@${TOPOLOGY_T_HOST}:15672"}
  events: {kind: kafka, bootstrap_servers: "${TOPOLOGY_T_KAFKA}", config: {sasl.password: "${TOPOLOGY_T_KPASS}"}}
rabbitmq:
  target: rabbit
  vhosts: {shop: {queues: {billing: {}}}}
kafka:
  target: events
  topics: {orders: {partitions: 1}}
"""
SENTENCE = ("{path}:3:33 targets.rabbit.url: environment variable TOPOLOGY_T_PASSWORD is not set "
            "(export TOPOLOGY_T_PASSWORD, or write ${{TOPOLOGY_T_PASSWORD:-default}} to give a default)")


def _write(tmp_path: Path, text: str = FILE) -> str:
    path = tmp_path / "t.topology.yaml"
    path.write_text(text)
    return str(path)


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("TOPOLOGY_T_", "TOPOLOGY_TARGET_"))}
    return subprocess.run([TOPOLOGY, *args], capture_output=True, text=True, env={**environ, **(env or {})},
                          timeout=120)


def test_validate_passes_without_the_targets_variables(tmp_path: Path) -> None:
    path = _write(tmp_path)
    result = _run("validate", path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Valid: 1 file, ") and "TOPOLOGY_T_" not in result.stdout + result.stderr


def test_plan_names_the_variable_where_it_is_written_before_any_broker_is_contacted(tmp_path: Path) -> None:
    path = _write(tmp_path)
    result = _run("plan", path, env={"TOPOLOGY_T_HOST": "localhost", "TOPOLOGY_T_KAFKA": "localhost:1",
                                     "TOPOLOGY_T_KPASS": "kafka-secret-value"})
    assert result.returncode == 1
    assert SENTENCE.format(path=path) in result.stderr
    assert "Traceback" not in result.stderr and "kafka-secret-value" not in result.stdout + result.stderr


def test_the_problem_is_kept_for_the_target_that_needs_it(tmp_path: Path) -> None:
    path = _write(tmp_path)
    topology = compile_topology([path], environ={"TOPOLOGY_T_HOST": "h"})
    assert topology.errors == []
    assert [str(p) for p in unset_in_target(topology.files, "rabbit")] == [SENTENCE.format(path=path)]
    assert [p.message for p in unset_in_target(topology.files, "events")] == [
        "environment variable TOPOLOGY_T_KAFKA is not set", "environment variable TOPOLOGY_T_KPASS is not set"]
    # --target events=URL (or TOPOLOGY_TARGET_EVENTS) gives the address; the password is still needed
    assert [p.message for p in unset_in_target(topology.files, "events", replaced="bootstrap_servers")] == [
        "environment variable TOPOLOGY_T_KPASS is not set"]
    assert unset_in_target(topology.files, "rabbit", replaced="url") == []
    every = compile_topology([path], environ={k: "x" for k in ("TOPOLOGY_T_PASSWORD", "TOPOLOGY_T_HOST",
                                                              "TOPOLOGY_T_KAFKA", "TOPOLOGY_T_KPASS")})
    assert [u for f in every.files for u in f.unset] == []
    assert every.targets["rabbit"].url == "http://admin:x@x:15672"  # type: ignore[union-attr]


def test_render_shows_the_value_as_written_and_no_secret(tmp_path: Path) -> None:
    path = _write(tmp_path)
    result = _run("render", path, env={"TOPOLOGY_T_KPASS": "kafka-secret-value", "TOPOLOGY_T_HOST": "rabbit.internal"})
    assert result.returncode == 0, result.stderr
    assert "bootstrap_servers: ${TOPOLOGY_T_KAFKA}" in result.stdout
    assert "rabbit.internal" not in result.stdout  # the URL is kept whole as written, never half-substituted
    assert "TOPOLOGY_T_HOST" in result.stdout and "kafka-secret-value" not in result.stdout


def test_an_environment_overlay_decides_which_value_is_needed(tmp_path: Path) -> None:
    path = _write(tmp_path, """version: 1
targets:
  rabbit: {kind: rabbitmq, url: "${TOPOLOGY_T_URL}"}
environments:
  dev:
    targets: {rabbit: {url: "http://localhost:15672"}}
  prod:
    targets: {rabbit: {url: "${TOPOLOGY_T_PROD_URL}"}}
rabbitmq: {target: rabbit, vhosts: {shop: {}}}
""")
    dev = compile_topology([path], env="dev", environ={})
    assert dev.errors == [] and unset_in_target(dev.files, "rabbit") == []
    prod = compile_topology([path], env="prod", environ={})
    assert prod.errors == []
    assert [str(p) for p in unset_in_target(prod.files, "rabbit")] == [
        f"{path}:8:29 environments.prod.targets.rabbit.url: environment variable TOPOLOGY_T_PROD_URL is not set "
        "(export TOPOLOGY_T_PROD_URL, or write ${TOPOLOGY_T_PROD_URL:-default} to give a default)"]
    plain = compile_topology([path], environ={})
    assert [p.message for p in unset_in_target(plain.files, "rabbit")] == [
        "environment variable TOPOLOGY_T_URL is not set"]


def test_a_value_that_is_not_text_still_needs_its_variable_at_validate(tmp_path: Path) -> None:
    """`verify` is a boolean: the text as written cannot be checked, so its variable is what validate says."""
    path = _write(tmp_path, """version: 1
targets:
  rabbit: {kind: rabbitmq, url: "http://localhost:15672", verify: "${TOPOLOGY_T_VERIFY}"}
""")
    assert [str(p) for p in compile_topology([path], environ={}).errors] == [
        f"{path}:3:67 targets.rabbit.verify: environment variable TOPOLOGY_T_VERIFY is not set "
        "(export TOPOLOGY_T_VERIFY, or write ${TOPOLOGY_T_VERIFY:-default} to give a default)"]


def test_variables_outside_the_targets_connection_values_are_still_needed_at_validate(tmp_path: Path) -> None:
    path = _write(tmp_path, """version: 1
targets:
  "${TOPOLOGY_T_NAME}": {kind: rabbitmq, url: "http://localhost:15672"}
rabbitmq:
  vhosts: {"${TOPOLOGY_T_VHOST}": {}}
""")
    assert [p.message for p in compile_topology([path], environ={}).errors] == [
        "environment variable TOPOLOGY_T_NAME is not set", "environment variable TOPOLOGY_T_VHOST is not set"]


def test_an_address_given_on_the_command_line_needs_no_variable(tmp_path: Path) -> None:
    """--target NAME=URL replaces the url: its variable is not needed; the broker there is then contacted."""
    path = _write(tmp_path, """version: 1
targets:
  rabbit: {kind: rabbitmq, url: "${TOPOLOGY_T_URL}", connect_timeout: 1s}
rabbitmq: {target: rabbit, vhosts: {shop: {}}}
""")
    result = _run("plan", path, "--target", "rabbit=http://guest:guest@127.0.0.1:9")
    assert result.returncode == 1
    assert "TOPOLOGY_T_URL" not in result.stderr and "127.0.0.1:9" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_export_and_status_name_the_variable_too(tmp_path: Path) -> None:
    path = _write(tmp_path)
    env = {"TOPOLOGY_T_HOST": "localhost"}
    exported = _run("export", "--target", "rabbit", path, env=env)
    assert exported.returncode == 1 and SENTENCE.format(path=path) in exported.stderr, exported.stderr
    status = _run("status", path, env=env)
    assert status.returncode == 1 and SENTENCE.format(path=path) in status.stdout + status.stderr
