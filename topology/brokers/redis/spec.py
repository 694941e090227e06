"""The `redis:` section: streams and their consumer groups."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from topology.format.common import Protectable, RemoteTarget, Retry, Spec

__all__ = ["Redis", "RedisTarget", "Stream", "StreamGroup"]


class StreamGroup(Spec):
    start: str = Field("$", description='"$" new entries only, "0" from the beginning, or an entry id.')
    protect: bool = Field(False, description="Never delete this group.")


class Stream(Protectable):
    max_length: int | None = Field(
        None, ge=1, description="Approximate cap (XTRIM MAXLEN ~), applied only with --allow-data-loss.")
    groups: dict[str, StreamGroup] = Field(default_factory=dict, description="Consumer groups by name.")
    dead_letter: bool = Field(False, description="A dead-letter stream `<key>:dlq` with group `dlq`.")
    retry: Retry | None = Field(None, description="Retry streams, one per delay, with the same groups.")


class Redis(Spec):
    target: str | None = Field(None, description="A name under `targets`; none means the embedded local target.")
    streams: dict[str, Stream] = Field(default_factory=dict, description="Streams by key.")


class RedisTarget(RemoteTarget):
    kind: Literal["redis"] = Field(description="The broker kind this target serves.")
    url: str = Field(description="redis://[:password@]host:port/db")

