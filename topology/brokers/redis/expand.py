"""The `redis:` section as primitive resources: streams (with their retry and dead-letter streams)
and their consumer groups."""

from __future__ import annotations

from typing import Any

from topology.brokers.redis.spec import Redis
from topology.core.problems import PathPart
from topology.core.units import format_duration
from topology.format.expand import Expansion

__all__ = ["expand_redis"]


def expand_redis(context: Expansion, section: Redis) -> None:
    target = section.target
    for key, stream in section.streams.items():
        path: tuple[PathPart, ...] = ("redis", "streams", key)
        address = f"redis/stream/{key}"
        attributes: dict[str, Any] = {}
        if stream.max_length is not None:
            attributes["max_length"] = stream.max_length
        groups = {name: group.start for name, group in stream.groups.items()}
        streams: list[tuple[str, dict[str, Any], dict[str, str], tuple[PathPart, ...], str | None]] = [
            (key, attributes, groups, path, None)]
        if stream.retry is not None:
            for index, delay in enumerate(stream.retry.delays):
                retry = context.name("redis_retry_stream", (*path, "retry"), stream=key, delay=format_duration(delay))
                streams.append((retry, {}, dict(groups), (*path, "retry", "delays", index), address))
        if stream.dead_letter:
            dlq = context.name("redis_dead_letter_stream", (*path, "dead_letter"), stream=key)
            streams.append((dlq, {}, {"dlq": "0"}, (*path, "dead_letter"), address))
        for stream_key, stream_attributes, stream_groups, stream_path, generated_by in streams:
            stream_address = f"redis/stream/{stream_key}"
            context.add("redis.stream", stream_address, target, stream_attributes, stream_path, name=stream_key,
                        protect=stream.protect and generated_by is None, generated_by=generated_by)
            for group, start in stream_groups.items():
                group_path = (*path, "groups", group) if generated_by is None else stream_path
                context.add("redis.group", f"redis/group/{stream_key}/{group}", target,
                            {"stream": stream_key, "start": start}, group_path, name=group, scope=stream_key,
                            depends_on=(stream_address,),
                            protect=stream.groups[group].protect if group in stream.groups and generated_by is None
                            else False, generated_by=generated_by)
