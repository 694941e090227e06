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


def test_export_then_plan_gives_no_changes(tmp_path: Path, vhost: str) -> None:
    assert _topology(tmp_path, _everything(vhost), "apply", "--auto-approve").returncode == 0
    exported = tmp_path / "exported.topology.yaml"
    env = {"TOPOLOGY_TARGET_LIVE": RABBITMQ_URL}
    result = topology("export", "--target", "live", "--to", str(exported), env=env, cwd=tmp_path)
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
