"""What the monitoring tests share: messages published with pika (never topology) to make real depth, and
a bounded wait for a condition the brokers reach in their own time (RabbitMQ's statistics tick,
Prometheus's scrape and evaluation)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from tests.conftest import AMQP_URL

T = TypeVar("T")


def publish(vhost: str, queue: str, count: int) -> None:
    """`count` messages (m0, m1, ...) to `queue` through the default exchange of `vhost`."""
    import pika

    parameters = pika.URLParameters(AMQP_URL)
    parameters.virtual_host = vhost
    connection = pika.BlockingConnection(parameters)
    channel = connection.channel()
    for n in range(count):
        channel.basic_publish("", queue, f"m{n}".encode())
    connection.close()


def until(check: Callable[[], T], what: str, seconds: float, every: float = 0.25) -> T:
    """`check()` once it is truthy, asked every `every` seconds; an AssertionError naming `what` after
    `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds:.0f}s: {what}")
        time.sleep(every)
