"""On the three-node RabbitMQ cluster (`scripts/brokers up --rabbitmq-nodes 3`): how many nodes hold a
quorum queue or a stream and which node leads it, as the file says."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

from tests.cli import with_file
from tests.conftest import RABBITMQ_CLUSTER_HOME, RABBITMQ_CLUSTER_URL, unique

pytestmark = pytest.mark.rabbitmq

RABBITMQCTL = "/usr/lib/rabbitmq/bin/rabbitmqctl"  # scripts/brokers runs the cluster from Debian's package


@dataclass
class Cluster:
    """The cluster's nodes (in the order of their ports), a fresh vhost on it, and ways to reach each node."""

    api: Any  # httpx.Client on the first node's management API
    vhost: str
    nodes: list[str]
    http_ports: dict[str, int]
    amqp_ports: dict[str, int]

    def file(self, node: str, queues: str, *, more: str = "", manage: str = "") -> str:
        """A topology file whose target is NODE: its management API, and its AMQP port for the lock."""
        parts = urlsplit(RABBITMQ_CLUSTER_URL)
        login = f"{parts.username or 'guest'}:{parts.password or 'guest'}@{parts.hostname}"
        return f"""version: 1
targets:
  rabbit: {{kind: rabbitmq, url: "http://{login}:{self.http_ports[node]}",
           amqp_url: "amqp://{login}:{self.amqp_ports[node]}/%2F"}}
{manage}rabbitmq:
  target: rabbit
  vhosts:
    {self.vhost}:
{more}      queues:
{queues}"""

    def queue(self, name: str) -> dict[str, Any]:
        response = self.api.get(f"/api/queues/{quote(self.vhost, safe='')}/{quote(name, safe='')}")
        response.raise_for_status()
        return dict(response.json())

    def queue_states(self) -> dict[str, str]:
        listing = self.api.get(f"/api/queues/{quote(self.vhost, safe='')}", params={"columns": "name,state"})
        return {q["name"]: q.get("state", "") for q in listing.json()}

    def bound(self, exchange: str) -> list[str]:
        """The queues bound to EXCHANGE, as the management API lists them."""
        path = f"/api/exchanges/{quote(self.vhost, safe='')}/{quote(exchange, safe='')}/bindings/source"
        return sorted(b["destination"] for b in self.api.get(path).json())

    def ctl(self, node: str, *args: str) -> None:
        result = subprocess.run([RABBITMQCTL, "-n", node, *args], env={**os.environ, "HOME": RABBITMQ_CLUSTER_HOME},
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"rabbitmqctl -n {node} {' '.join(args)}: {result.stdout}{result.stderr}"

    def running(self) -> list[str]:
        nodes = self.api.get("/api/nodes", params={"columns": "name,running"}).json()
        return sorted(n["name"] for n in nodes if n["running"])


def _ports(listeners: list[dict[str, Any]], protocol: str) -> dict[str, int]:
    return {listener["node"]: listener["port"] for listener in listeners if listener["protocol"] == protocol}


@pytest.fixture
def cluster(rabbitmq_cluster_api: Any) -> Iterator[Cluster]:
    listeners = rabbitmq_cluster_api.get("/api/overview").json()["listeners"]
    http_ports = _ports(listeners, "http")
    found = Cluster(rabbitmq_cluster_api, unique("cluster"), sorted(http_ports, key=http_ports.__getitem__),
                    http_ports, _ports(listeners, "amqp"))
    yield found
    for node in found.nodes:  # a test that failed with a node stopped leaves the cluster whole again
        if node not in found.running():
            found.ctl(node, "start_app")
    rabbitmq_cluster_api.delete(f"/api/vhosts/{quote(found.vhost, safe='')}")


def _until(condition: Callable[[], Any], what: str, seconds: float = 10) -> Any:
    """The condition's first true value; the management API shows a stream's members with its first statistics."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"not within {seconds:g}s: {what}")


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_group_size_and_leader_of_quorum_queues_and_streams(tmp_path: Path, cluster: Cluster) -> None:
    first, second, third = cluster.nodes
    # Created through the second node's management API: with client-local, that node leads.
    near_second = """\
        orders: {type: quorum, arguments: {x-quorum-initial-group-size: 2, x-queue-leader-locator: client-local}}
        payments: {type: quorum}
        events: {type: stream, arguments: {x-initial-cluster-size: 2, x-queue-leader-locator: client-local}}
"""
    _ok(with_file(tmp_path, cluster.file(second, near_second), "apply", "--auto-approve"))
    orders, payments = cluster.queue("orders"), cluster.queue("payments")
    assert orders["leader"] == second and len(orders["members"]) == 2 and second in orders["members"]
    assert sorted(payments["members"]) == sorted(cluster.nodes)  # no group size: every node holds it
    events = _until(lambda: (found := cluster.queue("events")).get("members") and found, "the stream's members")
    assert events["node"] == second and len(events["members"]) == 2 and second in events["members"]

    # The same file through the third node: one more quorum queue, led by the third node; the rest unchanged.
    near_third = near_second + "        refunds: {type: quorum, arguments: {x-queue-leader-locator: client-local}}\n"
    _ok(with_file(tmp_path, cluster.file(third, near_third), "apply", "--auto-approve"))
    assert cluster.queue("refunds")["leader"] == third
    assert cluster.queue("orders")["leader"] == second

    # Read back through any node, the arguments are what the file says: nothing to change.
    result = with_file(tmp_path, cluster.file(first, near_third), "plan", "--detailed-exitcode")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No changes" in result.stdout
