"""The local RabbitMQ is real: a queue created over the management API exists, carries AMQP
messages, and is gone after a delete."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

import pytest

from tests.conftest import AMQP_URL, RabbitVhost

pytestmark = pytest.mark.rabbitmq


def test_queue_created_and_deleted_through_the_management_api(rabbitmq_vhost: RabbitVhost) -> None:
    import pika

    api, vhost = rabbitmq_vhost.client, rabbitmq_vhost.path
    response = api.put(f"/api/queues/{vhost}/orders", json={"durable": True, "arguments": {"x-max-length": 10}})
    assert response.status_code in (201, 204), response.text

    queue = api.get(f"/api/queues/{vhost}/orders").json()
    assert queue["name"] == "orders"
    assert queue["arguments"] == {"x-max-length": 10}

    # The same queue is reachable over AMQP: a message published to it comes back.
    parts = urlsplit(AMQP_URL)
    params = pika.URLParameters(f"{parts.scheme}://{parts.netloc}/{quote(rabbitmq_vhost.name, safe='')}")
    with pika.BlockingConnection(params) as connection:
        channel = connection.channel()
        channel.basic_publish(exchange="", routing_key="orders", body=b"order-1")
        body = None
        for _ in range(50):
            _method, _props, body = channel.basic_get("orders", auto_ack=True)
            if body is not None:
                break
            connection.sleep(0.05)
    assert body == b"order-1"

    assert api.delete(f"/api/queues/{vhost}/orders").status_code == 204
    assert api.get(f"/api/queues/{vhost}/orders").status_code == 404
    assert [q["name"] for q in api.get(f"/api/queues/{vhost}").json()] == []
