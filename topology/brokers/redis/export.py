"""Live Redis streams, groups and ACL users back into a `redis:` section (`topology export --format yaml`).

A group's `start` is where it is now (its last-delivered-id, and its entries-read on Redis 7): a group
re-created from the file on a stream holding the same entries delivers the same entries next. What a
group holds that no file can make (its consumers, created by their first XREADGROUP, and the entries
delivered to them but not acknowledged) is said in a comment. A user's passwords are `${VAR}`
placeholders (Redis keeps only their SHA-256), and every other text is written with `$` doubled, so
that no name is read back as a variable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from topology.brokers.base import Driver
from topology.core.kinds import plural
from topology.core.notes import Noted
from topology.core.resource import Live

__all__ = ["export_redis", "export_target", "password_variable"]


def password_variable(target: str, user: str, index: int, taken: set[str]) -> str:
    """The variable an exported password placeholder names: REDIS_<TARGET>_<USER>_PASSWORD[_<n>], each
    character a shell variable cannot hold written as `_`, made unique among those `taken`."""
    base = re.sub(r"[^A-Z0-9_]", "_", f"REDIS_{target}_{user}_PASSWORD".upper())
    name = base if index == 0 else f"{base}_{index + 1}"
    while name in taken:
        name += "_"
    taken.add(name)
    return name


def _group(item: Live) -> dict[str, Any]:
    """A group at its live position, with what it holds that the file cannot say as a comment."""
    attributes = item.attributes
    start = str(attributes.get("start", "$"))
    notes = []
    if item.contents:
        notes.append("consumers (made by their first XREADGROUP, not by topology): " + ", ".join(
            f"{name} ({held} pending)" for name, held in sorted(item.contents.items())))
    if item.messages:
        notes.append(f"{item.messages} {plural('pending entry', item.messages)} (delivered, not acknowledged) "
                     "would not be pending in a group re-created from this file, which delivers only what comes "
                     "after this id: acknowledge or claim them (XAUTOCLAIM) before re-creating it")
    group: dict[str, Any] = {"start": Noted(start, "; ".join(notes)) if notes else start}
    if "entries_read" in attributes:
        group["entries_read"] = attributes["entries_read"]
    return group


def _permissions(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """Keys, channels and commands as Redis describes them, left out where there are none."""
    found: dict[str, Any] = {}
    if attributes["keys"]:
        found["keys"] = list(attributes["keys"])
    if attributes["channels"]:
        found["channels"] = list(attributes["channels"])
    commands = attributes["commands"].removeprefix("-@all").strip()  # apply starts from -@all
    if commands:
        found["commands"] = commands
    return found


def _user(item: Live, target: str, taken: set[str]) -> dict[str, Any]:
    attributes = item.attributes
    user: dict[str, Any] = {"enabled": attributes["enabled"]}
    if attributes["nopass"]:
        user["nopass"] = True
    elif attributes.get("passwords"):
        variables = [password_variable(target, item.name, i, taken) for i in range(attributes["passwords"])]
        user["passwords"] = [Noted(f"${{{v}}}", f"set {v} to this password: Redis keeps only its SHA-256, which "
                                   "plan compares; or remove `passwords` to leave them unmanaged") for v in variables]
    else:
        user["passwords"] = []  # none: the user cannot log in until one is set
    user.update(_permissions(attributes))
    if attributes["selectors"]:
        user["selectors"] = [_permissions(s) for s in attributes["selectors"]]
    if "sanitize_payload" in attributes:
        user["sanitize_payload"] = attributes["sanitize_payload"]
    return user


def export_redis(live: Mapping[str, Live], target: str) -> dict[str, Any]:
    """Streams with their groups at their live positions, and ACL users."""
    streams: dict[str, dict[str, Any]] = {}
    users: dict[str, dict[str, Any]] = {}
    taken: set[str] = set()
    for _address, item in sorted(live.items()):
        if item.kind == "redis.stream":
            streams.setdefault(item.name, {})
        elif item.kind == "redis.group":
            streams.setdefault(item.scope, {}).setdefault("groups", {})[item.name] = _group(item)
        elif item.kind == "redis.user":
            users[item.name] = _user(item, target, taken)
    section: dict[str, Any] = {"target": target, "streams": streams}
    if users:
        section["users"] = users
    return {"redis": section}


def export_target(driver: Driver, reference: str) -> dict[str, Any]:
    return {"kind": "redis", "url": reference}
