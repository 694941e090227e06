"""Fixtures that give each test an isolated space on the real brokers started by `scripts/brokers up`.

Connection settings come from the environment (`eval "$(scripts/brokers env)"`, which `make test`
does), with the same defaults `scripts/brokers` uses. A test that needs a broker that is not
answering fails, naming the command that starts it; it is never skipped.
"""

from __future__ import annotations

import gc
import os
import sys
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

from tests.faults import SilentServer

START_HINT = "start the brokers with `scripts/brokers up` (or run the whole suite with `make test`)"

RABBITMQ_URL = os.environ.get("RABBITMQ_URL", "http://guest:guest@127.0.0.1:15672")
AMQP_URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
RABBITMQ_CLUSTER_URL = os.environ.get("RABBITMQ_CLUSTER_URL", "http://guest:guest@127.0.0.1:15772")
# rabbitmqctl finds the cluster's Erlang cookie under this HOME
RABBITMQ_CLUSTER_HOME = os.environ.get("RABBITMQ_CLUSTER_HOME",
                                       os.path.expanduser("~/.cache/topology/brokers/rabbitmq-cluster"))
KAFKA_BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")
KAFKA_CLUSTER_BOOTSTRAP = os.environ.get("KAFKA_CLUSTER_BOOTSTRAP", "127.0.0.1:19092,127.0.0.1:19093,127.0.0.1:19094")
AWS_ENDPOINT_URL = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def unique(prefix: str) -> str:
    """A name no other test (or earlier run) uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _unreachable(broker: str, where: str, exc: BaseException) -> None:
    pytest.fail(f"{broker} is not reachable at {where} ({type(exc).__name__}: {exc}); {START_HINT}",
                pytrace=False)


# ---------------------------------------------------------------------------------------- RabbitMQ


class RabbitVhost:
    """A fresh vhost on the real RabbitMQ, and a management API client scoped to it."""

    def __init__(self, client: Any, name: str) -> None:
        self.client = client
        self.name = name
        self.path = quote(name, safe="")

    def get(self, path: str) -> Any:
        return self.client.get(f"/api/{path}")


@pytest.fixture
def rabbitmq_api() -> Iterator[Any]:
    import httpx

    parts = urlsplit(RABBITMQ_URL)
    base = f"{parts.scheme}://{parts.hostname}:{parts.port}"
    with httpx.Client(base_url=base, auth=(parts.username or "guest", parts.password or "guest"),
                      timeout=10) as client:
        try:
            client.get("/api/overview").raise_for_status()
        except httpx.HTTPError as exc:
            _unreachable("RabbitMQ's management API", base, exc)
        yield client


@pytest.fixture
def rabbitmq_vhost(rabbitmq_api: Any) -> Iterator[RabbitVhost]:
    name = unique("test")
    vhost = RabbitVhost(rabbitmq_api, name)
    rabbitmq_api.put(f"/api/vhosts/{vhost.path}").raise_for_status()
    user = urlsplit(RABBITMQ_URL).username or "guest"
    rabbitmq_api.put(f"/api/permissions/{vhost.path}/{user}",
                     json={"configure": ".*", "write": ".*", "read": ".*"}).raise_for_status()
    yield vhost
    rabbitmq_api.delete(f"/api/vhosts/{vhost.path}")


@pytest.fixture
def rabbitmq_cluster_api() -> Iterator[Any]:
    """A management API client on the first node of the three-node cluster (`scripts/brokers up --rabbitmq-nodes 3`),
    once all three nodes run, joined."""
    import httpx

    parts = urlsplit(RABBITMQ_CLUSTER_URL)
    base = f"{parts.scheme}://{parts.hostname}:{parts.port}"
    start = "start it with `scripts/brokers up --rabbitmq-nodes 3`"
    with httpx.Client(base_url=base, auth=(parts.username or "guest", parts.password or "guest"),
                      timeout=30) as client:
        try:
            response = client.get("/api/nodes", params={"columns": "name,running"})
            response.raise_for_status()
        except httpx.HTTPError as exc:
            pytest.fail(f"the three-node RabbitMQ cluster is not reachable at {base} ({exc}); {start}", pytrace=False)
        running = sorted(node["name"] for node in response.json() if node["running"])
        if len(running) != 3:
            pytest.fail(f"the RabbitMQ cluster at {base} has {len(running)} of 3 nodes running ({running}); {start}",
                        pytrace=False)
        yield client


# ------------------------------------------------------------------------------------------- Kafka


@pytest.fixture(autouse=True)
def kafka_clients_freed(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a Kafka test: no open Kafka client is left in a reference cycle. Such a client is destroyed
    by whichever thread the next garbage collection runs in; when that is one of librdkafka's own threads
    (a future's callback runs Python there), librdkafka aborts the whole process. The clients found are
    destroyed here, on the test's thread, and the test fails naming them."""
    yield
    if request.node.get_closest_marker("kafka") is None or "confluent_kafka" not in sys.modules:
        return
    from confluent_kafka.cimpl import Consumer, Producer, _AdminClientImpl

    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        gc.collect()
        leaked = sorted(type(o).__name__ for o in gc.garbage
                        if issubclass(type(o), (Consumer, Producer, _AdminClientImpl)) and _open(o))
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    gc.collect()  # the cycles found, destroyed on this thread
    assert not leaked, (f"{', '.join(leaked)} left in a reference cycle: release Kafka clients explicitly (a "
                        "garbage collection on a librdkafka thread aborts the process)")


def _open(client: Any) -> bool:
    """Whether a confluent-kafka client is not yet closed (a closed one raises RuntimeError when used)."""
    from confluent_kafka import Consumer

    try:
        client.assignment() if isinstance(client, Consumer) else client.poll(0)
    except RuntimeError:
        return False
    return True


@pytest.fixture
def kafka_admin() -> Iterator[Any]:
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    with AdminClient({"bootstrap.servers": KAFKA_BOOTSTRAP, "socket.timeout.ms": 5000}) as admin:
        try:
            admin.list_topics(timeout=10)
        except KafkaException as exc:
            _unreachable("Kafka", KAFKA_BOOTSTRAP, exc)
        yield admin


@pytest.fixture
def kafka_cluster_admin() -> Iterator[Any]:
    """AdminClient on the three-broker cluster (`scripts/brokers up --kafka-brokers 3`)."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    with AdminClient({"bootstrap.servers": KAFKA_CLUSTER_BOOTSTRAP, "socket.timeout.ms": 5000}) as admin:
        try:
            brokers = admin.list_topics(timeout=10).brokers
        except KafkaException as exc:
            pytest.fail(f"the three-broker Kafka cluster is not reachable at {KAFKA_CLUSTER_BOOTSTRAP} ({exc}); "
                        "start it with `scripts/brokers up --kafka-brokers 3`", pytrace=False)
        assert len(brokers) == 3, f"expected 3 brokers at {KAFKA_CLUSTER_BOOTSTRAP}, found {len(brokers)}"
        yield admin


@pytest.fixture
def kafka_prefix(kafka_admin: Any) -> Iterator[str]:
    """A unique topic-name prefix; every topic and consumer group under it is deleted after the test."""
    prefix = unique("test").replace("-", ".") + "."
    yield prefix
    groups = [g.group_id for g in kafka_admin.list_consumer_groups().result().valid if g.group_id.startswith(prefix)]
    if groups:
        for future in kafka_admin.delete_consumer_groups(groups).values():
            future.result()
    leftovers = [name for name in kafka_admin.list_topics(timeout=10).topics if name.startswith(prefix)]
    if leftovers:
        for future in kafka_admin.delete_topics(leftovers, operation_timeout=30).values():
            future.result()


# ------------------------------------------------------------------------------------ SQS and SNS


@pytest.fixture
def aws_clients() -> Iterator[tuple[Any, Any]]:
    """boto3 SQS and SNS clients on moto's server, whose state is reset before the test."""
    import boto3
    import httpx

    try:
        httpx.post(f"{AWS_ENDPOINT_URL}/moto-api/reset", timeout=5).raise_for_status()
    except httpx.HTTPError as exc:
        _unreachable("moto's server (SQS, SNS)", AWS_ENDPOINT_URL, exc)
    settings = {"endpoint_url": AWS_ENDPOINT_URL, "region_name": "us-east-1",
                "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    yield boto3.client("sqs", **settings), boto3.client("sns", **settings)


# ------------------------------------------------------------------------------------------- Redis


@pytest.fixture
def redis_prefix() -> Iterator[tuple[Any, str]]:
    """A Redis client and a unique key prefix; every key under it is deleted after the test."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, decode_responses=True, socket_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        _unreachable("Redis", REDIS_URL, exc)
    prefix = unique("test") + ":"
    yield client, prefix
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


# ------------------------------------------------------------------------------- silent endpoints


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    """A local port that accepts connections (and keeps them) but never answers a byte."""
    with SilentServer() as server:
        yield server
