"""`topology validate --format json`: a compiled topology's problems, for machines."""

from __future__ import annotations

import json

from topology.format.compile import Topology

__all__ = ["PROBLEMS_FORMAT_VERSION", "problems_json"]

PROBLEMS_FORMAT_VERSION = 1  # of `validate --format json` (plans have their own, in engine/plan.py)


def problems_json(topology: Topology) -> str:
    return json.dumps({
        "format_version": PROBLEMS_FORMAT_VERSION,
        "valid": not topology.errors,
        "files": [f.path for f in topology.files],
        "resources": len(topology.resources),
        "problems": [p.as_json() for p in topology.problems],
    }, indent=2, sort_keys=True)
