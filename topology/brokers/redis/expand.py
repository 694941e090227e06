"""The `redis:` section as primitive resources: streams (with their retry and dead-letter streams),
their consumer groups, and ACL users."""

from __future__ import annotations

from typing import Any

from topology.brokers.redis.acl import channel_patterns, command_rules, key_patterns, rule_problem
from topology.brokers.redis.spec import Redis, Selector, StreamGroup, User
from topology.core.problems import PathPart
from topology.core.units import format_duration
from topology.format.expand import Expansion

__all__ = ["expand_redis"]


def expand_redis(context: Expansion, section: Redis) -> None:
    _expand_streams(context, section)
    for name, user in section.users.items():
        _expand_user(context, section.target, name, user)


def _group_attributes(stream: str, group: StreamGroup | str) -> dict[str, Any]:
    if isinstance(group, str):
        return {"stream": stream, "start": group}
    attributes: dict[str, Any] = {"stream": stream, "start": group.start}
    if group.entries_read is not None:
        attributes["entries_read"] = group.entries_read
    return attributes


def _expand_streams(context: Expansion, section: Redis) -> None:
    target = section.target
    for key, stream in section.streams.items():
        path: tuple[PathPart, ...] = ("redis", "streams", key)
        address = f"redis/stream/{key}"
        attributes: dict[str, Any] = {}
        if stream.max_length is not None:
            attributes["max_length"] = stream.max_length
        groups: dict[str, StreamGroup | str] = dict(stream.groups)
        streams: list[tuple[str, dict[str, Any], dict[str, StreamGroup | str], tuple[PathPart, ...], str | None]] = [
            (key, attributes, groups, path, None)]
        if stream.retry is not None:
            # a retry stream's groups start where the same groups of a new stream would: "$" unless said
            retried = {name: group.start for name, group in stream.groups.items()}
            for index, delay in enumerate(stream.retry.delays):
                retry = context.name("redis_retry_stream", (*path, "retry"), stream=key, delay=format_duration(delay))
                streams.append((retry, {}, dict(retried), (*path, "retry", "delays", index), address))
        dead_letter = None
        if stream.dead_letter:
            dead_letter = dlq = context.name("redis_dead_letter_stream", (*path, "dead_letter"), stream=key)
            streams.append((dlq, {}, {"dlq": "0"}, (*path, "dead_letter"), address))
        for stream_key, stream_attributes, stream_groups, stream_path, generated_by in streams:
            stream_address = f"redis/stream/{stream_key}"
            context.add("redis.stream", stream_address, target, stream_attributes, stream_path, name=stream_key,
                        protect=stream.protect and generated_by is None, generated_by=generated_by, role="stream",
                        monitor=stream.monitor if generated_by is None else None)
            role = "group" if generated_by is None else "dead_letter" if stream_key == dead_letter else "retry"
            for group, spec in stream_groups.items():
                group_path = (*path, "groups", group) if generated_by is None else stream_path
                context.add("redis.group", f"redis/group/{stream_key}/{group}", target,
                            _group_attributes(stream_key, spec), group_path, name=group, scope=stream_key,
                            depends_on=(stream_address,),
                            protect=stream.groups[group].protect if group in stream.groups and generated_by is None
                            else False, generated_by=generated_by, role=role,
                            monitor=stream.groups[group].monitor if group in stream.groups and generated_by is None
                            else None)


def _checked(context: Expansion, kind: str, tokens: list[str], path: tuple[PathPart, ...]) -> None:
    """A located problem for each rule ACL SETUSER would refuse."""
    after_all = False
    for index, token in enumerate(tokens):
        problem = rule_problem(kind, token, after_all)
        if problem is not None:
            context.problem(problem, (*path, index) if kind != "commands" else path,
                            {"keys": 'write "~pattern", "%R~pattern", "%W~pattern" or "allkeys"',
                             "channels": 'write "&pattern" or "allchannels"',
                             "commands": 'write rules such as "+@read -@dangerous +xadd" or "+config|get"'}[kind])
        after_all = after_all or token in ("allkeys", "~*", "allchannels", "&*")


def _permissions(context: Expansion, holder: User | Selector, path: tuple[PathPart, ...]) -> dict[str, Any]:
    """Keys, channels and commands, checked and in the words Redis describes them with."""
    _checked(context, "keys", holder.keys, (*path, "keys"))
    _checked(context, "channels", holder.channels, (*path, "channels"))
    _checked(context, "commands", holder.commands.split(), (*path, "commands"))
    return {"keys": key_patterns(holder.keys), "channels": channel_patterns(holder.channels),
            "commands": command_rules(holder.commands)}


# ACL SETUSER refuses a user name holding one of these (acl.c ACLStringHasSpaces: C's isspace, and NUL); it
# takes any other character, a no-break space or a line separator included, and the empty name.
_REFUSED_IN_NAMES = frozenset(" \t\n\v\f\r\0")


def _expand_user(context: Expansion, target: str | None, name: str, user: User) -> None:
    path: tuple[PathPart, ...] = ("redis", "users", name)
    if any(c in _REFUSED_IN_NAMES for c in name):
        context.problem(f"{name!r} cannot be a Redis user name: ACL SETUSER refuses spaces and NUL", path,
                        "use a name without spaces")
    if user.nopass and user.passwords:
        context.problem("`nopass` and `passwords` together: Redis removes the passwords of a nopass user",
                        (*path, "nopass"), "keep one of them")
    attributes: dict[str, Any] = {"enabled": user.enabled, "nopass": user.nopass, **_permissions(context, user, path),
                                  "selectors": [_permissions(context, s, (*path, "selectors", i))
                                                for i, s in enumerate(user.selectors)]}
    if user.passwords is not None:  # how many, never what: Redis keeps each distinct password once
        attributes["passwords"] = len({p.reveal() for p in user.passwords})
    if user.sanitize_payload is not None:
        attributes["sanitize_payload"] = user.sanitize_payload
    secrets = {f"passwords[{index}]": password for index, password in enumerate(user.passwords or [])}
    context.add("redis.user", f"redis/user/{name}", target, attributes, path, name=name, protect=user.protect,
                secrets=secrets)
