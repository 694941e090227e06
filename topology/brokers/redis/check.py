"""Redis's rules over the whole expanded topology: a group's start is a stream id."""

from __future__ import annotations

import re

from topology.core.resource import Resource
from topology.format.check import Checker

__all__ = ["CHECKS"]

_STREAM_ID = re.compile(r"^(\$|0|\d+(-\d+)?)$")


def _check_group_start(checker: Checker, resource: Resource) -> None:
    start = resource.attributes["start"]
    if resource.generated_by is None and not _STREAM_ID.match(str(start)):
        checker.report(resource, f"{start!r} is not a stream id", "start",
                       hint='use "$" for new entries only, "0" for all, or an id such as 1700000000000-0')


CHECKS = {"redis.group": _check_group_start}
