"""Fingerprints that make a saved plan stale: of what the files ask for, of the secrets' values, of
the live state. A plan records them when it is made; apply recomputes them before it acts.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from topology.brokers.registry import rules_for
from topology.core.resource import Live
from topology.engine.plan import digest
from topology.format.compile import Topology

__all__ = ["live_digest", "secrets_digest", "settings", "source_digest"]


def source_digest(topology: Topology) -> str:
    """What the files ask for, secrets only by name: any change to it makes a plan stale."""
    return digest({
        "manage": topology.manage.model_dump(mode="json"),
        "resources": [[r.address, r.kind, r.target, r.attributes, r.depends_on, r.protect, sorted(r.secrets)]
                      for r in topology.resources.values()],
    })


def secrets_digest(topology: Topology, source: str) -> str:
    """The secrets' values, through scrypt (salted by the source digest), so a plan file can tell that a
    password changed without letting whoever reads it test guesses quickly; "" when there are none."""
    secrets = sorted((r.address, key, value.reveal()) for r in topology.resources.values()
                     for key, value in r.secrets.items())
    if not secrets:
        return ""
    salt = hashlib.sha256(f"topology secrets of {source}".encode()).digest()[:16]
    key = hashlib.scrypt(json.dumps(secrets).encode(), salt=salt, n=2**14, r=8, p=1, maxmem=64 << 20, dklen=32)
    return "scrypt:" + key.hex()


def settings(kind: str, attributes: Mapping[str, Any]) -> dict[str, Any]:
    """An object's attributes without the ones that measure what it holds (a Redis stream's length stands
    in its `max_length`): like message counts, those change all the time and are re-checked instead; nor
    those used only at creation, never compared (a Redis group's position moves as its consumers read)."""
    rules = rules_for(kind)
    left_out = rules.at_most | rules.create_only
    return {k: v for k, v in attributes.items() if k not in left_out} if left_out else dict(attributes)


def live_digest(live: Mapping[str, Live]) -> str:
    """A target's live state, without what changes all the time (message counts, measured sizes)."""
    return digest({address: [item.kind, settings(item.kind, item.attributes)] for address, item in live.items()})
