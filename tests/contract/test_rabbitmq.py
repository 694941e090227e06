"""The RabbitMQ driver passes the driver contract against the real broker."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

from tests.conftest import AMQP_URL, RABBITMQ_URL, unique
from tests.contract.suite import ContractSuite, Harness

pytestmark = pytest.mark.rabbitmq


class RabbitHarness(Harness):
    def __init__(self, folder: Path, api: Any) -> None:
        super().__init__(folder)
        self.api = api
        self.vhost = unique("contract")
        self.v = quote(self.vhost, safe="")
        self.queue = f"rabbitmq/{self.vhost}/queue/billing"
        self.updatable = f"rabbitmq/{self.vhost}/policy/ttl"
        self.removable = f"rabbitmq/{self.vhost}/queue/emails"
        self.extra_env = {"RABBITMQ_URL": RABBITMQ_URL}

    def document(self, variant: str) -> str:
        queue_type = "quorum" if variant == "immutable" else "classic"
        ttl = 120000 if variant == "update" else 60000
        emails = "" if variant.startswith("smaller") else "        emails: {}\n"
        manage = f"manage: {{prune: true, include: ['rabbitmq/{self.vhost}/queue/*']}}\n" \
            if variant == "smaller-pruned" else ""
        return f"""version: 1
targets:
  rabbit: {{kind: rabbitmq, url: "${{RABBITMQ_URL}}"}}
{manage}rabbitmq:
  target: rabbit
  vhosts:
    {self.vhost}:
      exchanges: {{orders: {{type: topic}}}}
      queues:
        billing:
          type: {queue_type}
          bindings: [{{exchange: orders, routing_key: "order.*"}}]
          retry: {{delays: [5s]}}
{emails}      policies:
        ttl: {{pattern: "^billing$", apply_to: queues, definition: {{message-ttl: {ttl}}}}}
"""


    def extra_args(self, args: tuple[str, ...]) -> list[str]:
        # Other test runs may apply to the same broker at once: wait for their apply lock.
        return ["--lock-timeout", "120s"] if args and args[0] == "apply" else []

    def set_messages(self, address: str, count: int) -> None:
        import pika

        name = address.rsplit("/", 1)[-1]
        self.api.delete(f"/api/queues/{self.v}/{quote(name, safe='')}/contents")
        parts = urlsplit(AMQP_URL)
        with pika.BlockingConnection(pika.URLParameters(f"{parts.scheme}://{parts.netloc}/{self.v}")) as connection:
            channel = connection.channel()
            channel.confirm_delivery()
            for index in range(count):
                channel.basic_publish("", name, f"message {index}".encode())
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # wait until the management API's statistics agree
            if self.api.get(f"/api/queues/{self.v}/{quote(name, safe='')}").json().get("messages") == count:
                return
            time.sleep(0.2)
        raise AssertionError(f"{name} did not report {count} messages")

    def live(self) -> dict[str, dict[str, Any]]:
        definitions = self.api.get(f"/api/definitions/{self.v}")
        if definitions.status_code == 404:
            return {}
        data = definitions.json()
        prefix = f"rabbitmq/{self.vhost}"
        live = {f"{prefix}/queue/{q['name']}": q for q in data["queues"]}
        live.update({f"{prefix}/exchange/{e['name']}": e for e in data["exchanges"]})
        live.update({f"{prefix}/policy/{p['name']}": p for p in data["policies"]})
        live.update({f"{prefix}/binding/{b['source']}->{b['destination']}[{b['routing_key']}]": b
                     for b in data["bindings"]})
        return live

    def drift_change(self, address: str, attribute: str, value: Any) -> None:
        name = address.rsplit("/", 1)[-1]
        policy = self.api.get(f"/api/policies/{self.v}/{name}").json()
        policy[attribute] = value
        assert self.api.put(f"/api/policies/{self.v}/{name}", json=policy).status_code in (201, 204)

    def drift_remove(self, address: str) -> None:
        name = address.rsplit("/", 1)[-1]
        assert self.api.delete(f"/api/queues/{self.v}/{quote(name, safe='')}").status_code == 204


class TestRabbitMQDriver(ContractSuite):
    @pytest.fixture
    def harness(self, tmp_path: Path, rabbitmq_api: Any) -> Iterator[Harness]:
        harness = RabbitHarness(tmp_path, rabbitmq_api)
        yield harness
        rabbitmq_api.delete(f"/api/vhosts/{harness.v}")

    def drift_attribute(self) -> tuple[str, Any]:
        return "priority", 7

    def writes_for_base(self) -> int:
        return 2  # the vhost; then exchange, queues, policy, binding and retry queue in one definitions import
