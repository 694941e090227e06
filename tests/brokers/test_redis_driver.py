"""The Redis driver on the real Redis: errors, start ids, pending entries, export, group positions, ACL users."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
import yaml

from tests.cli import topology, with_file
from tests.conftest import REDIS_URL

pytestmark = pytest.mark.redis


def _run(folder: Path, body: str, *args: str, url: str = REDIS_URL,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return with_file(folder, f"""version: 1
targets:
  cache: {{kind: redis, url: "{url}"}}
redis:
  target: cache
{body}""", args[0], *args[1:], env=env)


def test_start_id_is_used_only_at_creation(tmp_path: Path, redis_prefix: tuple[Any, str]) -> None:
    client, prefix = redis_prefix
    stream = f"{prefix}orders"
    client.xadd(stream, {"n": 1})
    client.xadd(stream, {"n": 2})
    body = f"  streams:\n    {stream}:\n      groups: {{from-start: {{start: '0'}}, new-only: {{start: '$'}}}}\n"
    assert _run(tmp_path, body, "apply", "--auto-approve").returncode == 0
    assert len(client.xreadgroup("from-start", "c", {stream: ">"})[0][1]) == 2
    assert client.xreadgroup("new-only", "c", {stream: ">"}) == []
    flipped = body.replace("start: '0'", "start: '$'")
    assert "No changes" in _run(tmp_path, flipped, "plan").stdout


def test_group_with_pending_entries_is_deleted_only_with_allow_data_loss(tmp_path: Path,
                                                                         redis_prefix: tuple[Any, str]) -> None:
    client, prefix = redis_prefix
    stream = f"{prefix}jobs"
    body = f"  streams:\n    {stream}:\n      groups: {{workers: {{start: '0'}}, spare: {{}}}}\n"
    assert _run(tmp_path, body, "apply", "--auto-approve").returncode == 0
    client.xadd(stream, {"job": 1})
    client.xreadgroup("workers", "w1", {stream: ">"})  # read, not acknowledged: pending
    fewer = body.replace("workers: {start: '0'}, ", "")
    fewer += f"manage: {{prune: true, include: ['redis/group/{stream}/*']}}\n"
    plan = _run(tmp_path, fewer, "plan")
    assert f"- redis/group/{stream}/workers" in plan.stdout and "loses data: 1 pending entry" in plan.stdout
    refused = _run(tmp_path, fewer, "apply", "--auto-approve", "--allow-delete")
    assert refused.returncode == 1 and "--allow-data-loss" in refused.stderr
    assert [g["name"] for g in client.xinfo_groups(stream)] == ["spare", "workers"]
    assert _run(tmp_path, fewer, "apply", "--auto-approve", "--allow-delete", "--allow-data-loss").returncode == 0
    assert [g["name"] for g in client.xinfo_groups(stream)] == ["spare"]


def test_dead_letter_and_retry_streams_exist_before_the_first_failure(tmp_path: Path,
                                                                      redis_prefix: tuple[Any, str]) -> None:
    client, prefix = redis_prefix
    stream = f"{prefix}orders"
    body = (f"  streams:\n    {stream}:\n      groups: {{billing: {{}}}}\n      dead_letter: true\n"
            "      retry: {delays: [5s]}\n")
    assert _run(tmp_path, body, "apply", "--auto-approve").returncode == 0
    assert client.type(f"{stream}:dlq") == "stream" and client.xlen(f"{stream}:dlq") == 0
    assert [g["name"] for g in client.xinfo_groups(f"{stream}:dlq")] == ["dlq"]
    assert [g["name"] for g in client.xinfo_groups(f"{stream}:retry:5s")] == ["billing"]


def test_errors_are_one_sentence(tmp_path: Path, redis_prefix: tuple[Any, str]) -> None:
    client, prefix = redis_prefix
    body = f"  streams:\n    {prefix}orders: {{}}\n"
    down = _run(tmp_path, body, "plan", url="redis://:hunter2@127.0.0.1:1/0")
    assert down.returncode == 1 and "Redis at 127.0.0.1:1 is not reachable (Connection refused)" in down.stderr
    assert "hunter2" not in down.stderr and len(down.stderr.strip().splitlines()) == 1

    user = f"{prefix}user".replace(":", "-")
    client.acl_setuser(user, enabled=True, passwords=["+right-password"], keys=["*"], commands=["+@all"])
    try:
        parts = urlsplit(REDIS_URL)
        wrong = _run(tmp_path, body, "plan", url=f"redis://{user}:wrong-password@{parts.hostname}:{parts.port}/0")
        assert wrong.returncode == 1 and "refused the user name or password" in wrong.stderr
        assert "wrong-password" not in wrong.stderr
    finally:
        client.acl_deluser(user)

    client.set(f"{prefix}orders", "not a stream")
    typed = _run(tmp_path, body, "plan")
    assert typed.returncode == 1
    assert f"key '{prefix}orders' holds a string, not a stream" in typed.stderr


def test_export_then_plan_gives_no_changes(tmp_path: Path, redis_prefix: tuple[Any, str]) -> None:
    _client, prefix = redis_prefix
    body = f"  streams:\n    {prefix}orders: {{groups: {{billing: {{}}, audit: {{start: '0'}}}}, dead_letter: true}}\n"
    assert _run(tmp_path, body, "apply", "--auto-approve").returncode == 0
    exported = tmp_path / "exported.topology.yaml"
    env = {"TOPOLOGY_TARGET_CACHE": REDIS_URL}
    result = topology("export", "--target", "cache", "--include", f"redis/*/{prefix}*", "--to", str(exported),
                      env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"{prefix}orders:dlq:" in exported.read_text()
    plan = topology("plan", str(exported), "--detailed-exitcode", env=env, cwd=tmp_path)
    assert plan.returncode == 0, plan.stdout + plan.stderr


def test_target_address_from_the_command_line_or_the_environment(tmp_path: Path,
                                                                  redis_prefix: tuple[Any, str]) -> None:
    _client, prefix = redis_prefix
    body = f"  streams:\n    {prefix}orders: {{}}\n"
    nowhere = "redis://127.0.0.1:1/0"
    assert _run(tmp_path, body, "plan", url=nowhere).returncode == 1
    by_flag = _run(tmp_path, body, "plan", "--target", f"cache={REDIS_URL}", url=nowhere)
    assert by_flag.returncode == 0 and f"+ redis/stream/{prefix}orders" in by_flag.stdout
    path = tmp_path / "t.topology.yaml"
    by_env = topology("plan", str(path), env={"TOPOLOGY_TARGET_CACHE": REDIS_URL})
    assert by_env.returncode == 0 and f"+ redis/stream/{prefix}orders" in by_env.stdout


# --------------------------------------------------------------------------- adoption: positions


def _export(tmp_path: Path, prefix: str) -> str:
    result = topology("export", "--target", "cache", "--include", f"redis/*/{prefix}*",
                      env={"TOPOLOGY_TARGET_CACHE": REDIS_URL}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_export_writes_each_group_where_it_is(tmp_path: Path, redis_prefix: tuple[Any, str]) -> None:
    """A group's start is its last-delivered-id: one that read from 0, or from an entry id, re-created
    from the file does not skip its backlog (it was written as "$")."""
    client, prefix = redis_prefix
    stream = f"{prefix}orders"
    ids = [client.xadd(stream, {"n": n}) for n in range(5)]
    client.xgroup_create(stream, "never-read", id="0")
    client.xgroup_create(stream, "from-zero", id="0")
    client.xgroup_create(stream, "at-entry", id=ids[2])
    client.xgroup_create(stream, "at-end", id="$")
    read = client.xreadgroup("from-zero", "alice", {stream: ">"}, count=2)[0][1]
    client.xack(stream, "from-zero", read[0][0])
    text = _export(tmp_path, prefix)
    groups = yaml.safe_load(text)["redis"]["streams"][stream]["groups"]
    assert groups == {"never-read": {"start": "0"}, "from-zero": {"start": ids[1], "entries_read": 2},
                      "at-entry": {"start": ids[2]}, "at-end": {"start": ids[4]}}
    noted = next(line for line in text.splitlines() if ids[1] in line)
    assert "alice (1 pending)" in noted and "1 pending entry" in noted and "XAUTOCLAIM" in noted

    copy = f"{prefix}copy"
    for entry_id, fields in client.xrange(stream):
        client.xadd(copy, fields, id=entry_id)
    path = tmp_path / "copy.topology.yaml"
    path.write_text(text.replace(f"{stream}:", f"{copy}:"))
    env = {"TOPOLOGY_TARGET_CACHE": REDIS_URL}
    assert topology("apply", str(path), "--auto-approve", env=env, cwd=tmp_path).returncode == 0
    for group in groups:
        fresh = [entries for _, entries in client.xreadgroup(group, "next", {copy: ">"})]
        original = [entries for _, entries in client.xreadgroup(group, "next", {stream: ">"})]
        assert fresh == original, group
    assert [e for e, _ in client.xrange(copy, min=f"({ids[1]}")] == ids[2:]


def test_a_group_that_moves_on_leaves_the_plan_empty_and_a_saved_plan_fresh(
        tmp_path: Path, redis_prefix: tuple[Any, str]) -> None:
    """`start` is used only when a group is created: consumers reading (its live position moving) change no
    plan, and do not make a saved plan stale."""
    client, prefix = redis_prefix
    stream = f"{prefix}jobs"
    for n in range(4):
        client.xadd(stream, {"n": n})
    client.xgroup_create(stream, "workers", id="0")
    path = tmp_path / "adopted.topology.yaml"
    path.write_text(_export(tmp_path, prefix).replace("  streams:\n", f"  streams:\n    {prefix}new: {{}}\n", 1))
    env = {"TOPOLOGY_TARGET_CACHE": REDIS_URL}
    saved = tmp_path / "saved.plan.json"
    planned = topology("plan", str(path), "--out", str(saved), env=env, cwd=tmp_path)
    assert planned.returncode == 0 and f"+ redis/stream/{prefix}new" in planned.stdout, planned.stderr
    client.xreadgroup("workers", "w1", {stream: ">"}, count=3)
    applied = topology("apply", str(saved), "--auto-approve", env=env, cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr
    assert topology("plan", str(path), "--detailed-exitcode", env=env, cwd=tmp_path).returncode == 0


def test_entries_read_is_given_only_on_a_stream_that_has_had_that_many(tmp_path: Path,
                                                                      redis_prefix: tuple[Any, str]) -> None:
    """ENTRIESREAD counts one stream's entries: on a new stream it would make the lag negative (Redis
    reports entries-added minus entries-read), so there the group is made without it."""
    client, prefix = redis_prefix
    full, empty = f"{prefix}full", f"{prefix}empty"
    ids = [client.xadd(full, {"n": n}) for n in range(6)]
    body = (f"  streams:\n    {full}: {{groups: {{g: {{start: '{ids[3]}', entries_read: 4}}}}}}\n"
            f"    {empty}: {{groups: {{g: {{start: '{ids[3]}', entries_read: 4}}}}}}\n")
    assert _run(tmp_path, body, "apply", "--auto-approve").returncode == 0
    assert client.xinfo_groups(full)[0]["entries-read"] == 4 and client.xinfo_groups(full)[0]["lag"] == 2
    client.xadd(empty, {"n": 1})
    group = client.xinfo_groups(empty)[0]
    assert group["entries-read"] is None and group["lag"] == 1
    assert _run(tmp_path, body, "plan", "--detailed-exitcode").returncode == 0


def test_a_start_redis_would_refuse_is_a_located_error(tmp_path: Path) -> None:
    body = "  streams:\n    s: {groups: {g: {start: '18446744073709551616-0'}, h: {start: '-'}}}\n"
    checked = _run(tmp_path, body, "validate")
    assert checked.returncode == 1
    assert "'18446744073709551616-0' is not a stream id" in checked.stdout + checked.stderr
    assert "'-' is not a stream id" in checked.stdout + checked.stderr


# ----------------------------------------------------------------------------------- ACL users


def _user_body(name: str, commands: str = "+@read -@dangerous +xadd", extra: str = "") -> str:
    return (f"  users:\n    {name}:\n      passwords: ['${{APP_PASSWORD}}', '${{APP_PASSWORD}}']\n"
            f"      keys: ['%RW~{name}:*', '%R~shared:*', '%W~shared:*']\n      channels: ['&a', allchannels]\n"
            f"      commands: '{commands}'\n"
            f"      selectors: [{{keys: ['%R~x:*'], commands: '+@all -@admin'}}]\n{extra}")


def test_user_rules_in_any_words_converge(tmp_path: Path, redis_prefix: tuple[Any, str]) -> None:
    """Redis describes rules in its own words (`-@all +@read -keys -sort_ro +xadd`, `~k`, `&*`): a file in
    other words that allow the same plans empty after apply, and one that allows more plans a change."""
    client, prefix = redis_prefix
    name = f"{prefix}app"
    env = {"APP_PASSWORD": "first secret"}
    try:
        assert _run(tmp_path, _user_body(name), "apply", "--auto-approve", env=env).returncode == 0
        live = client.execute_command("ACL", "GETUSER", name)
        words = live["commands"].split()  # the order of single commands follows Redis's own hash table
        assert words[:2] == ["-@all", "+@read"] and sorted(words[2:]) == ["+xadd", "-keys", "-sort_ro"]
        assert live["channels"] == "&*"
        assert sorted(live["keys"].split()) == sorted([f"~{name}:*", "~shared:*"])
        assert _run(tmp_path, _user_body(name), "plan", "--detailed-exitcode", env=env).returncode == 0
        same = _user_body(name, "-@all +@read -keys -sort_ro +xadd")
        assert _run(tmp_path, same, "plan", "--detailed-exitcode", env=env).returncode == 0
        more = _run(tmp_path, _user_body(name, "+@read +xadd"), "plan", "--detailed-exitcode", env=env)
        assert more.returncode == 2 and "commands" in more.stdout
    finally:
        client.acl_deluser(name)


def test_user_password_is_compared_by_hash_and_never_printed(tmp_path: Path, redis_prefix: tuple[Any, str]) -> None:
    client, prefix = redis_prefix
    name = f"{prefix}app"
    try:
        assert _run(tmp_path, _user_body(name), "apply", "--auto-approve",
                    env={"APP_PASSWORD": "first secret"}).returncode == 0
        changed = _run(tmp_path, _user_body(name), "plan", "--detailed-exitcode", env={"APP_PASSWORD": "second"})
        assert changed.returncode == 2 and "passwords[0] = (sensitive)" in changed.stdout
        assert "second" not in changed.stdout + changed.stderr
        assert _run(tmp_path, _user_body(name), "apply", "--auto-approve",
                    env={"APP_PASSWORD": "second"}).returncode == 0
        parts = urlsplit(REDIS_URL)
        import redis

        as_user = redis.Redis(host=parts.hostname, port=parts.port or 6379, username=name, password="second")
        assert as_user.ping() is True
        as_user.close()
        exported = _export(tmp_path, prefix)
        assert "second" not in exported and "${REDIS_CACHE_" in exported and "SHA-256" in exported
    finally:
        client.acl_deluser(name)


def test_default_user_and_the_user_topology_connects_as_are_never_pruned(
        tmp_path: Path, redis_prefix: tuple[Any, str]) -> None:
    client, prefix = redis_prefix
    admin, other = f"{prefix}admin", f"{prefix}other"
    client.acl_setuser(admin, enabled=True, passwords=["+admin-secret"], keys=["*"], channels=["*"],
                       commands=["+@all"])
    client.acl_setuser(other, enabled=True, nopass=True)
    parts = urlsplit(REDIS_URL)
    url = f"redis://{quote(admin, safe='')}:admin-secret@{parts.hostname}:{parts.port}/0"
    body = f"manage: {{prune: true, include: ['redis/user/{prefix}*', 'redis/user/default']}}\n"
    try:
        planned = with_file(tmp_path, f"""version: 1
targets:
  cache: {{kind: redis, url: "{url}"}}
{body}redis:
  target: cache
  streams: {{{prefix}keep: {{}}}}
""", "plan")
        assert planned.returncode == 0, planned.stderr
        assert f"- redis/user/{other}" in planned.stdout
        assert "redis/user/default" not in planned.stdout and f"redis/user/{admin}" not in planned.stdout
        assert "`redis/user/default` is matched by manage.include but is never pruned: Redis cannot delete" \
            in planned.stderr
        assert f"`redis/user/{admin}` is matched by manage.include but is never pruned: topology connects" \
            in planned.stderr
        off = with_file(tmp_path, f"""version: 1
targets:
  cache: {{kind: redis, url: "{url}"}}
redis:
  target: cache
  users:
    {admin}: {{enabled: false, keys: [allkeys], commands: '+@all'}}
""", "validate")
        assert off.returncode == 1 and "turning it off would lock topology out" in off.stdout + off.stderr
    finally:
        client.acl_deluser(admin, other)


def test_acl_rules_redis_would_refuse_are_located_errors(tmp_path: Path) -> None:
    body = ("  users:\n    app:\n      nopass: true\n      passwords: [x]\n      keys: ['k*', allkeys, '~b']\n"
            "      channels: [c]\n      commands: '+get *'\n")
    checked = _run(tmp_path, body, "validate")
    text = checked.stdout + checked.stderr
    assert checked.returncode == 1
    for said in ("'k*' is not a key pattern", "'~b' comes after the `*` pattern", "'c' is not a channel pattern",
                 "'*' is not a command rule", "`nopass` and `passwords` together"):
        assert said in text, said


def test_a_user_that_may_not_list_users_exports_its_streams_and_says_users_are_left_out(
        tmp_path: Path, redis_prefix: tuple[Any, str]) -> None:
    client, prefix = redis_prefix
    name = f"{prefix}streams-only"
    client.acl_setuser(name, enabled=True, passwords=["+pw"], keys=["*"], channels=["*"],
                       commands=["+@all", "-@admin"])
    client.xadd(f"{prefix}orders", {"n": 1})
    parts = urlsplit(REDIS_URL)
    try:
        result = topology("export", "--target", f"cache=redis://{quote(name, safe='')}:pw@{parts.hostname}:"
                          f"{parts.port}/0", "--include", f"redis/*/{prefix}*", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert f"{prefix}orders" in result.stdout
        assert "may not list ACL users (ACL USERS), so users are left out" in result.stderr
    finally:
        client.acl_deluser(name)


def test_the_user_topology_connects_as_is_never_locked_out_whatever_url_is_given(
        tmp_path: Path, redis_prefix: tuple[Any, str]) -> None:
    """validate can only see the file's URL; given another one (--target NAME=URL, TOPOLOGY_TARGET_<NAME>),
    apply itself refuses to turn off, or leave without a password, the user it is connected as."""
    client, prefix = redis_prefix
    name = f"{prefix}Ädmin"
    client.acl_setuser(name, enabled=True, passwords=["+pa#1"], keys=["*"], channels=["*"], commands=["+@all"])
    parts = urlsplit(REDIS_URL)
    url = f"redis://{quote(name, safe='')}:{quote('pa#1', safe='')}@{parts.hostname}:{parts.port}/0"
    try:
        for rules in ("enabled: false", "passwords: []"):
            body = f"  users:\n    {name}: {{{rules}, keys: [allkeys], channels: [allchannels], commands: '+@all'}}\n"
            for how in (("--target", f"cache={url}"), ()):
                applied = _run(tmp_path, body, "apply", "--auto-approve", *how,
                               env={} if how else {"TOPOLOGY_TARGET_CACHE": url})
                said = applied.stdout + applied.stderr
                assert applied.returncode == 1, said
                assert f"topology is connected as the user {name!r}" in said and "Traceback" not in said, said
                live = client.acl_getuser(name)
                assert "on" in live["flags"] and len(live["passwords"]) == 1
    finally:
        client.acl_deluser(name)


def test_user_names_are_what_acl_setuser_takes(tmp_path: Path, redis_prefix: tuple[Any, str]) -> None:
    """ACL SETUSER refuses a name with an ASCII space (C's isspace) or a NUL byte and takes any other: a
    no-break space, a line separator, a control character; and the empty name."""
    client, prefix = redis_prefix
    names = [f"{prefix}a\u00a0b", f"{prefix}fs\x1c", f"{prefix}ls\u2028x"]
    for name in names:
        client.acl_setuser(name, enabled=True, nopass=True)
    try:
        exported = _export(tmp_path, prefix)
        assert all(name in yaml.safe_load(exported)["redis"]["users"] for name in names)
        (tmp_path / "exported.topology.yaml").write_text(exported)
        planned = topology("plan", str(tmp_path / "exported.topology.yaml"), "--detailed-exitcode", cwd=tmp_path,
                           env={"TOPOLOGY_TARGET_CACHE": REDIS_URL})
        assert planned.returncode == 0, planned.stdout + planned.stderr
    finally:
        client.acl_deluser(*names)
    for name, refused in (("''", False), ('"a\\0b"', True), ('"a\\tb"', True), ('"a\\u00a0b"', False)):
        checked = _run(tmp_path, f"  users:\n    {name}: {{nopass: true}}\n", "validate")
        assert (checked.returncode == 1) == refused, (name, checked.stdout + checked.stderr)
        assert not refused or "cannot be a Redis user name" in checked.stdout + checked.stderr


def test_patterns_holding_any_character_redis_takes_come_back_as_they_are(
        tmp_path: Path, redis_prefix: tuple[Any, str]) -> None:
    """A key or channel pattern may hold any character but an ASCII space and NUL (a no-break space, a line
    separator, quotes, a backslash): ACL GETUSER separates patterns by single spaces, and a selector's
    patterns are read by Redis as sdssplitargs reads words (`(~'q')` is the pattern `q`, an unclosed quote
    an empty selector). Exported, planned and re-created, each is the same pattern."""
    client, prefix = redis_prefix
    keys = ["~a\u00a0b*", "%R~x\x1cy", '~q"t', "~s'u", "~b\\s"]
    channels = ["&c\u2028d", '&e"f']
    selector_keys = ['~a"b', "~'q'", "~b\\c", "~n\u00a0b"]
    old, new = f"{prefix}old", f"{prefix}new"
    quoted = " ".join('"' + k.replace("\\", "\\\\").replace('"', '\\"') + '"' for k in [*selector_keys, '&x"y'])
    client.execute_command("ACL", "SETUSER", old, "on", "nopass", *keys, *channels, "+get", f"({quoted} +xadd)")
    try:
        before = client.execute_command("ACL", "GETUSER", old)
        exported = _export(tmp_path, prefix)
        user = yaml.safe_load(exported)["redis"]["users"][old]
        assert sorted(user["keys"]) == sorted(keys)
        assert user["channels"] == sorted(channels)
        assert sorted(user["selectors"][0]["keys"]) == sorted(selector_keys)
        path = tmp_path / "exported.topology.yaml"
        path.write_text(exported)
        env = {"TOPOLOGY_TARGET_CACHE": REDIS_URL}
        planned = topology("plan", str(path), "--detailed-exitcode", cwd=tmp_path, env=env)
        assert planned.returncode == 0, planned.stdout + planned.stderr
        path.write_text(exported.replace(old, new))
        applied = topology("apply", str(path), "--auto-approve", cwd=tmp_path, env=env)
        assert applied.returncode == 0, applied.stdout + applied.stderr
        after = client.execute_command("ACL", "GETUSER", new)
        assert sorted(after["keys"].split(" ")) == sorted(before["keys"].split(" "))
        assert sorted(after["channels"].split(" ")) == sorted(before["channels"].split(" "))
        assert _words_of(after["selectors"]) == _words_of(before["selectors"])
    finally:
        client.acl_deluser(old, new)


def _words_of(selectors: list[dict[str, str]]) -> list[dict[str, list[str]]]:
    """ACL GETUSER's selectors, each field's words in any order."""
    return [{field: sorted(text.split(" ")) for field, text in selector.items()} for selector in selectors]
