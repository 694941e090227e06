"""The command line starts fast, answers --help and --version, reads --var-file and directory arguments."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli import topology
from topology import __version__

HEAVY_CLIENTS = ("boto3", "botocore", "confluent_kafka", "pika", "redis", "httpx")


def test_help_does_not_import_broker_clients() -> None:
    script = (
        "import json, sys\n"
        "sys.argv = ['topology', '--help']\n"
        "from topology.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "sys.stderr.write(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    loaded = set(json.loads(result.stderr))
    assert "Usage" in result.stdout
    assert "topology.cli" in loaded  # the probe really ran the command line
    assert sorted(name for name in HEAVY_CLIENTS if name in loaded) == []


def test_version() -> None:
    result = subprocess.run([sys.executable, "-m", "topology", "--version"], capture_output=True, text=True)
    assert result.returncode == 0
    assert result.stdout.strip() == f"topology {__version__}"


def test_a_hyphenated_target_is_read_from_one_variable_name_everywhere(tmp_path: Path) -> None:
    """TOPOLOGY_TARGET_<NAME> is built in one place: `orders-eu` is TOPOLOGY_TARGET_ORDERS_EU for plan,
    for export and in export's error."""
    missing = topology("export", "--target", "orders-eu", cwd=tmp_path)
    assert missing.returncode == 1 and "set TOPOLOGY_TARGET_ORDERS_EU," in missing.stderr, missing.stderr
    (tmp_path / "t.topology.yaml").write_text(
        "version: 1\ntargets:\n  orders-eu: {kind: local, path: nowhere.json}\nredis:\n  target: orders-eu\n"
        "  streams: {s: {}}\n")
    planned = topology("plan", "t.topology.yaml", "--out", "p.json", cwd=tmp_path,
                       env={"TOPOLOGY_TARGET_ORDERS_EU": "elsewhere.json"})
    assert planned.returncode == 0, planned.stderr
    applied = topology("apply", "p.json", "--auto-approve", cwd=tmp_path, env={"TOPOLOGY_TARGET_ORDERS_EU":
                                                                              "elsewhere.json"})
    assert applied.returncode == 0, applied.stderr
    assert (tmp_path / "elsewhere.json").exists() and not (tmp_path / "nowhere.json").exists()


def test_the_product_reads_no_environment_variable_of_its_own_but_the_target_addresses() -> None:
    """Test seams live in tests/ (tests/crash_apply.py kills an apply through Engine.apply's after_batch):
    the only TOPOLOGY_ variables the package knows are the documented TOPOLOGY_TARGET_<NAME>."""
    import re

    package = Path(__file__).resolve().parents[1] / "topology"
    names = {name for path in package.rglob("*.py") for name in re.findall(r"TOPOLOGY_[A-Z_]*", path.read_text())}
    assert names == {"TOPOLOGY_TARGET_"}


# --var-file and directory arguments

TEMPLATED = ("version: 1\nvars: {partitions: 1, prefix: dev}\nkafka:\n  topics:\n"
             "    '{{ vars.prefix }}.orders': {partitions: '{{ vars.partitions }}'}\n")


def _rendered_topic(result: subprocess.CompletedProcess[str]) -> tuple[str, int]:
    import yaml

    assert result.returncode == 0, result.stderr
    [(address, topic)] = yaml.safe_load(result.stdout)["resources"].items()
    return address.removeprefix("kafka/topic/"), topic["attributes"]["partitions"]


def test_a_var_file_sets_variables_and_var_wins_over_it(tmp_path: Path) -> None:
    (tmp_path / "t.topology.yaml").write_text(TEMPLATED)
    (tmp_path / "prod.yaml").write_text("partitions: 12\nprefix: prod\n")
    (tmp_path / "eu.yaml").write_text("prefix: prod-eu\n")
    assert _rendered_topic(topology("render", "t.topology.yaml", cwd=tmp_path)) == ("dev.orders", 1)
    assert _rendered_topic(topology("render", "t.topology.yaml", "--var-file", "prod.yaml", cwd=tmp_path)) == \
        ("prod.orders", 12)
    later = topology("render", "t.topology.yaml", "--var-file", "prod.yaml", "--var-file", "eu.yaml", cwd=tmp_path)
    assert _rendered_topic(later) == ("prod-eu.orders", 12)
    # --var wins, wherever it stands on the line
    assert _rendered_topic(topology("render", "t.topology.yaml", "--var", "partitions=3", "--var-file", "prod.yaml",
                                    cwd=tmp_path)) == ("prod.orders", 3)
    assert _rendered_topic(topology("render", "t.topology.yaml", "--var-file", "prod.yaml", "--var", "prefix=qa",
                                    cwd=tmp_path)) == ("qa.orders", 12)


def test_an_empty_var_file_sets_nothing(tmp_path: Path) -> None:
    (tmp_path / "t.topology.yaml").write_text(TEMPLATED)
    (tmp_path / "empty.yaml").write_text("# nothing here yet\n")
    assert _rendered_topic(topology("render", "t.topology.yaml", "--var-file", "empty.yaml", cwd=tmp_path)) == \
        ("dev.orders", 1)


@pytest.mark.parametrize(("text", "message"), [
    ("- partitions\n- 12\n", "Error: --var-file vars.yaml holds a list, not a mapping of variable names to values; "
                             "write one NAME: VALUE line per variable\n"),
    ("partitions=12\n", "Error: --var-file vars.yaml holds a string, not a mapping of variable names to values; "
                        "write one NAME: VALUE line per variable\n"),
    ("partitions: [12\n", "Error: vars.yaml:1:13 this is not valid YAML: "),
    ("partitions: 1\npartitions: 2\n", "Error: vars.yaml:2:1 partitions: `partitions` is declared twice"),
    ("'': 12\n", "Error: --var-file vars.yaml has a variable with an empty name; write one NAME: VALUE line per "
                 "variable\n"),
])
def test_a_var_file_that_is_not_a_mapping_of_names_is_one_sentence(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "t.topology.yaml").write_text(TEMPLATED)
    (tmp_path / "vars.yaml").write_text(text)
    result = topology("validate", "t.topology.yaml", "--var-file", "vars.yaml", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith(message) and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_var_file_is_one_sentence(tmp_path: Path) -> None:
    (tmp_path / "t.topology.yaml").write_text(TEMPLATED)
    result = topology("plan", "t.topology.yaml", "--var-file", "prod.yaml", cwd=tmp_path)
    assert (result.returncode, result.stderr) == (1, "Error: --var-file prod.yaml: file not found; check the path\n")


def test_every_command_that_takes_var_takes_var_file() -> None:
    import typer.main

    from topology.cli import app

    commands = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    options = {name: {o for p in command.params for o in p.opts} for name, command in commands.items()}
    with_var = sorted(name for name, opts in options.items() if "--var" in opts)
    assert {"validate", "render", "test", "plan", "apply", "status", "alerts", "exporter"} <= set(with_var)
    assert [name for name in with_var if "--var-file" not in options[name]] == []


def test_a_saved_plan_made_with_a_var_file_applies_with_it(tmp_path: Path) -> None:
    (tmp_path / "t.topology.yaml").write_text(
        "version: 1\nvars: {stream: dev}\ntargets:\n  home: {kind: local, path: state.json}\nredis:\n"
        "  target: home\n  streams: {'{{ vars.stream }}.orders': {}}\n")
    (tmp_path / "prod.yaml").write_text("stream: prod\n")
    planned = topology("plan", "t.topology.yaml", "--var-file", "prod.yaml", "--out", "p.json", cwd=tmp_path)
    assert planned.returncode == 0 and "prod.orders" in planned.stdout, planned.stderr
    applied = topology("apply", "p.json", "--var-file", "prod.yaml", "--auto-approve", cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr
    assert "prod.orders" in (tmp_path / "state.json").read_text()


def test_a_directory_argument_means_the_topology_files_in_it(tmp_path: Path) -> None:
    infra = tmp_path / "infra"
    (infra / "nested").mkdir(parents=True)
    (infra / "b.topology.yml").write_text("version: 1\nredis:\n  streams: {orders: {groups: {billing: {}}}}\n")
    (infra / "a.topology.yaml").write_text(
        "version: 1\ntargets:\n  home: {kind: local, path: state.json}\nredis:\n  target: home\n")
    (infra / "notes.yaml").write_text("not: a topology\n")
    (infra / "nested" / "c.topology.yaml").write_text("version: 1\nkafka: {topics: {x: {partitions: 0}}}\n")
    valid = topology("validate", "infra", cwd=tmp_path)
    assert valid.returncode == 0, valid.stderr  # the nested file (invalid) and notes.yaml are not read
    assert valid.stdout.startswith("Valid: 2 files, ")
    json_files = topology("validate", "infra", "infra/a.topology.yaml", "--format", "json", cwd=tmp_path)
    assert json.loads(json_files.stdout)["files"] == ["infra/a.topology.yaml", "infra/b.topology.yml"]
    planned = topology("plan", "infra", "--state", "state.json", cwd=tmp_path)
    assert planned.returncode == 0 and "redis/stream/orders" in planned.stdout, planned.stderr
    empty = topology("validate", "infra/nested/..", str(tmp_path), cwd=tmp_path)
    assert empty.returncode == 1
    assert empty.stderr == (f"Error: the directory {tmp_path} holds no *.topology.yaml or *.topology.yml file; "
                            "give the topology files, or the directory that holds them\n")
