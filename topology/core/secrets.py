"""Secrets that cannot be printed by accident: redaction by construction, not by pattern matching.

`Secret` holds a value whose `str`, `repr`, format and JSON serialisation are all `***`; only
`reveal()` gives the value, and only client libraries should receive it. `BrokerURL` is a parsed
connection URL whose password is a `Secret`: `str(url)` is the URL with `***` for the password,
safe in any message; `url.reveal()` is the full URL for the client. A URL that cannot be parsed
(typically a password with `#`, `/`, `?` or `@` that is not percent-encoded) is refused with a
sentence that never echoes the value.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, quote, unquote, urlsplit

from topology.errors import InputError

__all__ = ["MASK", "BrokerURL", "Secret", "parse_url", "scrub"]

MASK = "***"


class Secret:
    """A value that prints as `***` everywhere; `reveal()` is the only way to read it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __str__(self) -> str:
        return MASK

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __format__(self, spec: str) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> Any:  # never pickled with its value
        raise TypeError("a Secret cannot be pickled")

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        # Read as a string (so the JSON Schema says "string"), kept as a Secret, written as `***`.
        return core_schema.no_info_before_validator_function(
            lambda value: value.reveal() if isinstance(value, Secret) else value,
            core_schema.no_info_after_validator_function(Secret, core_schema.str_schema()),
            serialization=core_schema.plain_serializer_function_ser_schema(lambda _: MASK),
        )


_ENCODE_HINT = ("percent-encode reserved characters in the user name and password "
                "(`#` as %23, `/` as %2F, `?` as %3F, `@` as %40, `%` as %25, `:` as %3A, a tab as %09)")


@dataclass(frozen=True)
class BrokerURL:
    """A parsed connection URL. `str()` hides the password; `reveal()` gives the whole URL."""

    scheme: str
    host: str
    port: int | None
    username: str | None
    password: Secret | None
    path: str = ""
    query: str = ""

    @property
    def netloc(self) -> str:
        """host:port, without credentials (IPv6 hosts in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"

    def _with_credentials(self, password: str | None) -> str:
        userinfo = ""
        if self.username is not None or password is not None:
            userinfo = quote(self.username or "", safe="")
            if password is not None:
                userinfo += ":" + password
            userinfo += "@"
        return f"{self.scheme}://{userinfo}{self.netloc}{self.path}" + (f"?{self.query}" if self.query else "")

    def reveal(self) -> str:
        """The full URL, password percent-encoded, for the client library only."""
        return self._with_credentials(quote(self.password.reveal(), safe="") if self.password is not None else None)

    def __str__(self) -> str:
        return self._with_credentials(MASK if self.password is not None else None)

    def __repr__(self) -> str:
        return f"BrokerURL({str(self)!r})"

    def __format__(self, spec: str) -> str:
        return str(self)


def parse_url(value: str | BrokerURL, *, what: str, schemes: tuple[str, ...] = ()) -> BrokerURL:
    """Parse `value` as a connection URL, or refuse it in a sentence naming `what` (never the value).

    `what` says where the URL comes from, e.g. "the url of target `rabbit`"."""
    if isinstance(value, BrokerURL):
        return value
    _refuse_control_characters(value, what)
    parts, port = _split(value, what)
    _refuse_fragment(parts, value, what)
    if parts.scheme == "unix" and parts.path:  # a Unix socket: no host
        return BrokerURL("unix", "", None, *_credentials(parts), parts.path, parts.query)
    host = _checked_host(parts, what, schemes)
    _check_escapes(parts, what)
    return BrokerURL(parts.scheme, host, port, *_credentials(parts), parts.path, parts.query)


def _refuse_control_characters(value: str, what: str) -> None:
    if any(ord(c) < 32 or ord(c) == 127 for c in value):  # urlsplit would drop a tab or newline silently
        raise InputError(f"{what} contains a control character (a tab or a line break); {_ENCODE_HINT}")


def _split(value: str, what: str) -> tuple[SplitResult, int | None]:
    """The URL's parts and its port; a URL urlsplit cannot read (e.g. a port that is not a number) is refused."""
    try:
        parts = urlsplit(value.strip())
        return parts, parts.port
    except ValueError:
        raise InputError(f"{what} is not a valid URL; {_ENCODE_HINT}") from None


def _refuse_fragment(parts: SplitResult, value: str, what: str) -> None:
    if parts.fragment or "#" in value:
        raise InputError(f"{what} contains `#`, which ends a URL; {_ENCODE_HINT}")


def _checked_host(parts: SplitResult, what: str, schemes: tuple[str, ...]) -> str:
    """The host of a URL of the form scheme://[user:password@]host[:port], its scheme one of `schemes` (any
    when empty), with no `@` after the host."""
    host = parts.hostname
    if not parts.scheme or not host:
        raise InputError(f"{what} is not a URL of the form scheme://[user:password@]host[:port]; {_ENCODE_HINT}")
    if schemes and parts.scheme not in schemes:
        raise InputError(f"{what} starts with `{parts.scheme}://`; use {' or '.join(s + '://' for s in schemes)}")
    if "@" in (parts.path + parts.query):
        raise InputError(f"{what} has `@` after the host; {_ENCODE_HINT}")
    return host


def _check_escapes(parts: SplitResult, what: str) -> None:
    for text in (parts.username, parts.password):
        if text is not None and "%" in text and not _valid_escapes(text):
            raise InputError(f"{what} has a `%` that is not a percent-escape in its credentials; {_ENCODE_HINT}")


def _credentials(parts: SplitResult) -> tuple[str | None, Secret | None]:
    """The user name and the password (a Secret), percent-escapes decoded."""
    return (unquote(parts.username) if parts.username is not None else None,
            Secret(unquote(parts.password)) if parts.password is not None else None)


def _valid_escapes(text: str) -> bool:
    index = text.find("%")
    while index != -1:
        escape = text[index + 1:index + 3]
        if len(escape) != 2 or any(c not in "0123456789abcdefABCDEF" for c in escape):
            return False
        index = text.find("%", index + 3)
    return True


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with every one of `secrets` (as given and percent-encoded, the longest first) replaced by
    `***`: for messages a broker's client wrote, which may quote a password or a URL holding one."""
    forms = {form for secret in secrets if secret for form in (secret, quote(secret, safe=""), quote(secret))}
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, MASK)
    return text
