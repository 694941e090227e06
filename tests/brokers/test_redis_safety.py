"""The Redis driver keeps its promises on the real Redis: saved plans re-check emptiness atomically,
two applies never run at once, passwords never show, and unreachable endpoints fail in bounded time.

The lock tests use their own database (LOCK_DB) so that holding the lock never blocks another
test's apply on database 0.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import pytest

from tests.cli import topology, with_file
from tests.conftest import REDIS_URL, unique
from tests.faults import SilentServer, full_backlog
from topology.brokers.base import Selection
from topology.brokers.redis.driver import LOCK_KEY, RedisDriver
from topology.core.secrets import parse_url
from topology.engine.plan import Change
from topology.errors import LockedError

pytestmark = pytest.mark.redis

_PARTS = urlsplit(REDIS_URL)
HOST_PORT = f"{_PARTS.hostname}:{_PARTS.port}"
LOCK_DB_URL = urlunsplit(_PARTS._replace(path="/13"))


def _document(url: str, body: str, extra: str = "") -> str:
    return f"""version: 1
targets:
  cache: {{kind: redis, url: "{url}"{extra}}}
redis:
  target: cache
{body}"""


def _run(folder: Path, body: str, *args: str, url: str = REDIS_URL, extra: str = "",
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return with_file(folder, _document(url, body, extra), args[0], *args[1:], env=env)


def _one_sentence(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr, result.stderr
    return result.stderr


# ------------------------------------------------------------------------------------ saved plans


def test_saved_plan_refuses_to_delete_a_stream_that_filled(tmp_path: Path, redis_prefix: tuple[Any, str]) -> None:
    client, prefix = redis_prefix
    full, empty = f"{prefix}orders", f"{prefix}emails"
    kept = f"  streams:\n    {prefix}kept: {{}}\n"  # a target with nothing declared is not opened
    declared = f"{kept}    {full}: {{}}\n    {empty}: {{}}\n"
    assert _run(tmp_path, declared, "apply", "--auto-approve").returncode == 0
    pruned = f"{kept}manage: {{prune: true, include: ['redis/stream/{prefix}*']}}\n"
    saved = tmp_path / "prune.plan.json"
    assert _run(tmp_path, pruned, "plan", "--out", str(saved)).returncode == 0
    for index in range(25):  # after the plan, before the apply
        client.xadd(full, {"n": index})

    applied = topology("apply", str(saved), "--auto-approve", "--allow-delete", cwd=tmp_path)

    assert applied.returncode == 1
    assert (f"redis/stream/{full}: FAILED: refused to delete it: it was empty when planned but now holds 25 entries; "
            "nothing was changed") in applied.stdout + applied.stderr
    assert client.xlen(full) == 25  # not one entry lost
    assert client.exists(empty) == 0  # the one still empty was deleted


def test_saved_plan_refuses_to_destroy_a_group_that_got_pending_entries(tmp_path: Path,
                                                                        redis_prefix: tuple[Any, str]) -> None:
    client, prefix = redis_prefix
    stream = f"{prefix}jobs"
    body = f"  streams:\n    {stream}: {{groups: {{workers: {{start: '0'}}, spare: {{}}}}}}\n"
    assert _run(tmp_path, body, "apply", "--auto-approve").returncode == 0
    fewer = (f"  streams:\n    {stream}: {{groups: {{}}}}\n"
             f"manage: {{prune: true, include: ['redis/group/{stream}/*']}}\n")
    saved = tmp_path / "prune.plan.json"
    assert _run(tmp_path, fewer, "plan", "--out", str(saved)).returncode == 0
    for index in range(10):
        client.xadd(stream, {"job": index})
    client.xreadgroup("workers", "w1", {stream: ">"})  # delivered, not acknowledged: 10 pending entries

    applied = topology("apply", str(saved), "--auto-approve", "--allow-delete", cwd=tmp_path)

    assert applied.returncode == 1
    assert (f"redis/group/{stream}/workers: FAILED: refused to delete it: it was empty when planned but now holds "
            "10 pending entries") in applied.stdout + applied.stderr
    groups = {g["name"]: g["pending"] for g in client.xinfo_groups(stream)}
    assert groups == {"workers": 10}  # `spare` had nothing pending and went; `workers` kept all 10
    assert client.xlen(stream) == 10


def test_guarded_delete_reports_the_key_of_another_type(redis_prefix: tuple[Any, str]) -> None:
    client, prefix = redis_prefix
    key = f"{prefix}orders"
    client.set(key, "not a stream")
    change = Change(address=f"redis/stream/{key}", kind="redis.stream", target="cache", name=key, action="delete",
                    needs_empty=True)
    with RedisDriver(parse_url(REDIS_URL, what="url")) as driver:
        [result] = driver.apply([change], {})
    assert not result.ok and result.error is not None and "WRONGTYPE" in result.error
    assert client.get(key) == "not a stream"


# ------------------------------------------------------------------------------------------ lock


@pytest.fixture
def lock_db() -> Iterator[tuple[Any, str]]:
    """A client on LOCK_DB and a unique prefix; the prefix's keys, and a lock a test left, go after."""
    import redis

    client = redis.Redis.from_url(LOCK_DB_URL, decode_responses=True, socket_timeout=5)
    prefix = unique("test") + ":"
    yield client, prefix
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)
    if prefix in (client.get(LOCK_KEY) or ""):
        client.delete(LOCK_KEY)
    client.close()


_HOLDER = """
import sys
from topology.brokers.redis.driver import RedisDriver
from topology.core.secrets import parse_url
driver = RedisDriver(parse_url(sys.argv[1], what="url"), lock_lease=float(sys.argv[3]))
driver.lock(sys.argv[2], 0)
print("locked", flush=True)
sys.stdin.read()
"""


def _holder_process(holder: str, lease: float) -> subprocess.Popen[str]:
    """Another process that takes the lock with `lease` and holds it until its stdin closes."""
    process = subprocess.Popen([sys.executable, "-c", _HOLDER, LOCK_DB_URL, holder, str(lease)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline() == "locked\n"
    return process


def _driver(url: str = LOCK_DB_URL, **kwargs: Any) -> RedisDriver:
    return RedisDriver(parse_url(url, what="url"), **kwargs)


def test_second_apply_is_refused_naming_the_holder(tmp_path: Path, lock_db: tuple[Any, str]) -> None:
    client, prefix = lock_db
    body = f"  streams:\n    {prefix}orders: {{}}\n"
    holder = f"{prefix}ci@build-7 pid 4242 since 2026-01-01T00:00:00Z"
    with _driver() as first:
        first.lock(holder, 0)
        assert client.get(LOCK_KEY).startswith(holder + " #")
        refused = _run(tmp_path, body, "apply", "--auto-approve", url=LOCK_DB_URL)
        sentence = _one_sentence(refused)
        assert f"Redis at {HOST_PORT} is locked by {holder}" in sentence and "--lock-timeout" in sentence
        assert client.exists(f"{prefix}orders") == 0
        started = time.monotonic()
        waited = _run(tmp_path, body, "apply", "--auto-approve", "--lock-timeout", "2s", url=LOCK_DB_URL)
        assert f"is locked by {holder} after waiting 2 s" in _one_sentence(waited)
        assert time.monotonic() - started >= 2
    assert client.get(LOCK_KEY) is None  # released on close
    applied = _run(tmp_path, body, "apply", "--auto-approve", url=LOCK_DB_URL)
    assert applied.returncode == 0, applied.stderr
    assert client.type(f"{prefix}orders") == "stream"
    assert client.get(LOCK_KEY) is None  # the command line's apply released its lock too


def test_lease_is_renewed_while_held_and_runs_out_when_the_holder_stops(tmp_path: Path,
                                                                        lock_db: tuple[Any, str]) -> None:
    client, prefix = lock_db
    holder = f"{prefix}ops@elsewhere pid 77"
    process = _holder_process(holder, lease=1.5)
    try:
        with _driver() as second, pytest.raises(LockedError, match=f"is locked by {holder} after waiting 4 s"):
            second.lock(f"{prefix}second", 4)  # more than twice the lease: only renewals keep it held
        os.kill(process.pid, signal.SIGSTOP)  # alive (its connection open) but no longer renewing
        stopped = time.monotonic()
        body = f"  streams:\n    {prefix}orders: {{}}\n"
        applied = _run(tmp_path, body, "apply", "--auto-approve", "--lock-timeout", "60s", url=LOCK_DB_URL)
        waited = time.monotonic() - stopped
        assert applied.returncode == 0, applied.stderr
        assert client.type(f"{prefix}orders") == "stream"
        assert 0.5 < waited < 30, waited  # the lease (1.5 s from the last renewal), not the 60 s allowed
    finally:
        process.kill()
        process.wait(timeout=30)


def test_killed_holder_frees_the_lock_at_once(lock_db: tuple[Any, str]) -> None:
    client, prefix = lock_db
    holder = f"{prefix}ops@elsewhere pid 78"
    process = _holder_process(holder, lease=600)  # its lease alone would keep the lock for ten minutes
    process.kill()
    process.wait(timeout=30)
    assert client.get(LOCK_KEY).startswith(holder)
    started = time.monotonic()
    with _driver() as second:
        second.lock(f"{prefix}second", 20)  # Redis dropped the dead holder's connection: the lock is free
        assert time.monotonic() - started < 10
        assert client.get(LOCK_KEY).startswith(f"{prefix}second #")
        assert client.pttl(LOCK_KEY) > 0  # still a lease, should this process die too


def test_a_user_without_client_list_waits_for_a_killed_holder_s_lease(lock_db: tuple[Any, str]) -> None:
    client, prefix = lock_db
    user, password = unique("topology-user"), unique("pw")
    client.execute_command("ACL", "SETUSER", user, "on", ">" + password, "~*", "&*", "+@all", "-@admin")
    try:
        process = _holder_process(f"{prefix}ops@elsewhere pid 79", lease=2)
        process.kill()
        process.wait(timeout=30)
        killed = time.monotonic()
        restricted = urlunsplit(_PARTS._replace(netloc=f"{user}:{password}@{HOST_PORT}", path="/13"))
        with _driver(restricted) as second:
            second.lock(f"{prefix}second", 20)  # CLIENT LIST is refused (NOPERM): the lease decides
            assert client.get(LOCK_KEY).startswith(f"{prefix}second #")
        assert 0.5 < time.monotonic() - killed < 15
    finally:
        client.execute_command("ACL", "DELUSER", user)


def test_a_user_who_may_not_write_the_lock_key_is_told_which_key(tmp_path: Path, lock_db: tuple[Any, str]) -> None:
    client, prefix = lock_db
    user, password = unique("topology-user"), unique("pw")
    client.execute_command("ACL", "SETUSER", user, "on", ">" + password, f"~{prefix}*", "&*", "+@all")
    try:
        restricted = urlunsplit(_PARTS._replace(netloc=f"{user}:{password}@{HOST_PORT}", path="/13"))
        body = f"  streams:\n    {prefix}orders: {{}}\n"
        assert _run(tmp_path, body, "plan", url=restricted).returncode == 0  # reading needs no lock
        sentence = _one_sentence(_run(tmp_path, body, "apply", "--auto-approve", url=restricted))
        assert f"Redis at {HOST_PORT} denied the user while taking the apply lock" in sentence
        assert f"grant it access to the key {LOCK_KEY}" in sentence and password not in sentence
        assert client.exists(f"{prefix}orders") == 0
    finally:
        client.execute_command("ACL", "DELUSER", user)


def test_release_deletes_only_its_own_lock_and_a_lost_lock_stops_apply(lock_db: tuple[Any, str]) -> None:
    client, prefix = lock_db
    stream = f"{prefix}orders"
    with _driver(lock_lease=30) as first:
        first.lock(f"{prefix}first", 0)
        other = f"{prefix}other #1-abc"
        client.set(LOCK_KEY, other, px=30000)  # as if the lease ran out and another apply took it
        change = Change(address=f"redis/stream/{stream}", kind="redis.stream", target="cache", name=stream,
                        action="create", after={})
        [result] = first.apply([change], {})
        assert not result.ok and result.error is not None and "this apply lost its lock" in result.error
        assert client.exists(stream) == 0  # nothing written without the lock
    assert client.get(LOCK_KEY) == other  # close() left the other apply's lock alone


def test_lock_key_is_invisible_to_inspect_prune_and_export(tmp_path: Path, lock_db: tuple[Any, str]) -> None:
    client, prefix = lock_db
    client.xadd(f"{prefix}orders", {"n": 1})
    with _driver() as holder:
        holder.lock(f"{prefix}holder", 0)
        assert client.type(LOCK_KEY) == "string"
        with _driver() as reader:
            live = reader.inspect(Selection(frozenset(), prune=True, include=("*",)))
        assert f"redis/stream/{prefix}orders" in live
        assert not [address for address in live if LOCK_KEY in address]
        exported = tmp_path / "exported.topology.yaml"
        result = topology("export", "--target", "cache", "--to", str(exported),
                          env={"TOPOLOGY_TARGET_CACHE": LOCK_DB_URL}, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert f"{prefix}orders" in exported.read_text() and LOCK_KEY not in exported.read_text()
        pruned = _run(tmp_path, f"  streams:\n    {prefix}orders: {{}}\nmanage: {{prune: true, include: ['*']}}\n",
                      "plan", url=LOCK_DB_URL)
        assert pruned.returncode == 0, pruned.stderr
        assert LOCK_KEY not in pruned.stdout


# --------------------------------------------------------------------------------------- secrets


def test_unencoded_hash_in_the_password_is_refused_without_echoing_it(tmp_path: Path) -> None:
    url = f"redis://:Pa55#word@{HOST_PORT}/0"
    result = _run(tmp_path, "  streams:\n    orders: {}\n", "plan", url="${REDIS_URL}", env={"REDIS_URL": url})
    sentence = _one_sentence(result)
    assert "the url of target `cache`" in sentence and "`#` as %23" in sentence
    assert "Pa55" not in result.stdout + result.stderr and "word@" not in result.stdout + result.stderr


def test_a_password_with_every_reserved_character_works_end_to_end(tmp_path: Path,
                                                                    redis_prefix: tuple[Any, str]) -> None:
    client, prefix = redis_prefix
    password = "p:/?#[]@!$&'()*+,;=% \"\\~" + unique("x")
    user = unique("topology-user")
    client.execute_command("ACL", "SETUSER", user, "on", ">" + password, "~*", "&*", "+@all")
    forms = {password, quote(password), quote(password, safe="")}
    url = f"redis://{user}:{quote(password, safe='')}@{HOST_PORT}/0"
    env = {"CACHE_URL": url}
    body = f"  streams:\n    {prefix}orders: {{groups: {{billing: {{}}}}}}\n"
    outputs: list[str] = []
    try:
        def run(*args: str, wanted: int = 0) -> subprocess.CompletedProcess[str]:
            result = _run(tmp_path, body, *args, url="${CACHE_URL}", env=env)
            outputs.append(result.stdout + result.stderr)
            assert result.returncode == wanted, result.stdout + result.stderr
            return result

        saved = tmp_path / "first.plan.json"
        run("plan", "--out", str(saved))
        applied = topology("apply", str(saved), "--auto-approve", cwd=tmp_path, env=env)
        outputs.append(applied.stdout + applied.stderr + saved.read_text())
        assert applied.returncode == 0, applied.stderr
        assert [g["name"] for g in client.xinfo_groups(f"{prefix}orders")] == ["billing"]
        assert "No changes" in run("plan").stdout
        exported = tmp_path / "exported.topology.yaml"
        result = topology("export", "--target", "cache", "--to", str(exported),
                          env={"TOPOLOGY_TARGET_CACHE": url}, cwd=tmp_path)
        outputs.append(result.stdout + result.stderr + exported.read_text())
        assert result.returncode == 0, result.stderr
        client.delete(f"{prefix}orders")
        client.set(f"{prefix}orders", "a string")  # an error after connecting: named, without the password
        assert f"key '{prefix}orders' holds a string" in run("plan", wanted=1).stderr
        env["CACHE_URL"] = url.replace(f"{_PARTS.hostname}:{_PARTS.port}", "127.0.0.1:1")
        assert "Redis at 127.0.0.1:1 is not reachable" in run("plan", wanted=1).stderr
        env["CACHE_URL"] = f"redis://{user}:{quote(password[::-1], safe='')}@{HOST_PORT}/0"
        forms |= {password[::-1], quote(password[::-1]), quote(password[::-1], safe="")}
        assert "refused the user name or password" in run("plan", wanted=1).stderr
    finally:
        client.execute_command("ACL", "DELUSER", user)
    leaks = [form for form in forms for text in outputs if form in text]
    assert not leaks and len(outputs) == 7


# ---------------------------------------------------------------------------- bounded, one sentence


@pytest.fixture
def full_backlog_port() -> Iterator[int]:
    with full_backlog() as port:
        yield port


_TIMEOUTS = ", connect_timeout: 1s, timeout: 1s"


def _timed_plan(tmp_path: Path, url: str) -> tuple[str, float]:
    started = time.monotonic()
    result = _run(tmp_path, "  streams:\n    orders: {}\n", "plan", url=url, extra=_TIMEOUTS)
    return _one_sentence(result), time.monotonic() - started


def test_endpoint_that_accepts_and_never_answers(tmp_path: Path, silent_server: SilentServer) -> None:
    port = silent_server.port
    sentence, took = _timed_plan(tmp_path, f"redis://:hunter2@127.0.0.1:{port}/0")
    assert (f"Redis at 127.0.0.1:{port} accepted the connection but did not answer within 1 s while "
            f"connecting; check that 127.0.0.1:{port} is a Redis server") in sentence
    assert "raise the target's timeout" in sentence and "hunter2" not in sentence
    assert took < 10, took  # one read timeout, no retries


def test_tls_to_a_plain_port(tmp_path: Path) -> None:
    sentence, took = _timed_plan(tmp_path, f"rediss://{HOST_PORT}/0")
    assert f"Redis at {HOST_PORT} did not complete a TLS handshake within 1 s" in sentence
    assert "use redis:// instead of rediss://" in sentence
    assert took < 10, took


def test_endpoint_that_never_accepts(tmp_path: Path, full_backlog_port: int) -> None:
    sentence, took = _timed_plan(tmp_path, f"redis://127.0.0.1:{full_backlog_port}/0")
    assert f"Redis at 127.0.0.1:{full_backlog_port} did not accept a connection within 1 s" in sentence
    assert "raise the target's connect_timeout" in sentence
    assert took < 10, took


@pytest.mark.parametrize("set_by_hand, expected", [
    (lambda client: client.set(LOCK_KEY, "someone"), "has no expiry, so it was not set by an apply"),
    (lambda client: client.hset(LOCK_KEY, "a", "b"), "is reserved for topology's apply lock but holds a hash"),
])
def test_a_lock_key_set_by_hand_is_named_with_what_to_do(tmp_path: Path, lock_db: tuple[Any, str],
                                                         set_by_hand: Callable[[Any], Any], expected: str) -> None:
    client, prefix = lock_db
    set_by_hand(client)
    try:
        result = _run(tmp_path, f"  streams:\n    {prefix}s: {{}}\n", "apply", "--auto-approve", url=LOCK_DB_URL)
        sentence = _one_sentence(result)
        assert expected in sentence and LOCK_KEY in sentence
    finally:
        client.delete(LOCK_KEY)


@pytest.mark.parametrize("path", ["/abc", "/0?db=5", "/0?ssl_cert_reqs=x"])
def test_a_url_with_a_database_or_options_topology_does_not_read_is_refused(tmp_path: Path, path: str) -> None:
    url = urlunsplit(_PARTS._replace(path=path.partition("?")[0], query=path.partition("?")[2]))
    sentence = _one_sentence(_run(tmp_path, "  streams:\n    s: {}\n", "plan", url=url))
    assert "Redis at" in sentence and ("database number" in sentence or "query" in sentence)
