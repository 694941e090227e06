"""The RabbitMQ driver on the real broker: every kind of object round-trips (apply, then an empty
plan), passwords are compared by hash, retry tiers and dead-lettering really move messages, and
broker errors are one clear sentence."""

from __future__ import annotations

import http.server
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

from tests.cli import topology, with_file
from tests.conftest import AMQP_URL, RABBITMQ_URL, unique

pytestmark = pytest.mark.rabbitmq


def _topology(folder: Path, text: str, *args: str, url: str = RABBITMQ_URL,
              env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # Other test runs may apply to the same broker at once: an apply waits for their lock.
    wait = ("--lock-timeout", "120s") if args[0] == "apply" else ()
    return with_file(folder, text, args[0], *args[1:], *wait, env={"RABBITMQ_URL": url, **(env or {})})


@pytest.fixture
def vhost(rabbitmq_api: Any) -> Iterator[str]:
    name = unique("driver")
    yield name
    rabbitmq_api.delete(f"/api/vhosts/{quote(name, safe='')}")
    for user in rabbitmq_api.get("/api/users").json():
        if user["name"].startswith(name):
            rabbitmq_api.delete(f"/api/users/{quote(user['name'], safe='')}")


def _everything(vhost: str, password: str = "first-secret") -> str:
    return f"""version: 1
targets:
  rabbit: {{kind: rabbitmq, url: "${{RABBITMQ_URL}}"}}
rabbitmq:
  target: rabbit
  vhosts:
    {vhost}:
      exchanges:
        orders: {{type: topic, alternate_exchange: orders.unrouted}}
        orders.unrouted: {{type: fanout}}
        by-region: {{type: headers}}
        internal-fanout: {{type: fanout, internal: true, durable: false, auto_delete: true}}
      exchange_bindings:
        - {{source: orders, destination: internal-fanout, routing_key: "legacy.#"}}
      queues:
        billing:
          type: quorum
          delivery_limit: 10
          overflow: reject-publish
          max_length: 1000
          bindings: [{{exchange: orders, routing_key: "order.*"}}]
          dead_letter: {{}}
          retry: {{delays: [200ms, 5m]}}
        audit:
          message_ttl: 1d
          expires: 30d
          max_length_bytes: 10MiB
          max_priority: 5
          single_active_consumer: true
          bindings: [{{exchange: orders, routing_key: "#"}}]
        eu-orders:
          bindings:
            - {{exchange: by-region, arguments: {{x-match: all, region: eu}}}}
            - {{exchange: by-region, arguments: {{x-match: any, country: fr}}}}
        events: {{type: stream, max_length_bytes: 1GiB, arguments: {{x-max-age: 7D}}}}
        unrouted: {{bindings: [{{exchange: orders.unrouted}}]}}
      policies:
        audit-ttl: {{pattern: "^audit$", apply_to: queues, priority: 1, definition: {{message-ttl: 60000}}}}
      operator_policies:
        cap: {{pattern: ".*", apply_to: queues, definition: {{max-length: 100000}}}}
  users:
    {vhost}-svc:
      password: "{password}"
      tags: [monitoring]
      permissions:
        {vhost}: {{configure: "^$", write: "^orders$", read: "^billing"}}
      topic_permissions:
        {vhost}:
          amq.topic: {{write: '^svc\\.', read: '.*'}}
          orders: {{write: '^order\\.', read: '^order\\.'}}
"""


def test_every_kind_round_trips(tmp_path: Path, vhost: str, rabbitmq_api: Any) -> None:
    applied = _topology(tmp_path, _everything(vhost), "apply", "--auto-approve")
    assert applied.returncode == 0, applied.stderr
    again = _topology(tmp_path, _everything(vhost), "plan", "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "No changes" in again.stdout

    v = quote(vhost, safe="")
    billing = rabbitmq_api.get(f"/api/queues/{v}/billing").json()
    assert billing["type"] == "quorum"
    assert billing["arguments"] == {"x-queue-type": "quorum", "x-delivery-limit": 10, "x-overflow": "reject-publish",
                                    "x-max-length": 1000, "x-dead-letter-exchange": "",
                                    "x-dead-letter-routing-key": "billing.dlq"}
    assert rabbitmq_api.get(f"/api/queues/{v}/events").json()["type"] == "stream"
    headers = rabbitmq_api.get(f"/api/bindings/{v}/e/by-region/q/eu-orders").json()
    assert sorted(b["arguments"]["x-match"] for b in headers) == ["all", "any"]
    internal = rabbitmq_api.get(f"/api/exchanges/{v}/internal-fanout").json()
    assert (internal["internal"], internal["durable"], internal["auto_delete"]) == (True, False, True)
    assert rabbitmq_api.get(f"/api/operator-policies/{v}/cap").status_code == 200
    permission = rabbitmq_api.get(f"/api/permissions/{v}/{vhost}-svc").json()
    assert (permission["write"], permission["read"]) == ("^orders$", "^billing")
    topic = rabbitmq_api.get(f"/api/topic-permissions/{v}/{vhost}-svc").json()
    assert sorted((t["exchange"], t["write"]) for t in topic) == [("amq.topic", "^svc\\."), ("orders", "^order\\.")]


def test_changed_password_is_detected_by_hash_and_never_printed(tmp_path: Path, vhost: str) -> None:
    import httpx

    assert _topology(tmp_path, _everything(vhost), "apply", "--auto-approve").returncode == 0
    plan = _topology(tmp_path, _everything(vhost, "second-secret"), "plan")
    assert plan.returncode == 0
    assert f"~ rabbitmq/user/{vhost}-svc" in plan.stdout and "password = (sensitive)" in plan.stdout
    assert "second-secret" not in plan.stdout + plan.stderr and "first-secret" not in plan.stdout
    assert "Plan: 0 to create, 1 to update" in plan.stdout
    assert _topology(tmp_path, _everything(vhost, "second-secret"), "apply", "--auto-approve").returncode == 0
    base = RABBITMQ_URL.split("@")[-1]
    assert httpx.get(f"http://{base}/api/whoami", auth=(f"{vhost}-svc", "second-secret")).status_code == 200
    assert httpx.get(f"http://{base}/api/whoami", auth=(f"{vhost}-svc", "first-secret")).status_code == 401


def _channel(vhost: str) -> Any:
    import pika

    parts = urlsplit(AMQP_URL)
    return pika.BlockingConnection(pika.URLParameters(f"{parts.scheme}://{parts.netloc}/{quote(vhost, safe='')}"))


def _get(channel: Any, queue: str, seconds: float = 10) -> bytes | None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        _method, _properties, body = channel.basic_get(queue, auto_ack=True)
        if body is not None:
            return bytes(body)
        time.sleep(0.05)
    return None


def test_rejected_message_lands_in_the_dead_letter_queue(tmp_path: Path, vhost: str) -> None:
    assert _topology(tmp_path, _everything(vhost), "apply", "--auto-approve").returncode == 0
    with _channel(vhost) as connection:
        channel = connection.channel()
        channel.basic_publish("orders", "order.created", b"order-1")
        method = None
        for _ in range(100):
            method, _properties, body = channel.basic_get("billing")
            if method is not None:
                break
            time.sleep(0.05)
        assert method is not None and body == b"order-1"
        channel.basic_reject(method.delivery_tag, requeue=False)
        assert _get(channel, "billing.dlq") == b"order-1"


def test_wait_queue_returns_the_message_after_its_delay(tmp_path: Path, vhost: str) -> None:
    assert _topology(tmp_path, _everything(vhost), "apply", "--auto-approve").returncode == 0
    with _channel(vhost) as connection:
        channel = connection.channel()
        started = time.monotonic()
        channel.basic_publish("", "billing.retry.200ms", b"retry-me")
        assert _get(channel, "billing", seconds=10) == b"retry-me"
        assert time.monotonic() - started >= 0.2
        assert _get(channel, "billing.retry.200ms", seconds=0.2) is None


class _NotRabbit(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_broker_errors_are_one_sentence_without_the_password(tmp_path: Path, vhost: str) -> None:
    document = _everything(vhost)
    down = _topology(tmp_path, document, "plan", url="http://ops:hunter2@127.0.0.1:1")
    assert down.returncode == 1 and "Traceback" not in down.stderr and "hunter2" not in down.stderr
    assert "RabbitMQ at http://ops:***@127.0.0.1:1 is not reachable" in down.stderr

    wrong = _topology(tmp_path, document, "plan", url=RABBITMQ_URL.replace("guest@", "nope@"))
    assert wrong.returncode == 1
    assert "refused the credentials of user 'guest' (401)" in wrong.stderr and "nope" not in wrong.stderr

    server = http.server.HTTPServer(("127.0.0.1", 0), _NotRabbit)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        missing = _topology(tmp_path, document, "plan", url=f"http://guest:guest@127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
    assert missing.returncode == 1
    assert "enable it with `rabbitmq-plugins enable rabbitmq_management`" in missing.stderr


def _scope(vhost: str) -> tuple[str, ...]:
    """`topology export` options for one test's vhost and its users, on a broker other tests share."""
    return ("--include", f"rabbitmq/vhost/{vhost}", "--include", f"rabbitmq/{vhost}/*",
            "--include", f"rabbitmq/user/{vhost}*")


def test_export_then_plan_gives_no_changes(tmp_path: Path, vhost: str) -> None:
    assert _topology(tmp_path, _everything(vhost), "apply", "--auto-approve").returncode == 0
    exported = tmp_path / "exported.topology.yaml"
    env = {"TOPOLOGY_TARGET_LIVE": RABBITMQ_URL}
    result = topology("export", "--target", "live", *_scope(vhost), "--to", str(exported), env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    text = exported.read_text()
    assert "guest:guest" not in text and "first-secret" not in text  # no credentials, no passwords
    assert f"    {vhost}:" in text and "delivery_limit: 10" in text and "x-match: any" in text
    plan = topology("plan", str(exported), "--detailed-exitcode", env=env, cwd=tmp_path)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "No changes" in plan.stdout


def test_pruning_one_topic_permission_keeps_the_others(tmp_path: Path, vhost: str, rabbitmq_api: Any) -> None:
    assert _topology(tmp_path, _everything(vhost), "apply", "--auto-approve").returncode == 0
    fewer = _everything(vhost).replace("          orders: {write: '^order\\.', read: '^order\\.'}\n", "")
    assert fewer != _everything(vhost)
    fewer += f"manage: {{prune: true, include: ['rabbitmq/{vhost}/topic-permission/*']}}\n"
    plan = _topology(tmp_path, fewer, "plan")
    assert f"- rabbitmq/{vhost}/topic-permission/{vhost}-svc/orders" in plan.stdout
    assert "Plan: 0 to create, 0 to update, 0 to replace, 1 to delete." in plan.stdout
    assert _topology(tmp_path, fewer, "apply", "--auto-approve", "--allow-delete").returncode == 0
    topic = rabbitmq_api.get(f"/api/topic-permissions/{quote(vhost, safe='')}/{vhost}-svc").json()
    assert [t["exchange"] for t in topic] == ["amq.topic"]
    assert "No changes" in _topology(tmp_path, fewer, "plan").stdout


def test_a_vhost_deleted_after_it_was_listed_reads_as_gone(vhost: str, rabbitmq_api: Any) -> None:
    """On a shared broker another team may delete a vhost between the listing and the read of its
    definitions (RabbitMQ answers that read 400 `vhost_not_found`, not 404): inspect sees it gone."""
    from topology.brokers.base import Selection
    from topology.brokers.rabbitmq.driver import RabbitMQDriver

    doomed = unique("doomed")
    for name in (vhost, doomed):
        rabbitmq_api.put(f"/api/vhosts/{quote(name, safe='')}").raise_for_status()

    class DeletedMeanwhile(RabbitMQDriver):
        def _vhosts(self, selection: Selection) -> list[str]:
            names = super()._vhosts(selection)
            rabbitmq_api.delete(f"/api/vhosts/{quote(doomed, safe='')}").raise_for_status()
            return names

    wanted = frozenset({f"rabbitmq/vhost/{doomed}", f"rabbitmq/vhost/{vhost}"})
    with DeletedMeanwhile(RABBITMQ_URL, amqp_url=AMQP_URL) as driver:
        live = driver.inspect(Selection(wanted, containers=frozenset({doomed, vhost})))
    assert sorted(live) == [f"rabbitmq/vhost/{vhost}"]


def _adopt(folder: Path, vhost: str) -> tuple[str, subprocess.CompletedProcess[str]]:
    """Export the vhost, validate the file, and plan it against the same broker: the file and the plan."""
    exported = folder / "exported.topology.yaml"
    env = {"TOPOLOGY_TARGET_LIVE": RABBITMQ_URL}
    result = topology("export", "--target", "live", *_scope(vhost), "--to", str(exported), env=env, cwd=folder)
    assert result.returncode == 0, result.stderr
    valid = topology("validate", str(exported), env=env, cwd=folder)
    assert valid.returncode == 0, exported.read_text() + valid.stdout + valid.stderr
    return exported.read_text(), topology("plan", str(exported), "--detailed-exitcode", env=env, cwd=folder)


def test_a_queue_the_broker_took_is_adopted_whatever_its_arguments(tmp_path: Path, vhost: str,
                                                                   rabbitmq_api: Any) -> None:
    """Every value RabbitMQ takes validates again once exported: x-delivery-limit -1 (no limit), priorities
    from 0, a TTL past 2^32 ms, RabbitMQ's own max-age units; a value the typed field would read otherwise
    (x-delivery-limit "5", which RabbitMQ keeps as a string) and arguments of every AMQP type stay raw."""
    v = quote(vhost, safe="")
    rabbitmq_api.put(f"/api/vhosts/{v}").raise_for_status()
    queues: dict[str, dict[str, Any]] = {
        "no-limit": {"x-queue-type": "quorum", "x-delivery-limit": -1},
        "text-limit": {"x-queue-type": "quorum", "x-delivery-limit": "5"},
        "dlx-overflow": {"x-queue-type": "quorum", "x-overflow": "reject-publish-dlx"},
        "priority-0": {"x-max-priority": 0, "x-message-ttl": 99_999_999_999, "x-queue-version": 2},
        "events": {"x-queue-type": "stream", "x-max-age": "1Y", "x-stream-max-segment-size-bytes": 3_000_000_000},
        "typed": {"x-custom-list": [1, "two", 3.5, True, {"nested": ["x"]}], "x-custom-float": 1.0,
                  "x-custom-bool": False, "x-custom-text": "007", "x-custom-table": {"a": {"b": -1}},
                  "y-not-x": "ünïcode ✓"},
        "parked-nowhere": {"x-dead-letter-exchange": "not-declared-yet"},  # RabbitMQ takes a missing exchange
    }
    for name, arguments in queues.items():
        rabbitmq_api.put(f"/api/queues/{v}/{name}", json={"durable": True, "arguments": arguments}).raise_for_status()
    rabbitmq_api.put(f"/api/exchanges/{v}/orders", json={"type": "topic", "arguments": {
        "alternate-exchange": "not-declared-either"}}).raise_for_status()

    text, plan = _adopt(tmp_path, vhost)
    assert plan.returncode == 0, text + plan.stdout + plan.stderr
    assert "delivery_limit: -1" in text and "max_priority: 0" in text and "max_age: 1Y" in text
    assert "x-delivery-limit: '5'" in text and "x-custom-text: '007'" in text
    assert "alternate_exchange: not-declared-either" in text and "x-dead-letter-exchange: not-declared-yet" in text
    for name, arguments in queues.items():
        assert rabbitmq_api.get(f"/api/queues/{v}/{name}").json()["arguments"] == arguments


def _arguments_document(vhost: str) -> str:
    return f"""version: 1
targets:
  rabbit: {{kind: rabbitmq, url: "${{RABBITMQ_URL}}"}}
rabbitmq:
  target: rabbit
  vhosts:
    {vhost}:
      queues:
        placed:
          type: quorum
          initial_group_size: 1
          leader_locator: balanced
          delivery_limit: -1
          dead_letter_strategy: at-least-once
          overflow: reject-publish
          max_in_memory_length: 0
          max_in_memory_bytes: 1MiB
          dead_letter: {{}}
        lazy: {{queue_mode: lazy, queue_version: 2, master_locator: min-masters, max_priority: 0}}
        events:
          type: stream
          max_age: 7D
          stream_max_segment_size_bytes: 50MB
          initial_cluster_size: 1
          leader_locator: client-local
"""


def test_every_typed_queue_argument_reaches_the_broker(tmp_path: Path, vhost: str, rabbitmq_api: Any) -> None:
    applied = _topology(tmp_path, _arguments_document(vhost), "apply", "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    again = _topology(tmp_path, _arguments_document(vhost), "plan", "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr
    v = quote(vhost, safe="")
    assert rabbitmq_api.get(f"/api/queues/{v}/placed").json()["arguments"] == {
        "x-queue-type": "quorum", "x-quorum-initial-group-size": 1, "x-queue-leader-locator": "balanced",
        "x-delivery-limit": -1, "x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish",
        "x-max-in-memory-length": 0, "x-max-in-memory-bytes": 1048576, "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": "placed.dlq"}
    assert rabbitmq_api.get(f"/api/queues/{v}/lazy").json()["arguments"] == {
        "x-queue-mode": "lazy", "x-queue-version": 2, "x-queue-master-locator": "min-masters", "x-max-priority": 0}
    assert rabbitmq_api.get(f"/api/queues/{v}/events").json()["arguments"] == {
        "x-queue-type": "stream", "x-max-age": "7D", "x-stream-max-segment-size-bytes": 50_000_000,
        "x-initial-cluster-size": 1, "x-queue-leader-locator": "client-local"}
    text, plan = _adopt(tmp_path, vhost)
    assert plan.returncode == 0, text + plan.stdout + plan.stderr
    assert "initial_group_size: 1" in text and "leader_locator: balanced" in text


def _vhost_document(vhost: str, metadata: str, user_limits: str = "{max-connections: 2, max-channels: 0}",
                    user_tags: str = "[monitoring]") -> str:
    return f"""version: 1
targets:
  rabbit: {{kind: rabbitmq, url: "${{RABBITMQ_URL}}"}}
rabbitmq:
  target: rabbit
  vhosts:
    {vhost}:
{metadata}
      queues:
        plain: {{}}
        pinned: {{type: classic}}
  users:
    {vhost}-svc:
      tags: {user_tags}
      limits: {user_limits}
"""


_METADATA = """      description: "Orders of team A, ✓"
      tags: [team-a, prod]
      default_queue_type: quorum
      tracing: true
      limits: {max-connections: 10, max-queues: -1}"""


def _vhost_state(api: Any, vhost: str) -> tuple[Any, ...]:
    v = quote(vhost, safe="")
    listed = api.get(f"/api/vhosts/{v}").json()
    limits = api.get(f"/api/vhost-limits/{v}").json()
    users = api.get(f"/api/user-limits/{quote(vhost + '-svc', safe='')}").json()
    return (listed["description"], sorted(listed["tags"]), listed["default_queue_type"], listed["tracing"],
            limits[0]["value"] if limits else {}, users[0]["value"] if users else {})


def test_vhost_metadata_and_limits_and_user_limits(tmp_path: Path, vhost: str, rabbitmq_api: Any) -> None:
    applied = _topology(tmp_path, _vhost_document(vhost, _METADATA), "apply", "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert _vhost_state(rabbitmq_api, vhost) == (
        "Orders of team A, ✓", ["prod", "team-a"], "quorum", True, {"max-connections": 10, "max-queues": -1},
        {"max-connections": 2, "max-channels": 0})
    v = quote(vhost, safe="")
    # a queue that names no type takes the vhost's default; one declared classic stays classic
    assert rabbitmq_api.get(f"/api/queues/{v}/plain").json()["type"] == "quorum"
    assert rabbitmq_api.get(f"/api/queues/{v}/pinned").json()["type"] == "classic"
    declared = _vhost_document(vhost, _METADATA).replace("        plain: {}\n", "        plain: {type: quorum}\n")
    assert _topology(tmp_path, declared, "plan", "--detailed-exitcode").returncode == 0

    # another description, no tracing, a limit left out (lifted), other user limits and tags: the default queue
    # type stays
    changed = _METADATA.replace("Orders of team A, ✓", "Orders").replace("max-connections: 10, ", "").replace(
        "tracing: true", "tracing: false")
    document = _vhost_document(vhost, changed, "{max-channels: 1}", "[management]")
    plan = _topology(tmp_path, document, "plan")
    assert "Plan: 0 to create, 3 to update, 0 to replace, 0 to delete." in plan.stdout, plan.stdout
    assert _topology(tmp_path, document, "apply", "--auto-approve").returncode == 0
    assert _vhost_state(rabbitmq_api, vhost) == ("Orders", ["prod", "team-a"], "quorum", False, {"max-queues": -1},
                                                 {"max-channels": 1})
    assert _topology(tmp_path, document, "plan", "--detailed-exitcode").returncode == 0

    # RabbitMQ 3.10 sets the default queue type only when it creates a vhost: said in one sentence
    stream = document.replace("default_queue_type: quorum", "default_queue_type: stream")
    refused = _topology(tmp_path, stream, "apply", "--auto-approve")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert f"kept `quorum` as the default queue type of vhost '{vhost}'" in refused.stdout + refused.stderr
    assert _vhost_state(rabbitmq_api, vhost)[2] == "quorum"

    text, adopted = _adopt(tmp_path, vhost)
    assert adopted.returncode == 0, text + adopted.stdout + adopted.stderr
    assert "default_queue_type: quorum" in text and "max-queues: -1" in text and "max-channels: 1" in text

    lifted = document.replace("limits: {max-queues: -1}", "limits: {}").replace("{max-channels: 1}", "{}")
    assert _topology(tmp_path, lifted, "apply", "--auto-approve").returncode == 0
    assert _vhost_state(rabbitmq_api, vhost)[4:] == ({}, {})
    assert _topology(tmp_path, lifted, "plan", "--detailed-exitcode").returncode == 0


def test_a_binding_the_management_api_cannot_list_is_said_so(tmp_path: Path, vhost: str, rabbitmq_api: Any) -> None:
    """RabbitMQ takes a binding with arguments and a `~` in its routing key (over AMQP), but its management
    API then fails (HTTP 500) on every listing of the vhost's bindings and on definitions exports: export says
    why in one sentence, and validate refuses a file that would create one."""
    v = quote(vhost, safe="")
    rabbitmq_api.put(f"/api/vhosts/{v}").raise_for_status()
    rabbitmq_api.put(f"/api/permissions/{v}/guest", json={"configure": ".*", "write": ".*", "read": ".*"})
    with _channel(vhost) as connection:
        channel = connection.channel()
        channel.exchange_declare("by-region", "headers")
        channel.queue_declare("eu", durable=True)
        channel.queue_bind("eu", "by-region", "legacy~key", arguments={"region": "eu"})
    assert rabbitmq_api.get(f"/api/definitions/{v}").status_code == 500  # the broker's own failure

    exported = topology("export", "--target", "live", *_scope(vhost), env={"TOPOLOGY_TARGET_LIVE": RABBITMQ_URL},
                        cwd=tmp_path)
    assert exported.returncode == 1 and "Traceback" not in exported.stderr
    assert f"failed (HTTP 500) to list the definitions of vhost '{vhost}'" in exported.stderr
    assert "a binding with arguments and a `~` in its routing key" in exported.stderr

    declared = _everything(vhost).replace('{exchange: by-region, arguments: {x-match: any, country: fr}}',
                                          '{exchange: by-region, routing_key: "a~b", arguments: {x-match: any}}')
    refused = _topology(tmp_path, declared, "validate")
    assert refused.returncode == 1
    assert "cannot list a binding that has arguments and a `~` in its routing key" in refused.stdout + refused.stderr


def test_arguments_the_management_api_cannot_type_are_exported_with_a_note(tmp_path: Path, vhost: str,
                                                                           rabbitmq_api: Any) -> None:
    """AMQP clients can declare arguments of types the management API's JSON cannot carry: it shows a byte
    array that is not UTF-8 as "Not UTF-8, base64 is: ..." and a void as "undefined". The adopted file plans
    empty, and says next to each such value that applied from the file it is that text."""
    v = quote(vhost, safe="")
    rabbitmq_api.put(f"/api/vhosts/{v}").raise_for_status()
    rabbitmq_api.put(f"/api/permissions/{v}/guest", json={"configure": ".*", "write": ".*", "read": ".*"})
    with _channel(vhost) as connection:
        channel = connection.channel()
        channel.queue_declare("typed", durable=True, arguments={"x-bytes": b"\x00\xff", "x-void": None})
        channel.exchange_declare("by-kind", "headers")
        channel.queue_bind("typed", "by-kind", arguments={"x-match": "all", "kind": b"\xfe", "note": None})
    assert rabbitmq_api.get(f"/api/queues/{v}/typed").json()["arguments"] == {
        "x-bytes": "Not UTF-8, base64 is: AP8=", "x-void": "undefined"}

    text, plan = _adopt(tmp_path, vhost)
    assert plan.returncode == 0, text + plan.stdout + plan.stderr
    notes = [line for line in text.splitlines() if "management API can only show" in line]
    assert len(notes) == 4 and any("x-bytes: 'Not UTF-8, base64 is: AP8='  # an AMQP byte array" in n for n in notes)
