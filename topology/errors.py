"""The errors topology reports to its users.

    TopologyError                  anything topology reports as one clear sentence (exit 1)
    ├── InputError                 a topology file, flag or variable is wrong (where + what to do)
    └── BrokerError                a broker refused or failed a request
        ├── BrokerUnavailable      a broker could not be reached, or refused our credentials
        └── LockedError            another apply holds the target's lock (the sentence names it)

Drivers translate their client library's exceptions into these at the driver boundary, so no
client exception reaches the command line; `--debug` shows the traceback behind any of them.
Messages never contain passwords: URLs are passed through `redact_url` first.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

__all__ = ["BrokerError", "BrokerUnavailable", "InputError", "LockedError", "TopologyError", "lock_holder",
           "redact_url"]


class TopologyError(Exception):
    """An error with a message fit to show a user: where, what is wrong, what to do."""


class InputError(TopologyError):
    """A topology file, a command-line flag or an environment variable is wrong."""


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
    """`url` with any password replaced by `***`, safe to print."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
