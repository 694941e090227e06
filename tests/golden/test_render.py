"""`topology render` of every example (and of the shop's prod environment) is exactly the committed
text: the fully expanded topology users diff in CI must not move when the code is reorganised. The
committed files were made by the release before the per-broker layout."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RENDERED = Path(__file__).parent / "render"
CASES = [(p.stem, ROOT / "examples" / f"{p.stem}.topology.yaml", ()) for p in sorted(RENDERED.glob("*.yaml"))
         if "." not in p.stem] + [("shop.prod", ROOT / "examples" / "shop.topology.yaml", ("--env", "prod"))]
# The examples' targets read these, with defaults: render with the defaults, whatever this shell has.
UNSET = ("RABBITMQ_URL", "KAFKA_BOOTSTRAP", "REDIS_URL", "AWS_ENDPOINT_URL", "BILLING_SVC_PASSWORD")


@pytest.mark.parametrize(("name", "source", "flags"), CASES, ids=[c[0] for c in CASES])
def test_render_is_the_committed_text(name: str, source: Path, flags: tuple[str, ...], tmp_path: Path) -> None:
    environ = {k: v for k, v in os.environ.items() if k not in UNSET and not k.startswith("TOPOLOGY_TARGET_")}
    environ["PYTHONPATH"] = str(ROOT)
    done = subprocess.run([sys.executable, "-m", "topology", "render", str(source), *flags], cwd=tmp_path,
                          env=environ, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == (RENDERED / f"{name}.yaml").read_text()
