"""The `redis:` section: streams, their consumer groups, and ACL users."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from topology.core.secrets import Secret
from topology.format.common import Protectable, RemoteTarget, Retry, Spec
from topology.format.monitoring import RedisGroupMonitor, StreamMonitor

__all__ = ["ENTRIES_READ_MAX", "Redis", "RedisTarget", "Selector", "Stream", "StreamGroup", "User"]

ENTRIES_READ_MAX = 2**63 - 1  # ENTRIESREAD is a signed 64-bit count in Redis (t_stream.c: a long long)


class StreamGroup(Spec):
    start: str = Field(
        "$", description='XGROUP CREATE\'s id: "$" new entries only, "0" from the beginning, or an entry id (the '
        "last entry the group counts as delivered). Used only when the group is created: a live group's position "
        "moves as its consumers read, and topology never changes it (export writes the live last-delivered-id).")
    entries_read: int | None = Field(
        None, ge=-1, le=ENTRIES_READ_MAX,
        description="XGROUP CREATE's ENTRIESREAD (Redis 7): how many entries the group had read at `start`, so its "
        "lag is known from creation. Used only when the group is created, and only on a stream that has had at "
        "least that many entries (a count of another stream's entries would make the lag negative).")
    protect: bool = Field(False, description="Never delete this group.")
    monitor: RedisGroupMonitor | None = Field(  # type: ignore[valid-type]
        None, description="Limits `topology status`, `alerts` and `exporter` watch; never changes a plan.")


class Stream(Protectable):
    max_length: int | None = Field(
        None, ge=0, description="A cap on the entries kept (an exact XTRIM MAXLEN), applied only with "
        "--allow-data-loss: trimming deletes the oldest entries. Redis keeps no cap on the stream itself.")
    groups: dict[str, StreamGroup] = Field(default_factory=dict, description="Consumer groups by name.")
    dead_letter: bool = Field(False, description="A dead-letter stream `<key>:dlq` with group `dlq`.")
    retry: Retry | None = Field(None, description="Retry streams, one per delay, with the same groups.")
    monitor: StreamMonitor | None = Field(  # type: ignore[valid-type]
        None, description="Limits `topology status`, `alerts` and `exporter` watch; never changes a plan.")


class Selector(Spec):
    """A Redis 7 ACL selector, `(...)` in ACL SETUSER: more permissions, matched on their own."""

    keys: list[str] = Field(default_factory=list, description='Key patterns: "~pattern" (read and write), '
                            '"%R~pattern" (read), "%W~pattern" (write), or "allkeys".')
    channels: list[str] = Field(default_factory=list, description='Pub/Sub channel patterns: "&pattern", or '
                                '"allchannels".')
    commands: str = Field("", description='Command rules in order, as ACL SETUSER takes them: "+@read -@dangerous '
                          '+xadd", "+config|get". None: no commands.')


class User(Protectable):
    enabled: bool = Field(True, description="ACL SETUSER on (true) or off (false): whether the user can log in.")
    nopass: bool = Field(False, description="ACL SETUSER nopass: any password is accepted.")
    passwords: list[Secret] | None = Field(
        None, description='The user\'s passwords (ACL SETUSER >password), read from the environment: '
        '["${APP_PASSWORD}"]. Never printed; Redis keeps only their SHA-256, which plan compares. Left out: the '
        "passwords are not managed; an empty list removes them all (resetpass).", json_schema_extra={"writeOnly": True})
    keys: list[str] = Field(default_factory=list, description='Key patterns: "~pattern" (read and write), '
                            '"%R~pattern" (read only), "%W~pattern" (write only), or "allkeys". None: no keys.')
    channels: list[str] = Field(default_factory=list, description='Pub/Sub channel patterns: "&pattern", or '
                                '"allchannels". None: no channels.')
    commands: str = Field("", description='Command rules in order, as ACL SETUSER takes them: "+@read -@dangerous '
                          '+xadd", "+@all -flushall", "+config|get". Compared by what they allow, not by their '
                          "text. None: no commands.")
    selectors: list[Selector] = Field(default_factory=list, description="Redis 7 selectors: further permissions, "
                                      "each with its own keys, channels and commands.")
    sanitize_payload: bool | None = Field(
        None, description="ACL SETUSER sanitize-payload (true) or skip-sanitize-payload (false): whether RESTORE "
        "payloads are checked; left out, the server's sanitize-dump-payload setting applies.")


class Redis(Spec):
    target: str | None = Field(None, description="A name under `targets`; none means the embedded local target.")
    streams: dict[str, Stream] = Field(default_factory=dict, description="Streams by key.")
    users: dict[str, User] = Field(default_factory=dict, description="ACL users by name (ACL SETUSER).")


class RedisTarget(RemoteTarget):
    kind: Literal["redis"] = Field(description="The broker kind this target serves.")
    url: str = Field(description="redis://[user:password@]host:port/db")
