"""The errors topology reports to its users.

    TopologyError                  anything topology reports as one clear sentence (exit 1)
    ├── InputError                 a topology file, flag or variable is wrong (where + what to do)
    │   └── ProblemsError          located problems in the topology files (`.problems`, all of them)
    ├── RoutingError               `topology test` cannot say where a message goes (a plugin exchange type)
    └── BrokerError                a broker refused or failed a request
        ├── BrokerUnavailable      a broker could not be reached, or refused our credentials
        └── LockedError            another apply holds the target's lock (the sentence names it)

Drivers translate their client library's exceptions into these at the driver boundary, so no
client exception reaches the command line; `--debug` shows the traceback behind any of them.
Messages never contain passwords: URLs are passed through `redact_url` first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from topology.core.problems import Problem

__all__ = ["BrokerError", "BrokerUnavailable", "InputError", "LockedError", "ProblemsError", "RoutingError",
           "TopologyError", "lock_holder", "redact_url"]


class TopologyError(Exception):
    """An error with a message fit to show a user: where, what is wrong, what to do."""


class InputError(TopologyError):
    """A topology file, a command-line flag or an environment variable is wrong."""


class ProblemsError(InputError):
    """One or more located errors in the topology files."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        errors = [p for p in self.problems if p.severity == "error"]
        super().__init__("\n".join(str(p) for p in errors) or "invalid topology")


class RoutingError(TopologyError):
    """A message cannot be routed by the rules the static evaluator knows (a plugin exchange type, say)."""


class BrokerError(TopologyError):
    """A broker refused or failed a request."""


class BrokerUnavailable(BrokerError):
    """A broker could not be reached, or did not accept our credentials."""


class LockedError(BrokerError):
    """Another apply holds the target's lock; the message names the holder and how long it waited."""


def lock_holder() -> str:
    """Who takes a lock, as shown to a second apply: user@host pid N since HH:MM:SSZ."""
    import getpass
    import os
    import socket
    import time

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()} pid {os.getpid()} since {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}"


def redact_url(url: str) -> str:
    """`url` with its credentials' password replaced by `***`, safe to print, whatever it contains.

    Textual on purpose: a password holding `#`, `/`, `?` or `@` unencoded breaks URL parsers, so
    everything between `://` and the last `@` before the path is treated as credentials. Query
    parameters that name a secret are hidden too."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "***" if "@" in url or ":" in url else url
    userinfo, at, tail = rest.rpartition("@")
    if at:
        user = userinfo.split(":", 1)[0]
        user = user if "/" not in user and "?" not in user and "#" not in user else ""
        rest = f"{user}:***@{tail}" if ":" in userinfo else f"***@{tail}"
    head, question, query = rest.partition("?")
    if question:
        query = "&".join(
            f"{k}=***" if any(w in k.lower() for w in ("pass", "secret", "token", "key")) else f"{k}{e}{v}"
            for k, e, v in (part.partition("=") for part in query.split("&")))
        rest = f"{head}?{query}"
    return f"{scheme}://{rest}"
