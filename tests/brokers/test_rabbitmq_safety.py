"""The RabbitMQ driver keeps its promises on the real broker: what a change would lose is counted
(unacknowledged messages and whole vhosts included) and checked again at the moment it happens;
policies that make the broker discard messages are data loss; two applies never run at once; every
call is bounded in time; passwords with reserved characters work and are never shown."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

from tests.cli import topology, with_file
from tests.conftest import AMQP_URL, RABBITMQ_URL, unique
from tests.faults import SilentServer
from topology.brokers.rabbitmq.driver import LOCK_QUEUE, default_amqp_url
from topology.core.secrets import parse_url

pytestmark = pytest.mark.rabbitmq

_PARTS = urlsplit(RABBITMQ_URL)
_HOST = f"{_PARTS.hostname}:{_PARTS.port}"
_AMQP_HOST = urlsplit(AMQP_URL).netloc.rsplit("@", 1)[-1]


# ------------------------------------------------------------------------------------------ helpers


def _poll(condition: Callable[[], bool], seconds: float = 20, what: str = "the condition") -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {seconds}s")


@pytest.fixture
def vhosts(rabbitmq_api: Any) -> Iterator[Callable[[], str]]:
    """Make fresh vhosts (guest has every permission there); all deleted afterwards."""
    made: list[str] = []

    def make() -> str:
        name = unique("safety")
        path = quote(name, safe="")
        rabbitmq_api.put(f"/api/vhosts/{path}").raise_for_status()
        rabbitmq_api.put(f"/api/permissions/{path}/{_PARTS.username}",
                         json={"configure": ".*", "write": ".*", "read": ".*"}).raise_for_status()
        made.append(name)
        return name

    yield make
    for name in made:
        rabbitmq_api.delete(f"/api/vhosts/{quote(name, safe='')}")


@pytest.fixture
def vhost(vhosts: Callable[[], str]) -> str:
    return vhosts()


def _target(lock_vhost: str, url: str = "${RABBITMQ_URL}", extra: str = "") -> str:
    """A target whose apply lock lives in `lock_vhost` (so these tests never hold up other applies)."""
    amqp = f"amqp://{_PARTS.username}:{_PARTS.password}@{_AMQP_HOST}/{quote(lock_vhost, safe='')}"
    return f'targets:\n  rabbit: {{kind: rabbitmq, url: "{url}", amqp_url: "{amqp}"{extra}}}\n'


def _document(vhost: str, queues: str = "q: {}", policies: str = "", manage: str = "", lock_vhost: str = "",
              target: str = "") -> str:
    policy_block = f"      policies: {{{policies}}}\n" if policies else ""
    return (f"version: 1\n{target or _target(lock_vhost or vhost)}{manage}rabbitmq:\n  target: rabbit\n  vhosts:\n"
            f"    {vhost}:\n      queues: {{{queues}}}\n{policy_block}")


def _prune_queues(vhost: str) -> str:
    return f"manage: {{prune: true, include: ['rabbitmq/{vhost}/queue/*']}}\n"


def _run(folder: Path, text: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return with_file(folder, text, args[0], *args[1:], env={"RABBITMQ_URL": RABBITMQ_URL, **(env or {})})


def _plan_json(folder: Path, text: str) -> dict[str, Any]:
    result = _run(folder, text, "plan", "--format", "json")
    assert result.returncode == 0, result.stderr
    return {c["address"]: c for c in json.loads(result.stdout)["changes"]}


def _save_plan(folder: Path, text: str) -> Path:
    saved = folder / "saved.plan.json"
    result = _run(folder, text, "plan", "--out", str(saved))
    assert result.returncode == 0, result.stderr
    return saved


def _apply_saved(folder: Path, saved: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return topology("apply", str(saved), "--auto-approve", *flags, cwd=folder, env={"RABBITMQ_URL": RABBITMQ_URL})


def _connection(vhost: str) -> Any:
    import pika

    return pika.BlockingConnection(pika.URLParameters(f"amqp://{urlsplit(AMQP_URL).netloc}/{quote(vhost, safe='')}"))


def _queue(api: Any, vhost: str, name: str) -> dict[str, Any] | None:
    response = api.get(f"/api/queues/{quote(vhost, safe='')}/{quote(name, safe='')}")
    return None if response.status_code == 404 else dict(response.json())


def _fill(api: Any, vhost: str, queue: str, count: int) -> None:
    """Publish `count` confirmed messages, then wait until the management API reports them."""
    with _connection(vhost) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        for index in range(count):
            channel.basic_publish("", queue, f"message {index}".encode())
    _poll(lambda: (_queue(api, vhost, queue) or {}).get("messages") == count, what=f"{count} messages in {queue}")


def _ready(vhost: str, queue: str) -> int:
    with _connection(vhost) as connection:
        return int(connection.channel().queue_declare(queue, passive=True).method.message_count)


# ----------------------------------------------------------------------- saved plans, re-checked


def test_saved_delete_of_an_empty_queue_is_refused_once_it_filled(tmp_path: Path, vhost: str,
                                                                  rabbitmq_api: Any) -> None:
    assert _run(tmp_path, _document(vhost, "q: {}, doomed: {}"), "apply", "--auto-approve").returncode == 0
    pruned = _document(vhost, manage=_prune_queues(vhost))
    saved = _save_plan(tmp_path, pruned)
    change = json.loads(saved.read_text())["changes"][0]
    assert (change["address"], change["needs_empty"], change["loses_data"]) == (
        f"rabbitmq/{vhost}/queue/doomed", True, False)
    _fill(rabbitmq_api, vhost, "doomed", 12)

    refused = _apply_saved(tmp_path, saved, "--allow-delete")
    assert refused.returncode == 1
    assert "refused to delete it: it was empty when planned but now holds 12 messages" in refused.stderr
    assert _ready(vhost, "doomed") == 12


def test_saved_replace_of_an_empty_queue_is_refused_once_it_filled(tmp_path: Path, vhost: str,
                                                                   rabbitmq_api: Any) -> None:
    assert _run(tmp_path, _document(vhost, "q: {max_length: 100}"), "apply", "--auto-approve").returncode == 0
    saved = _save_plan(tmp_path, _document(vhost, "q: {max_length: 50}"))
    [change] = json.loads(saved.read_text())["changes"]
    assert (change["action"], change["needs_empty"]) == ("replace", True)
    _fill(rabbitmq_api, vhost, "q", 9)

    refused = _apply_saved(tmp_path, saved)
    assert refused.returncode == 1
    assert "refused to replace it: it was empty when planned but now holds 9 messages" in refused.stderr
    queue = _queue(rabbitmq_api, vhost, "q")
    assert queue is not None and queue["arguments"] == {"x-max-length": 100}
    assert _ready(vhost, "q") == 9


class _Consumer:
    """A consumer that takes `count` messages and never acknowledges them, until closed."""

    def __init__(self, vhost: str, queue: str, count: int) -> None:
        self.connection = _connection(vhost)
        self.received: list[bytes] = []
        channel = self.connection.channel()
        channel.basic_qos(prefetch_count=count)
        channel.basic_consume(queue, lambda _ch, _method, _props, body: self.received.append(body))
        deadline = time.monotonic() + 20
        while len(self.received) < count and time.monotonic() < deadline:
            self.connection.process_data_events(time_limit=0.1)
        assert len(self.received) == count

    def close(self) -> None:
        self.connection.close()


def test_messages_held_unacknowledged_by_a_consumer_count(tmp_path: Path, vhost: str, rabbitmq_api: Any) -> None:
    assert _run(tmp_path, _document(vhost, "q: {max_length: 100}"), "apply", "--auto-approve").returncode == 0
    _fill(rabbitmq_api, vhost, "q", 15)
    consumer = _Consumer(vhost, "q", 15)
    try:
        assert _ready(vhost, "q") == 0  # a passive declare alone would say the queue is empty
        change = _plan_json(tmp_path, _document(vhost, "q: {max_length: 50}"))[f"rabbitmq/{vhost}/queue/q"]
        assert change["loses_data"] is True and change["needs_empty"] is False
        assert change["messages"] in (15, None)  # 15 once the statistics show them; unknown before
        refused = _run(tmp_path, _document(vhost, "q: {max_length: 50}"), "apply", "--auto-approve")
        assert refused.returncode == 1 and "--allow-data-loss" in refused.stderr
        assert (_queue(rabbitmq_api, vhost, "q") or {}).get("arguments") == {"x-max-length": 100}
    finally:
        consumer.close()
    _poll(lambda: _ready(vhost, "q") == 15, what="the 15 messages back in the queue")


def test_saved_delete_is_refused_while_a_consumer_holds_messages(tmp_path: Path, vhost: str,
                                                                 rabbitmq_api: Any) -> None:
    assert _run(tmp_path, _document(vhost, "q: {}, doomed: {}"), "apply", "--auto-approve").returncode == 0
    saved = _save_plan(tmp_path, _document(vhost, manage=_prune_queues(vhost)))
    _fill(rabbitmq_api, vhost, "doomed", 15)
    consumer = _Consumer(vhost, "doomed", 15)
    try:
        refused = _apply_saved(tmp_path, saved, "--allow-delete")
        assert refused.returncode == 1
        assert "refused to delete it: it was empty when planned but now holds" in refused.stderr
        assert "unacknowledged" in refused.stderr
        assert _queue(rabbitmq_api, vhost, "doomed") is not None
    finally:
        consumer.close()
    _poll(lambda: _ready(vhost, "doomed") == 15, what="the 15 messages back in the queue")


# -------------------------------------------------------------------------------- whole vhosts


def _pruning(kept: str, doomed: str) -> str:
    return _document(kept, manage=f"manage: {{prune: true, include: ['rabbitmq/vhost/{doomed}']}}\n")


def test_pruning_a_vhost_counts_its_messages_and_needs_the_data_flag(tmp_path: Path, vhosts: Callable[[], str],
                                                                     rabbitmq_api: Any) -> None:
    kept, doomed = vhosts(), vhosts()
    rabbitmq_api.put(f"/api/queues/{quote(doomed, safe='')}/orders", json={"durable": True}).raise_for_status()
    _fill(rabbitmq_api, doomed, "orders", 25)

    change = _plan_json(tmp_path, _pruning(kept, doomed))[f"rabbitmq/vhost/{doomed}"]
    assert (change["action"], change["loses_data"], change["messages"]) == ("delete", True, 25)
    assert "loses data: 25 messages" in change["reasons"]
    refused = _run(tmp_path, _pruning(kept, doomed), "apply", "--auto-approve", "--allow-delete")
    assert refused.returncode == 1 and "--allow-data-loss" in refused.stderr
    assert rabbitmq_api.get(f"/api/vhosts/{quote(doomed, safe='')}").status_code == 200

    allowed = _run(tmp_path, _pruning(kept, doomed), "apply", "--auto-approve", "--allow-delete", "--allow-data-loss")
    assert allowed.returncode == 0, allowed.stderr
    assert rabbitmq_api.get(f"/api/vhosts/{quote(doomed, safe='')}").status_code == 404


def test_saved_prune_of_an_empty_vhost_is_refused_once_it_filled(tmp_path: Path, vhosts: Callable[[], str],
                                                                 rabbitmq_api: Any) -> None:
    kept, doomed = vhosts(), vhosts()
    rabbitmq_api.put(f"/api/queues/{quote(doomed, safe='')}/orders", json={"durable": True}).raise_for_status()
    assert _run(tmp_path, _document(kept), "apply", "--auto-approve").returncode == 0
    saved = _save_plan(tmp_path, _pruning(kept, doomed))
    [change] = json.loads(saved.read_text())["changes"]
    assert (change["address"], change["needs_empty"], change["messages"]) == (f"rabbitmq/vhost/{doomed}", True, 0)
    _fill(rabbitmq_api, doomed, "orders", 25)

    refused = _apply_saved(tmp_path, saved, "--allow-delete")
    assert refused.returncode == 1
    assert "refused to delete it: it was empty when planned but now holds 25 messages in its queues" in refused.stderr
    assert _ready(doomed, "orders") == 25


# ------------------------------------------------------------------ policies that discard messages


_CAP = "cap: {pattern: '^q$', apply_to: queues, definition: {max-length: 0}}"


def test_a_policy_that_empties_a_full_queue_is_data_loss(tmp_path: Path, vhost: str, rabbitmq_api: Any) -> None:
    assert _run(tmp_path, _document(vhost), "apply", "--auto-approve").returncode == 0
    _fill(rabbitmq_api, vhost, "q", 40)
    change = _plan_json(tmp_path, _document(vhost, policies=_CAP))[f"rabbitmq/{vhost}/policy/cap"]
    assert (change["action"], change["loses_data"], change["messages"]) == ("create", True, 40)
    assert any(r.startswith("loses data: up to 40 messages (max-length") for r in change["reasons"])

    refused = _run(tmp_path, _document(vhost, policies=_CAP), "apply", "--auto-approve")
    assert refused.returncode == 1 and "--allow-data-loss" in refused.stderr
    assert rabbitmq_api.get(f"/api/policies/{quote(vhost, safe='')}/cap").status_code == 404
    assert _ready(vhost, "q") == 40


def test_a_policy_planned_while_empty_is_refused_once_the_queue_filled(tmp_path: Path, vhost: str,
                                                                       rabbitmq_api: Any) -> None:
    assert _run(tmp_path, _document(vhost), "apply", "--auto-approve").returncode == 0
    saved = _save_plan(tmp_path, _document(vhost, policies=_CAP))
    [change] = json.loads(saved.read_text())["changes"]
    assert (change["address"], change["needs_empty"]) == (f"rabbitmq/{vhost}/policy/cap", True)
    _fill(rabbitmq_api, vhost, "q", 40)

    refused = _apply_saved(tmp_path, saved)
    assert refused.returncode == 1
    assert "refused to change it: it was empty when planned but now holds 40 messages in the queues it applies to" \
        in refused.stderr
    assert rabbitmq_api.get(f"/api/policies/{quote(vhost, safe='')}/cap").status_code == 404
    assert _ready(vhost, "q") == 40


# ------------------------------------------------------------------------------------- the lock


_HOLD = """
import sys
from topology.brokers.rabbitmq.driver import RabbitMQDriver
from topology.errors import lock_holder
driver = RabbitMQDriver(sys.argv[1], amqp_url=sys.argv[2])
driver.lock(lock_holder(), 0)
print("locked", flush=True)
sys.stdin.read()
driver.close()
"""


class _Holder:
    """Another process that holds the target's apply lock until released or killed."""

    def __init__(self, lock_vhost: str) -> None:
        amqp = f"amqp://{urlsplit(AMQP_URL).netloc}/{quote(lock_vhost, safe='')}"
        self.process = subprocess.Popen([sys.executable, "-c", _HOLD, RABBITMQ_URL, amqp], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None and self.process.stdout.readline() == "locked\n"

    def release(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        assert self.process.wait(timeout=30) == 0

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)


def _amqp_connections(pid: int) -> int:
    """How many TCP connections process `pid` has open to the AMQP port."""
    port = int(_AMQP_HOST.rsplit(":", 1)[1])
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    count = 0
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[2].rsplit(":", 1)[1], 16) == port and fields[3] == "01" and fields[9] in inodes:
                count += 1
    return count


def test_a_second_apply_is_refused_naming_the_holder(tmp_path: Path, vhost: str, rabbitmq_api: Any) -> None:
    holder = _Holder(vhost)
    try:
        refused = _run(tmp_path, _document(vhost), "apply", "--auto-approve")
        assert refused.returncode == 1
        assert f"pid {holder.process.pid} since" in refused.stderr and "--lock-timeout" in refused.stderr
        assert "Traceback" not in refused.stderr
        assert _queue(rabbitmq_api, vhost, "q") is None  # nothing was applied
        # The lock queue is no object of the topology: not planned, pruned or exported.
        pruning = _document(vhost, manage=_prune_queues(vhost))
        assert LOCK_QUEUE not in _run(tmp_path, pruning, "plan").stdout
        assert _queue(rabbitmq_api, vhost, LOCK_QUEUE) is not None
        exported = topology("export", "--target", "live", "--format", "state", cwd=tmp_path,
                            env={"TOPOLOGY_TARGET_LIVE": RABBITMQ_URL})
        assert exported.returncode == 0, exported.stderr
        assert f"rabbitmq/vhost/{vhost}" in exported.stdout and LOCK_QUEUE not in exported.stdout
    finally:
        holder.release()
    assert _run(tmp_path, _document(vhost), "apply", "--auto-approve").returncode == 0


def test_a_second_apply_waits_for_the_first_with_a_lock_timeout(tmp_path: Path, vhost: str,
                                                                rabbitmq_api: Any) -> None:
    holder = _Holder(vhost)
    path = tmp_path / "t.topology.yaml"
    path.write_text(_document(vhost))
    command = [sys.executable, "-m", "topology", "apply", str(path), "--auto-approve", "--lock-timeout", "60s"]
    waiting = subprocess.Popen(command, cwd=tmp_path, env={**os.environ, "RABBITMQ_URL": RABBITMQ_URL},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    try:
        _poll(lambda: _amqp_connections(waiting.pid) > 0, what="the second apply asking for the lock")
        assert waiting.poll() is None and _queue(rabbitmq_api, vhost, "q") is None  # it waits, applying nothing
    finally:
        holder.release()
    _stdout, stderr = waiting.communicate(timeout=60)
    assert waiting.returncode == 0, stderr
    assert _queue(rabbitmq_api, vhost, "q") is not None


def test_a_killed_holder_frees_the_lock(tmp_path: Path, vhost: str, rabbitmq_api: Any) -> None:
    holder = _Holder(vhost)
    assert _queue(rabbitmq_api, vhost, LOCK_QUEUE) is not None
    holder.kill()
    _poll(lambda: _queue(rabbitmq_api, vhost, LOCK_QUEUE) is None, what="the broker dropping the killed holder's lock")
    applied = _run(tmp_path, _document(vhost), "apply", "--auto-approve")
    assert applied.returncode == 0, applied.stderr


# ------------------------------------------------------------------------------ bounded in time


def _one_sentence(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def test_a_management_endpoint_that_never_answers_fails_within_the_timeout(tmp_path: Path, vhost: str,
                                                                           silent_server: SilentServer) -> None:
    url = f"http://ops:s3cret-pass@127.0.0.1:{silent_server.port}"
    document = _document(vhost, target=_target(vhost, url, ", connect_timeout: 1s, timeout: 2s"))
    started = time.monotonic()
    result = _run(tmp_path, document, "plan")
    elapsed = time.monotonic() - started
    assert result.returncode == 1 and elapsed < 15, elapsed
    line = _one_sentence(result.stderr)
    assert f"RabbitMQ at http://ops:***@127.0.0.1:{silent_server.port}" in line and "did not answer within 2s" in line
    assert "s3cret-pass" not in result.stdout + result.stderr


def test_https_against_the_plain_management_port_is_one_sentence(tmp_path: Path, vhost: str) -> None:
    url = f"https://{_PARTS.username}:{_PARTS.password}@{_HOST}"
    result = _run(tmp_path, _document(vhost, target=_target(vhost, url, ", timeout: 5s")), "plan")
    assert result.returncode == 1
    line = _one_sentence(result.stderr)
    assert f"RabbitMQ at https://{_PARTS.username}:***@{_HOST}" in line
    assert "TLS handshake failed" in line and "use http://" in line


def test_an_amqp_port_that_never_answers_during_a_replace_fails_within_the_timeout(
        tmp_path: Path, vhost: str, silent_server: SilentServer) -> None:
    assert _run(tmp_path, _document(vhost, "q: {max_length: 100}"), "apply", "--auto-approve").returncode == 0
    amqp = f"amqp://{_PARTS.username}:{_PARTS.password}@127.0.0.1:{silent_server.port}/"
    target = (f'targets:\n  rabbit: {{kind: rabbitmq, url: "${{RABBITMQ_URL}}", amqp_url: "{amqp}", '
              "connect_timeout: 1s, timeout: 2s}\n")
    started = time.monotonic()
    result = _run(tmp_path, _document(vhost, "q: {max_length: 50}", target=target), "plan")
    elapsed = time.monotonic() - started
    assert result.returncode == 1 and elapsed < 15, elapsed
    line = _one_sentence(result.stderr)
    assert f"RabbitMQ over AMQP at amqp://{_PARTS.username}:***@127.0.0.1:{silent_server.port}/" in line
    assert "did not complete a connection within 3s" in line


# ---------------------------------------------------------------------------------------- secrets


_PASSWORD = "p#ss/w?rd@50%:x"


def test_default_amqp_url_carries_the_credentials_over() -> None:
    url = parse_url(f"https://ops%40team:{quote(_PASSWORD, safe='')}@rabbit.example:15671/", what="the url")
    amqp = default_amqp_url(url)
    assert (amqp.scheme, amqp.host, amqp.port, amqp.username) == ("amqps", "rabbit.example", 5671, "ops@team")
    assert amqp.password is not None and amqp.password.reveal() == _PASSWORD
    assert _PASSWORD not in str(amqp) and quote(_PASSWORD, safe="") not in str(amqp)
    again = parse_url(amqp.reveal(), what="the amqp url")
    assert again.password is not None and again.password.reveal() == _PASSWORD
    plain = default_amqp_url("http://guest:guest@127.0.0.1:15672")
    assert (plain.scheme, plain.port, plain.username) == ("amqp", 5672, "guest")


def test_a_password_with_reserved_characters_works_end_to_end(tmp_path: Path, vhosts: Callable[[], str],
                                                              rabbitmq_api: Any) -> None:
    vhost = vhosts()
    user = f"{vhost}-ops"
    rabbitmq_api.put(f"/api/users/{quote(user, safe='')}",
                     json={"password": _PASSWORD, "tags": "administrator"}).raise_for_status()
    try:
        rabbitmq_api.put(f"/api/permissions/{quote(vhost, safe='')}/{quote(user, safe='')}",
                         json={"configure": ".*", "write": ".*", "read": ".*"}).raise_for_status()
        # The apply lock lives in `/` by default: this user may declare that one queue there, nothing else.
        rabbitmq_api.put(f"/api/permissions/%2F/{quote(user, safe='')}",
                         json={"configure": "^topology\\.apply-lock$", "write": "^$", "read": "^$"}).raise_for_status()
        url = f"http://{quote(user, safe='')}:{quote(_PASSWORD, safe='')}@{_HOST}"
        target = 'targets:\n  rabbit: {kind: rabbitmq, url: "${OPS_URL}"}\n'
        env = {"OPS_URL": url}
        runs = [_run(tmp_path, _document(vhost, "q: {max_length: 100}", target=target), "apply", "--auto-approve",
                     "--lock-timeout", "120s", env=env)]  # the lock is in `/`: other test runs may hold it
        assert runs[-1].returncode == 0, runs[-1].stderr
        _fill(rabbitmq_api, vhost, "q", 3)
        # A replace counts messages over AMQP, with the credentials carried over from the management URL.
        runs.append(_run(tmp_path, _document(vhost, "q: {max_length: 50}", target=target), "plan", env=env))
        assert runs[-1].returncode == 0, runs[-1].stderr
        assert "loses data: 3 messages" in runs[-1].stdout
        runs.append(_run(tmp_path, _document(vhost, "q: {max_length: 50}", target=target), "apply",
                         "--auto-approve", "--allow-data-loss", "--lock-timeout", "120s", env=env))
        assert runs[-1].returncode == 0, runs[-1].stderr
        assert (_queue(rabbitmq_api, vhost, "q") or {}).get("arguments") == {"x-max-length": 50}
        wrong = url.replace(quote(_PASSWORD, safe=""), quote(_PASSWORD[::-1], safe=""))
        runs.append(_run(tmp_path, _document(vhost, target=target), "plan", env={"OPS_URL": wrong}))
        assert runs[-1].returncode == 1 and "refused the credentials" in runs[-1].stderr
        for run in runs:
            output = run.stdout + run.stderr
            for secret in (_PASSWORD, quote(_PASSWORD, safe=""), _PASSWORD[::-1], quote(_PASSWORD[::-1], safe="")):
                assert secret not in output
    finally:
        rabbitmq_api.delete(f"/api/users/{quote(user, safe='')}")
