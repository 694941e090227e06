"""ACL command rules compared by what they allow, checked against the real Redis: for any rule list
Redis takes, what topology works out that it allows is what Redis's own description of the result
(ACL GETUSER) allows; a rule list Redis refuses is one topology cannot work out either; and two rule
lists Redis describes differently allow different things."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import REDIS_URL
from topology.brokers.redis.acl import CommandTable, channel_patterns, key_patterns

pytestmark = pytest.mark.redis


@pytest.fixture(scope="module")
def redis_client() -> Iterator[Any]:
    import redis

    client = redis.Redis.from_url(REDIS_URL, decode_responses=True, socket_timeout=10)
    yield client
    client.close()


@pytest.fixture(scope="module")
def table(redis_client: Any) -> CommandTable:
    return CommandTable.from_reply(redis_client.command())


@pytest.fixture(scope="module")
def user(redis_client: Any) -> Iterator[str]:
    name = f"test-acl-{uuid.uuid4().hex[:10]}"
    yield name
    redis_client.acl_deluser(name)


_CATEGORIES = ["all", "read", "write", "keyspace", "string", "list", "set", "sortedset", "hash", "stream", "pubsub",
               "admin", "fast", "slow", "blocking", "dangerous", "connection", "transaction", "scripting", "geo",
               "bitmap", "hyperloglog", "nosuchcategory"]
_COMMANDS = ["get", "set", "xadd", "xreadgroup", "keys", "flushall", "config", "config|get", "config|set", "client",
             "client|id", "client|kill", "acl|whoami", "acl", "select", "select|0", "debug", "debug|object", "info",
             "sort", "sort_ro", "eval", "nosuchcommand", "config|nosuch"]
_RULE = (st.tuples(st.sampled_from("+-"), st.sampled_from(_CATEGORIES)).map(lambda t: f"{t[0]}@{t[1]}")
         | st.tuples(st.sampled_from("+-"), st.sampled_from(_COMMANDS)).map("".join)
         | st.sampled_from(["allcommands", "nocommands"]))


def _described(client: Any, user: str, rules: list[str]) -> str | None:
    """Redis's description of what `rules` allow (from nothing), or None if it refuses them."""
    import redis

    try:
        client.execute_command("ACL", "SETUSER", user, "reset", *rules)
    except redis.ResponseError:
        return None
    return str(client.execute_command("ACL", "GETUSER", user)["commands"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rules=st.lists(_RULE, max_size=7))
def test_what_rules_allow_is_what_redis_describes(redis_client: Any, table: CommandTable, user: str,
                                                  rules: list[str]) -> None:
    described = _described(redis_client, user, rules)
    worked_out = table.allows(" ".join(rules))
    if described is None:
        assert worked_out is None, f"Redis refuses {rules} but topology reads them"
        return
    assert worked_out is not None, f"Redis takes {rules} but topology cannot read them"
    assert worked_out == table.allows(described), (rules, described)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=st.lists(_RULE, max_size=4), second=st.lists(_RULE, max_size=4))
def test_rules_redis_describes_differently_allow_different_things(redis_client: Any, table: CommandTable, user: str,
                                                                  first: list[str], second: list[str]) -> None:
    one, other = _described(redis_client, user, first), _described(redis_client, user, second)
    if one is None or other is None:
        return
    if one == other:
        assert table.allows(one) == table.allows(other)
        return
    if table.allows(one) == table.allows(other):
        # Redis's description is not canonical ("+@all -@slow -@fast" allows what "-@all" does): Redis
        # itself must then allow the same commands under both
        assert _runnable(redis_client, user, first) == _runnable(redis_client, user, second), (one, other)


def _runnable(client: Any, user: str, rules: list[str]) -> frozenset[str]:
    """Every command and subcommand the server has (with placeholder arguments) that ACL DRYRUN lets a
    user with `rules` (and every key and channel) run."""
    client.execute_command("ACL", "SETUSER", user, "reset", "on", "~*", "&*", *rules)
    calls: list[list[str]] = []
    for name, info in client.command().items():
        subcommands = info.get("subcommands") or []
        calls += [[*str(sub[0]).lower().split("|"), *["x"] * max(0, abs(int(sub[1])) - 2)] for sub in subcommands]
        if not subcommands:
            calls.append([name, *["x"] * max(0, abs(int(info["arity"])) - 1)])
    allowed = set()
    for call in calls:
        answer = client.execute_command("ACL", "DRYRUN", user, *call)
        if answer == "OK":
            allowed.add("|".join(call[:2] if len(call) > 1 and call[1] != "x" else call[:1]))
    return frozenset(allowed)


def test_patterns_are_what_redis_keeps(redis_client: Any, user: str) -> None:
    written = ["%RW~a", "~a", "%R~b", "%W~b", "%R~c", "~d*"]
    redis_client.execute_command("ACL", "SETUSER", user, "reset", *written, "&x", "&x", "&y")
    live = redis_client.execute_command("ACL", "GETUSER", user)
    assert key_patterns(written) == sorted(live["keys"].split()) == ["%R~c", "~a", "~b", "~d*"]
    assert channel_patterns(["&x", "&x", "&y"]) == sorted(live["channels"].split())
    assert key_patterns(["~a", "allkeys"]) == ["~*"] and channel_patterns(["&a", "allchannels"]) == ["&*"]


def test_pattern_rules_are_what_acl_setuser_takes(redis_client: Any, user: str) -> None:
    """A pattern with any character but an ASCII space or NUL, and permission letters in any case, are
    taken by ACL SETUSER; validate says so for the same tokens."""
    import redis

    from topology.brokers.redis.acl import rule_problem

    for kind, token in (("keys", "%r~a"), ("keys", "%wR~b"), ("keys", "~n\u00a0b"), ("keys", "~q\"'\\"),
                        ("channels", "&c\u2028d"), ("keys", "~a b"), ("keys", "%RR~a"), ("channels", "&a\tb"),
                        ("keys", "%R~a\x00b"), ("channels", "c")):
        try:
            redis_client.execute_command("ACL", "SETUSER", user, "reset", token)
            taken = True
        except redis.ResponseError:
            taken = False
        assert (rule_problem(kind, token, after_all=False) is None) == taken, (kind, token)
