"""The command line starts fast and answers --help and --version."""

from __future__ import annotations

import json
import subprocess
import sys

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
