"""The command line starts fast and answers --help and --version."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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
