"""Redis's rules over the whole expanded topology: a group's start is a stream id Redis takes, and the
users Redis or topology itself cannot do without are never pruned nor turned off."""

from __future__ import annotations

import fnmatch
import re
from urllib.parse import unquote, urlsplit

from topology.core.problems import Problem
from topology.core.resource import Resource
from topology.format.check import Checker

__all__ = ["CHECKS", "check_all", "connecting_user"]

_STREAM_ID = re.compile(r"^(\$|(?P<ms>[0-9]+)(-(?P<seq>[0-9]+))?)$")
_ID_PART_MAX = 2**64 - 1  # a stream id is two unsigned 64-bit numbers, milliseconds-sequence (t_stream.c streamID)
DEFAULT_USER = "default"  # the user every connection that does not AUTH is; Redis refuses to delete it


def _fits(digits: str) -> bool:
    """Whether a part of a stream id is an unsigned 64-bit number (leading zeros aside, as Redis reads it)."""
    significant = digits.lstrip("0")
    return len(significant) <= len(str(_ID_PART_MAX)) and int(significant or "0") <= _ID_PART_MAX


def _check_group_start(checker: Checker, resource: Resource) -> None:
    start = str(resource.attributes["start"])
    match = _STREAM_ID.fullmatch(start)
    if resource.generated_by is None and (match is None or not all(
            _fits(part) for part in (match["ms"] or "0", match["seq"] or "0"))):
        shown = start if len(start) <= 40 else f"{start[:40]}..."
        checker.report(resource, f"{shown!r} is not a stream id", "start",
                       hint='use "$" for new entries only, "0" for all, or an id such as 1700000000000-0 (two '
                            "numbers up to 18446744073709551615)")


def connecting_user(url: str) -> str:
    """The Redis user a target URL connects as: its user name, else `default` (a password alone is the
    default user's, as AUTH with one argument)."""
    try:
        username = urlsplit(url).username
    except ValueError:
        return DEFAULT_USER
    return unquote(username) if username else DEFAULT_USER


def _check_user(checker: Checker, resource: Resource) -> None:
    if resource.target is None or resource.attributes["enabled"]:
        return
    urls = {name: getattr(target, "url", "") for loaded in checker.files.values() if loaded.document is not None
            for name, target in loaded.document.targets.items()}
    url = urls.get(resource.target)
    if url and connecting_user(url) == resource.name:
        checker.report(resource, f"topology connects to target `{resource.target}` as `{resource.name}`: turning "
                       "it off would lock topology out of this Redis", "enabled",
                       hint="connect as another user (the target's URL) before turning this one off")


def check_all(checker: Checker) -> None:
    """A warning for each user that a `manage` glob would prune but that is never pruned: `default`
    (Redis refuses to delete it) and the user topology connects as (deleting it would cut the apply's
    own connection), unless the files declare it."""
    declared = {(r.target, r.name) for r in checker.resources.values() if r.kind == "redis.user"}
    for loaded in checker.files.values():
        document = loaded.document
        if document is None or not document.manage.prune:
            continue
        section = document.section("redis")
        target = section.target if section is not None else None
        spec = document.targets.get(target) if target is not None else None
        if spec is None or getattr(spec, "kind", None) != "redis":
            continue
        kept = {DEFAULT_USER: "Redis cannot delete its default user (ACL DELUSER refuses it)"}
        kept.setdefault(connecting_user(str(getattr(spec, "url", ""))), "topology connects to this target as this "
                        "user, and deleting it would cut the apply's own connection")
        for user, why in sorted(kept.items()):
            address = f"redis/user/{user}"
            if (target, user) in declared or not any(fnmatch.fnmatchcase(address, g) for g in document.manage.include) \
                    or any(fnmatch.fnmatchcase(address, g) for g in document.manage.exclude):
                continue
            checker.problems.append(Problem(
                f"`{address}` is matched by manage.include but is never pruned: {why}",
                loaded.positions.at(("manage", "include"), key=True), "manage.include",
                f"declare it under redis.users to manage its rules, or add {address} to manage.exclude",
                "warning"))


CHECKS = {"redis.group": _check_group_start, "redis.user": _check_user}
