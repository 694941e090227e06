"""Drivers: one per broker, all behind the interface in `base.py`.

`open_driver` is the one place a target's kind picks its driver; each driver module is imported
only when a target of its kind is used, so the broker clients load only when needed.
"""

from __future__ import annotations

from pathlib import Path

from topology.drivers.base import Driver
from topology.secrets import parse_url
from topology.spec.document import Target

__all__ = ["open_driver"]


def open_driver(target: Target, *, name: str = "", parallelism: int = 10) -> Driver:
    """Connect to `target` (the `targets:` entry called `name`) with the driver of its kind.

    URLs are parsed here into `BrokerURL`s (their passwords are `Secret`s, never printed), and every
    driver gets the target's connect and read timeouts in seconds."""
    what = f"the {{}} of target `{name}`" if name else "the {} of the target"
    if target.kind == "local":
        from topology.drivers.local import LocalDriver

        return LocalDriver(Path(target.path))
    timeouts = {"connect_timeout": target.connect_timeout / 1000, "read_timeout": target.timeout / 1000}
    if target.kind == "rabbitmq":
        from topology.drivers.rabbitmq import RabbitMQDriver

        amqp = parse_url(target.amqp_url, what=what.format("amqp_url"), schemes=("amqp", "amqps")) \
            if target.amqp_url else None
        return RabbitMQDriver(parse_url(target.url, what=what.format("url"), schemes=("http", "https")),
                              amqp_url=amqp, verify=target.ca_file or target.verify, parallelism=parallelism,
                              **timeouts)
    if target.kind == "kafka":
        from topology.drivers.kafka import KafkaDriver

        return KafkaDriver(target.bootstrap_servers, config=target.config, parallelism=parallelism, **timeouts)
    if target.kind == "aws":
        from topology.drivers.aws import AwsDriver

        return AwsDriver(region=target.region, endpoint_url=target.endpoint_url or None, profile=target.profile,
                         parallelism=parallelism, **timeouts)
    if target.kind == "redis":
        from topology.drivers.redis import RedisDriver

        return RedisDriver(parse_url(target.url, what=what.format("url"), schemes=("redis", "rediss", "unix")),
                           **timeouts)
    from topology.drivers.local import LocalDriver

    return LocalDriver(Path(target.path))
