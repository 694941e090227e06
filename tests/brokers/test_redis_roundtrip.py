"""Adopting a real Redis, as a property: whatever streams, groups and ACL users redis-py makes (unicode
names, trimmed streams, deleted entries, groups at "$", at 0, at an entry id, consumers that read some
entries and acknowledged some of those, users with passwords, key, channel and command rules and
selectors), `topology export` of that part writes a file that validates, plans empty against the same
Redis, and applied with another prefix to streams holding the same entries makes groups that deliver
the same entries next (same last-delivered-id, entries-read and lag) and the same users (ACL GETUSER).
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import REDIS_URL

pytestmark = pytest.mark.redis

# Names and texts as real ones are: any letters, digits, punctuation and symbols, `$`, `{`, `#` and `/`
# included (`$` is what a topology file reads as a variable), but no spaces nor control characters
# (ACL SETUSER refuses spaces in user names and patterns); and, often, what a file reads as a variable or a
# template (`${`, `$$`, `{{`, `{%`, `{#`).
_TEXT = st.text(st.characters(whitelist_categories=("L", "N", "P", "S")), min_size=1, max_size=8) | st.sampled_from(
    ["{{x}}", "{#", "a{%b", "{{{", "${HOME}", "$$", "}}"])

# Rules that exist on every Redis 7: categories, commands, a subcommand, a first argument.
_COMMAND_RULES = st.lists(st.sampled_from([
    "+@read", "-@read", "+@write", "+@stream", "-@dangerous", "+@admin", "-@admin", "+@pubsub", "+@all", "-@all",
    "+@keyspace", "-@keyspace", "+@fast", "+@connection", "+get", "-get", "+xadd", "+xreadgroup", "-flushall",
    "+config|get", "-config|set", "+client|id", "+select|0", "allcommands", "+keys", "-keys"]), max_size=5)


@dataclass
class Group:
    name: str
    start: str  # "$", "0", or "entry:<n>" (the id of the n-th entry)
    reads: list[tuple[str, int, int]]  # (consumer, entries read, of which acknowledged)


@dataclass
class StreamCase:
    key: str
    entries: list[dict[str, str]]
    maxlen: int | None  # each XADD trims to this many entries (MAXLEN =)
    deleted: list[int]  # XDEL of these entries (by position), leaving tombstones
    groups: list[Group]
    later: int  # entries added after the groups were made


@dataclass
class UserCase:
    name: str
    enabled: bool
    nopass: bool
    passwords: list[str]
    keys: list[str]
    channels: list[str]
    commands: list[str]
    selectors: list[tuple[list[str], list[str], list[str]]]
    sanitize: bool | None

    def rules(self, prefix: str) -> list[str]:
        rules = ["on" if self.enabled else "off", *(["nopass"] if self.nopass else [f">{p}" for p in self.passwords])]
        rules += [f"~{prefix}{k}" if not k.startswith("%") else k.replace("PREFIX", prefix) for k in self.keys]
        rules += [f"&{c}" for c in self.channels] + self.commands
        rules += ["(" + " ".join([*(f"~{prefix}{k}" for k in keys), *(f"&{c}" for c in channels), *commands]) + ")"
                  for keys, channels, commands in self.selectors]
        if self.sanitize is not None:
            rules.append("sanitize-payload" if self.sanitize else "skip-sanitize-payload")
        return rules


@dataclass
class Case:
    streams: list[StreamCase] = field(default_factory=list)
    users: list[UserCase] = field(default_factory=list)


@st.composite
def _groups(draw: st.DrawFn, entries: int) -> list[Group]:
    names = draw(st.lists(_TEXT, max_size=3, unique=True))
    starts = ["$", "0", "1-0"] + [f"entry:{n}" for n in range(entries)]
    groups = []
    for name in names:
        reads = draw(st.lists(st.tuples(_TEXT, st.integers(0, 3), st.integers(0, 3)), max_size=2,
                              unique_by=lambda r: r[0]))
        groups.append(Group(name, draw(st.sampled_from(starts)), [(c, n, min(a, n)) for c, n, a in reads]))
    return groups


@st.composite
def _stream(draw: st.DrawFn) -> StreamCase:
    entries = draw(st.lists(st.dictionaries(_TEXT, _TEXT, min_size=1, max_size=2), max_size=6))
    return StreamCase(key=draw(_TEXT), entries=entries, maxlen=draw(st.none() | st.integers(0, 4)),
                      deleted=draw(st.lists(st.integers(0, 5), max_size=2, unique=True)),
                      groups=draw(_groups(len(entries))), later=draw(st.integers(0, 2)))


_PATTERN = st.text(st.characters(whitelist_categories=("L", "N"), whitelist_characters="*?:-_"), max_size=6)


# Any text, ended by a mark no other exported text holds, so that finding it in an export means a password
# was exported (a password `true` or `redis` is also a word any export holds).
_PASSWORD = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=12).map(lambda p: p + "\u2603pw")


@st.composite
def _user(draw: st.DrawFn) -> UserCase:
    mode = draw(st.sampled_from(["nopass", "passwords", "none"]))
    keys = draw(st.lists(_PATTERN, max_size=3))
    keys += [f"%{flags}~PREFIX{draw(_PATTERN)}" for flags in draw(st.lists(st.sampled_from(["R", "W", "RW"]),
                                                                            max_size=2))]
    selectors = draw(st.lists(st.tuples(st.lists(_PATTERN, max_size=2), st.lists(_PATTERN, max_size=1),
                                        _COMMAND_RULES), max_size=2))
    return UserCase(name=draw(_TEXT), enabled=draw(st.booleans()), nopass=mode == "nopass",
                    passwords=draw(st.lists(_PASSWORD, min_size=1, max_size=2)) if mode == "passwords" else [],
                    keys=keys, channels=draw(st.lists(_PATTERN, max_size=2)), commands=draw(_COMMAND_RULES),
                    selectors=selectors, sanitize=draw(st.none() | st.booleans()))


_CASES = st.builds(Case, st.lists(_stream(), min_size=1, max_size=3, unique_by=lambda s: s.key),
                   st.lists(_user(), max_size=2, unique_by=lambda u: u.name))


# ------------------------------------------------------------------------------------ making it


def _make(client: Any, prefix: str, case: Case) -> None:
    """The case, made through redis-py (not topology), under `prefix`."""
    for stream in case.streams:
        key = prefix + stream.key
        ids = [client.xadd(key, entry, maxlen=stream.maxlen, approximate=False) for entry in stream.entries]
        if not ids:
            client.xgroup_create(key, "made-empty", id="$", mkstream=True)
            client.xgroup_destroy(key, "made-empty")
        for position in stream.deleted:
            if position < len(ids):
                client.xdel(key, ids[position])
        for group in stream.groups:
            start = ids[int(group.start[6:])] if group.start.startswith("entry:") else group.start
            client.xgroup_create(key, group.name, id=start)
        for n in range(stream.later):
            client.xadd(key, {"later": str(n)}, maxlen=stream.maxlen, approximate=False)
        for group in stream.groups:
            for consumer, count, acknowledged in group.reads:
                read = client.xreadgroup(group.name, consumer, {key: ">"}, count=count) if count else []
                delivered = [entry_id for _key, entries in read for entry_id, _ in entries]
                if delivered[:acknowledged]:
                    client.xack(key, group.name, *delivered[:acknowledged])
    for user in case.users:
        client.execute_command("ACL", "SETUSER", prefix + user.name, *user.rules(prefix))


def _copy_entries(client: Any, source: str, copy: str) -> None:
    """`copy` made a stream holding `source`'s entries, ids and history (entries added, the highest deleted id)."""
    client.xgroup_create(copy, "made-empty", id="$", mkstream=True)
    client.xgroup_destroy(copy, "made-empty")
    for entry_id, fields in client.xrange(source):
        client.xadd(copy, fields, id=entry_id)
    info = client.xinfo_stream(source)
    client.execute_command("XSETID", copy, info["last-generated-id"], "ENTRIESADDED", info["entries-added"],
                           "MAXDELETEDID", info["max-deleted-entry-id"])


# -------------------------------------------------------------------------------- comparing it


def _groups_of(client: Any, key: str) -> dict[str, tuple[Any, ...]]:
    return {g["name"]: (g["last-delivered-id"], g["entries-read"], g["lag"]) for g in client.xinfo_groups(key)}


def _next_entries(client: Any, key: str, group: str) -> list[Any]:
    """What the group delivers next, to a consumer of its own (read to the end)."""
    read = client.xreadgroup(group, f"roundtrip-{uuid.uuid4().hex[:6]}", {key: ">"})
    return [entries for _key, entries in read]


def _user_of(client: Any, name: str, prefix: str) -> dict[str, Any]:
    """ACL GETUSER, with the prefix written as PREFIX and patterns in any order (Redis keeps them as given)."""
    reply = client.execute_command("ACL", "GETUSER", name)
    fields = reply if isinstance(reply, dict) else dict(zip(reply[::2], reply[1::2], strict=True))

    def patterns(text: str) -> list[str]:
        return sorted(text.replace(prefix, "PREFIX").split())

    return {"flags": sorted(fields["flags"]), "passwords": sorted(fields["passwords"]),
            "keys": patterns(fields["keys"]), "channels": patterns(fields["channels"]),
            "commands": fields["commands"],
            "selectors": sorted((s["commands"], patterns(s["keys"]), patterns(s["channels"]))
                                for s in fields["selectors"])}


# ---------------------------------------------------------------------------------------- test


@pytest.fixture
def redis_client() -> Iterator[Any]:
    import redis

    client = redis.Redis.from_url(REDIS_URL, decode_responses=True, socket_timeout=10)
    yield client
    client.close()


def _cleanup(client: Any, *prefixes: str) -> None:
    for prefix in prefixes:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
        users = [u for u in client.acl_users() if u.startswith(prefix)]
        if users:
            client.acl_deluser(*users)


def _password_variables(exported: dict[str, Any], case: Case, prefix: str) -> dict[str, str]:
    """The exported `${VAR}` placeholders, set to the passwords redis-py gave each user."""
    environment = {}
    users = (exported["redis"].get("users") or {})
    for user in case.users:
        written = re.sub(r"\$(?=[${])", "$$", prefix + user.name)  # as `${VAR}` substitution reads it back
        placeholders = users[written].get("passwords", [])
        distinct = list(dict.fromkeys(user.passwords))
        assert len(placeholders) == len(distinct)
        for placeholder, password in zip(placeholders, distinct, strict=True):
            environment[re.fullmatch(r"\$\{(\w+)\}", placeholder)[1]] = password  # type: ignore[index]
    return environment


def _export(prefix: str) -> str:
    """`topology export --target cache=URL --include 'redis/*/PREFIX*'`, in this process (the command line
    itself is tested by test_redis_driver.py; here each example must stay fast)."""
    from topology.engine.export import export_text

    return export_text(f"cache={REDIS_URL}", [], state=None, format="yaml", kind=None, include=[f"redis/*/{prefix}*"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(case=_CASES)
def test_export_plans_empty_and_recreates_the_same(tmp_path: Path, redis_client: Any, case: Case) -> None:
    import topology

    client = redis_client
    run = uuid.uuid4().hex[:10]
    old, new = f"rt-{run}-a:", f"rt-{run}-b:"
    folder = tmp_path / run
    folder.mkdir()
    try:
        _make(client, old, case)
        exported = _export(old)
        assert not any(p in exported for user in case.users for p in user.passwords), \
            "a password was exported"
        environ = {**os.environ, "TOPOLOGY_TARGET_CACHE": REDIS_URL,
                   **_password_variables(yaml.safe_load(exported.replace("{{ '{' }}", "{")), case, old)}
        path = folder / "old.topology.yaml"
        path.write_text(exported)
        topology.load(path, environ=environ)  # validate: raises ProblemsError on any problem
        plan = topology.plan(path, environ=environ)
        assert plan.is_empty, [c.address for c in plan.changes]

        for stream in case.streams:
            _copy_entries(client, old + stream.key, new + stream.key)
        copy = folder / "new.topology.yaml"
        copy.write_text(exported.replace(old, new))
        report = topology.apply(copy, environ=environ)
        assert report.ok, report
        again = topology.plan(copy, environ=environ)
        assert again.is_empty, [c.address for c in again.changes]

        for stream in case.streams:
            before, after = old + stream.key, new + stream.key
            assert _groups_of(client, after) == _groups_of(client, before)
            for group in stream.groups:
                assert _next_entries(client, after, group.name) == _next_entries(client, before, group.name)
        for user in case.users:
            assert _user_of(client, new + user.name, new) == _user_of(client, old + user.name, old)
    finally:
        _cleanup(client, old, new)
