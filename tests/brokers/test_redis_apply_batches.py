"""The Redis driver's batched commands (wire.exchange) on the real Redis: replies in order across chunks,
error replies in their place, a bad argument refused without desynchronising the connection; and one
apply wave whose changes each get their own result."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REDIS_URL
from topology.brokers.redis.wire import exchange, fields, pairs
from topology.engine.session import Engine

pytestmark = pytest.mark.redis


def test_replies_come_back_in_order_across_chunks_with_errors_in_their_place(redis_prefix: tuple[Any, str]) -> None:
    import redis

    client, prefix = redis_prefix
    commands = [("SET", f"{prefix}text", "v"), ("XINFO", "GROUPS", f"{prefix}text"), ("GET", f"{prefix}text")]
    commands += [("INCR", f"{prefix}n") for _ in range(7)]
    replies = exchange(client, commands, chunk=3)
    assert replies[0] is True or replies[0] == "OK"
    assert isinstance(replies[1], redis.ResponseError) and "WRONGTYPE" in str(replies[1])
    assert replies[2] == "v"
    assert replies[3:] == [1, 2, 3, 4, 5, 6, 7]
    assert exchange(client, []) == []


def test_an_argument_it_cannot_send_is_refused_and_the_connection_stays_usable(
        redis_prefix: tuple[Any, str]) -> None:
    import redis

    client, prefix = redis_prefix
    with pytest.raises(redis.DataError):
        exchange(client, [("SET", f"{prefix}a", "1"), ("SET", f"{prefix}b", None)])
    assert client.get(f"{prefix}a") is None  # nothing of the refused chunk was sent
    assert exchange(client, [("SET", f"{prefix}a", "2"), ("GET", f"{prefix}a")]) == ["OK", "2"]


def test_xinfo_replies_read_as_dicts(redis_prefix: tuple[Any, str]) -> None:
    client, prefix = redis_prefix
    client.xgroup_create(f"{prefix}s", "g", id="0", mkstream=True)
    [groups] = exchange(client, [("XINFO", "GROUPS", f"{prefix}s")])
    [group] = pairs(groups)
    assert group["name"] == "g" and group["pending"] == 0 and group["last-delivered-id"] == "0-0"
    assert fields({"name": "g", "pending": 1}) == {"name": "g", "pending": 1}  # a RESP3 map
    with pytest.raises(ValueError):
        fields(["name", "g", "pending"])


def test_each_change_of_a_wave_gets_its_own_result(tmp_path: Path, redis_prefix: tuple[Any, str]) -> None:
    """A key that became a string between plan and apply fails its own stream; the others are created,
    with their groups at their starts, and the next plan is empty but for the failed one."""
    client, prefix = redis_prefix
    names = [f"{prefix}s{i}" for i in range(50)]
    path = tmp_path / "redis.topology.yaml"
    path.write_text("\n".join(["version: 1", "targets:", f'  cache: {{kind: redis, url: "{REDIS_URL}"}}',
                               "redis:", "  target: cache", "  streams:",
                               *(f"    {n}: {{groups: {{a: {{}}, b: {{start: '0'}}}}}}" for n in names)]) + "\n")
    with Engine([str(path)], state=tmp_path / "s.json") as engine:
        plan = engine.plan()
        assert len(plan.changes) == 150
        client.set(names[7], "not a stream")
        report = engine.apply(plan)
    assert list(report.failed) == [f"redis/stream/{names[7]}"]
    assert "WRONGTYPE" in report.failed[f"redis/stream/{names[7]}"]
    assert sorted(report.not_attempted) == [f"redis/group/{names[7]}/a", f"redis/group/{names[7]}/b"]
    assert len(report.applied) == 147
    for name in names[:7] + names[8:]:
        assert {g["name"]: g["last-delivered-id"] for g in client.xinfo_groups(name)} == {"a": "0-0", "b": "0-0"}
    assert client.type(names[7]) == "string"
    client.delete(names[7])
    with Engine([str(path)], state=tmp_path / "s.json") as engine:
        again = engine.plan()
    assert sorted(c.address for c in again.changes) == sorted(
        [f"redis/stream/{names[7]}", f"redis/group/{names[7]}/a", f"redis/group/{names[7]}/b"])
