"""The Redis driver's health on the real Redis: stream length and each group's lag, pending entries, depth and
lag in time, produced with redis-py's own commands on entries whose ids carry times chosen in the past."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli import with_file
from tests.conftest import REDIS_URL
from topology.brokers.redis import health as redis_health
from topology.core.monitor import Reading
from topology.format.compile import compile_topology
from topology.monitor.read import Health, Reader

pytestmark = pytest.mark.redis

SLACK = 0.5  # seconds between Redis's clock (TIME) and this process's, and the read's own duration


def _health(folder: Path, body: str, url: str = REDIS_URL) -> Health:
    path = folder / "t.topology.yaml"
    path.write_text(f"version: 1\ntargets:\n  cache: {{kind: redis, url: \"{REDIS_URL}\"}}\nredis:\n  target: cache\n"
                    f"{body}")
    topology = compile_topology([str(path)])
    assert not topology.errors, topology.errors
    with Reader(topology, target_urls={"cache": url}, environ={}) as reader:
        return reader.read()


def _by_address(health: Health) -> dict[str, Reading]:
    assert not health.errors, health.errors
    return {reading.address: reading for reading in health.readings}


@pytest.fixture
def aged(redis_prefix: tuple[Any, str]) -> Iterator[tuple[Any, str, dict[str, float]]]:
    """A stream of five entries added 600, 500, 400, 300 and 200 seconds ago (ids chosen so), and the
    time (seconds since the epoch) each id carries."""
    client, prefix = redis_prefix
    stream = f"{prefix}orders"
    now_ms = int(time.time() * 1000)
    times: dict[str, float] = {}
    for age in (600, 500, 400, 300, 200):
        entry = f"{now_ms - age * 1000}-0"
        client.xadd(stream, {"age": age}, id=entry)
        times[entry] = (now_ms - age * 1000) / 1000
    yield client, stream, times


def _assert_lag_seconds(reading: Reading, added: float, read_after: float) -> None:
    """lag_seconds is the age of the entry added at `added`, measured between `read_after` and now."""
    measured = reading.metrics["lag_seconds"]
    assert read_after - added - SLACK <= measured <= time.time() - added + SLACK, (measured, added)


def test_length_lag_pending_depth_and_lag_in_time(tmp_path: Path, aged: tuple[Any, str, dict[str, float]]) -> None:
    client, stream, times = aged
    first, second, third, *_ = times
    client.xgroup_create(stream, "halfway", id="0")
    client.xgroup_create(stream, "idle", id="0")
    client.xgroup_create(stream, "done", id="0")
    assert [e for e, _ in client.xreadgroup("halfway", "w1", {stream: ">"}, count=2)[0][1]] == [first, second]
    assert client.xack(stream, "halfway", first) == 1  # `second` stays pending
    done = [e for e, _ in client.xreadgroup("done", "w1", {stream: ">"})[0][1]]
    assert client.xack(stream, "done", *done) == 5
    body = (f"  streams:\n    {stream}:\n      groups: {{halfway: {{start: '0'}}, idle: {{start: '0'}}, "
            "done: {start: '0'}, absent: {start: '0'}}\n")
    before = time.time()
    readings = _by_address(_health(tmp_path, body))

    assert readings[f"redis/stream/{stream}"].metrics == {"length": 5.0}
    halfway = readings[f"redis/group/{stream}/halfway"]
    assert {k: v for k, v in halfway.metrics.items() if k != "lag_seconds"} == {"lag": 3.0, "pending": 1.0,
                                                                                 "depth": 4.0}
    _assert_lag_seconds(halfway, times[third], before)  # the first entry not delivered: 400 s old
    idle = readings[f"redis/group/{stream}/idle"]
    assert (idle.metrics["lag"], idle.metrics["pending"], idle.metrics["depth"]) == (5.0, 0.0, 5.0)
    _assert_lag_seconds(idle, times[first], before)  # 600 s old
    assert readings[f"redis/group/{stream}/done"].metrics == {"lag": 0.0, "pending": 0.0, "depth": 0.0,
                                                              "lag_seconds": 0.0}
    absent = readings[f"redis/group/{stream}/absent"]
    assert absent.missing and not absent.metrics


def test_lag_is_counted_where_redis_cannot_tell_it_after_deletions(
        tmp_path: Path, aged: tuple[Any, str, dict[str, float]]) -> None:
    client, stream, times = aged
    _, second, third, *_ = times
    client.xgroup_create(stream, "billing", id="0")
    client.xreadgroup("billing", "w1", {stream: ">"}, count=1)  # `first` pending
    assert client.xdel(stream, third) == 1  # a tombstone after the group's position
    assert client.xinfo_groups(stream)[0]["lag"] is None  # what Redis 7 answers then
    body = f"  streams:\n    {stream}:\n      groups: {{billing: {{start: '0'}}}}\n"
    before = time.time()
    readings = _by_address(_health(tmp_path, body))

    billing = readings[f"redis/group/{stream}/billing"]
    assert (billing.metrics["lag"], billing.metrics["pending"], billing.metrics["depth"]) == (3.0, 1.0, 4.0)
    _assert_lag_seconds(billing, times[second], before)
    assert readings[f"redis/stream/{stream}"].metrics == {"length": 4.0}

    client.xreadgroup("billing", "w1", {stream: ">"})  # everything delivered: nothing waits
    readings = _by_address(_health(tmp_path, body))
    assert readings[f"redis/group/{stream}/billing"].metrics == {"lag": 0.0, "pending": 4.0, "depth": 4.0,
                                                                 "lag_seconds": 0.0}


def test_a_lag_past_the_count_limit_or_not_countable_is_left_out_with_a_note(
        tmp_path: Path, aged: tuple[Any, str, dict[str, float]], monkeypatch: pytest.MonkeyPatch) -> None:
    client, stream, times = aged
    first, _, third, *_ = times
    client.xgroup_create(stream, "billing", id="1-0")  # before every entry, yet not 0-0 (whose lag is XLEN)
    assert client.xdel(stream, third) == 1
    body = f"  streams:\n    {stream}:\n      groups: {{billing: {{start: '1-0'}}}}\n"
    monkeypatch.setattr(redis_health, "COUNT_LIMIT", 3)  # 4 entries wait: one more than it counts
    before = time.time()
    billing = _by_address(_health(tmp_path, body))[f"redis/group/{stream}/billing"]
    assert set(billing.metrics) == {"pending", "lag_seconds"} and "over 3 entries wait" in billing.notes[0]
    _assert_lag_seconds(billing, times[first], before)
    monkeypatch.setattr(redis_health, "COUNT_LIMIT", 4)  # exactly as many as wait: counted
    assert _by_address(_health(tmp_path, body))[f"redis/group/{stream}/billing"].metrics["lag"] == 4.0

    user, password = f"{stream}-watcher".replace(":", "-"), "watch-only-secret"
    client.acl_setuser(user, enabled=True, passwords=[f"+{password}"], keys=["*"],
                       commands=["+ping", "+time", "+xlen", "+xinfo", "+xrange", "-eval"])
    try:
        url = REDIS_URL.replace("redis://", f"redis://{user}:{password}@", 1)
        billing = _by_address(_health(tmp_path, body, url=url))[f"redis/group/{stream}/billing"]
    finally:
        client.acl_deluser(user)
    assert set(billing.metrics) == {"pending", "lag_seconds"} and "(EVAL)" in billing.notes[0]


def test_a_missing_stream_and_its_groups_are_missing(tmp_path: Path, redis_prefix: tuple[Any, str]) -> None:
    client, prefix = redis_prefix
    stream, other = f"{prefix}never-made", f"{prefix}a-string"
    client.set(other, "not a stream")
    body = f"  streams:\n    {stream}:\n      groups: {{billing: {{}}}}\n    {other}: {{}}\n"
    readings = _by_address(_health(tmp_path, body))
    assert readings[f"redis/stream/{stream}"].missing and readings[f"redis/group/{stream}/billing"].missing
    assert not readings[f"redis/stream/{stream}"].metrics
    wrong = readings[f"redis/stream/{other}"]
    assert not wrong.missing and not wrong.metrics and "other than a stream" in wrong.notes[0]


def test_a_dead_letter_streams_group_reports_depth_and_breaches_max_depth(tmp_path: Path,
                                                                        redis_prefix: tuple[Any, str]) -> None:
    client, prefix = redis_prefix
    stream = f"{prefix}orders"
    body = f"  streams:\n    {stream}:\n      dead_letter: true\n      groups: {{billing: {{}}}}\n"
    applied = with_file(tmp_path, f"version: 1\ntargets:\n  cache: {{kind: redis, url: \"{REDIS_URL}\"}}\n"
                                  f"redis:\n  target: cache\n{body}", "apply", "--auto-approve")
    assert applied.returncode == 0, applied.stderr
    dlq = f"redis/group/{stream}:dlq/dlq"

    health = _health(tmp_path, body)
    assert _by_address(health)[dlq].metrics["depth"] == 0.0
    row = next(r for r in health.rows() if r.watch.address == dlq)
    assert row.watch.role == "dead_letter" and row.state == "ok"

    client.xadd(f"{stream}:dlq", {"failed": "1"})
    client.xadd(f"{stream}:dlq", {"failed": "2"})
    client.xreadgroup("dlq", "inspector", {f"{stream}:dlq": ">"}, count=1)  # one looked at, not acknowledged
    health = _health(tmp_path, body)
    metrics = _by_address(health)[dlq].metrics
    assert (metrics["lag"], metrics["pending"], metrics["depth"]) == (1.0, 1.0, 2.0)
    row = next(r for r in health.rows() if r.watch.address == dlq)
    assert row.state == "breach" and [(b.limit, b.measured, b.value) for b in row.breaches] == [("max_depth", 2.0, 0)]


def test_a_target_that_is_down_is_reported_not_raised(tmp_path: Path, redis_prefix: tuple[Any, str]) -> None:
    _, prefix = redis_prefix
    body = f"  streams:\n    {prefix}orders:\n      groups: {{billing: {{}}}}\n"
    health = _health(tmp_path, body, url="redis://:hunter2@127.0.0.1:1/0")
    assert not health.readings
    error = health.errors["cache"]
    assert "Redis at 127.0.0.1:1 is not reachable" in error and "hunter2" not in error
    rows = health.rows()
    assert {r.watch.address for r in rows} == {f"redis/stream/{prefix}orders", f"redis/group/{prefix}orders/billing"}
    assert all(r.state == "error" and r.error == error for r in rows)


def test_a_group_that_never_read_lags_by_the_whole_stream_even_after_deletions(
        tmp_path: Path, redis_prefix: tuple[Any, str]) -> None:
    """From 0-0 every entry waits: the lag is XLEN exactly, however many entries were deleted and past the
    count limit (Redis itself answers a nil lag there)."""
    client, prefix = redis_prefix
    stream = f"{prefix}big"
    ids = [client.xadd(stream, {"n": n}) for n in range(5)]
    client.xgroup_create(stream, "fresh", id="0")
    client.xdel(stream, ids[1])
    assert client.xinfo_groups(stream)[0]["lag"] is None  # what Redis says, so the fallback is what is tested
    original = redis_health.COUNT_LIMIT
    redis_health.COUNT_LIMIT = 2  # fewer than wait: counting would give up, the length does not
    try:
        body = f"  streams:\n    {stream}:\n      groups: {{fresh: {{start: '0'}}}}\n"
        reading = _by_address(_health(tmp_path, body))[f"redis/group/{stream}/fresh"]
    finally:
        redis_health.COUNT_LIMIT = original
    assert reading.metrics["lag"] == 4 and reading.metrics["depth"] == 4 and not reading.notes


def test_ids_a_producer_chose_give_no_lag_in_time(tmp_path: Path, redis_prefix: tuple[Any, str]) -> None:
    client, prefix = redis_prefix
    stream = f"{prefix}numbered"
    for n in range(1, 4):
        client.xadd(stream, {"n": n}, id=f"{n}-0")
    client.xgroup_create(stream, "g", id="1-0")
    body = f"  streams:\n    {stream}:\n      groups: {{g: {{start: '1-0', monitor: {{max_lag_time: 1h}}}}}}\n"
    health = _health(tmp_path, body)
    reading = _by_address(health)[f"redis/group/{stream}/g"]
    assert reading.metrics["lag"] == 2 and "lag_seconds" not in reading.metrics
    assert "entry ids were chosen by its producer" in reading.notes[0]
    [row] = [r for r in health.rows() if r.watch.kind == "redis.group"]
    assert row.state == "unknown" and row.unknown == ("max_lag_time",)  # not a breach of 20,000 days


def test_entries_of_any_bytes_are_read(tmp_path: Path, redis_prefix: tuple[Any, str]) -> None:
    """Streams carry protobuf and msgpack bodies: the first waiting entry's fields are never decoded as text."""
    client, prefix = redis_prefix
    stream = f"{prefix}binary"
    added = client.xadd(stream, {"body": b"\xff\xfe\x00\x81"})
    client.xgroup_create(stream, "g", id="0")
    body = f"  streams:\n    {stream}:\n      groups: {{g: {{start: '0', monitor: {{max_lag_time: 1h}}}}}}\n"
    reading = _by_address(_health(tmp_path, body))[f"redis/group/{stream}/g"]
    assert reading.metrics["lag"] == 1 and 0 <= reading.metrics["lag_seconds"] <= time.time() - _millis(added) + SLACK


def _millis(entry_id: str) -> float:
    return int(entry_id.partition("-")[0]) / 1000
