"""Drivers: one per broker, all behind the interface in `base.py`.

`open_driver` is the one place a target's kind picks its driver; each driver module is imported
only when a target of its kind is used, so the broker clients load only when needed.
"""

from __future__ import annotations

from pathlib import Path

from topology.drivers.base import Driver
from topology.spec.document import Target

__all__ = ["open_driver"]


def open_driver(target: Target, *, parallelism: int = 10) -> Driver:
    """Connect to `target` (a `targets:` entry) with the driver of its kind."""
    if target.kind == "rabbitmq":
        from topology.drivers.rabbitmq import RabbitMQDriver

        return RabbitMQDriver(target.url, amqp_url=target.amqp_url, verify=target.ca_file or target.verify,
                              parallelism=parallelism)
    if target.kind == "kafka":
        from topology.drivers.kafka import KafkaDriver

        return KafkaDriver(target.bootstrap_servers, config=target.config, parallelism=parallelism)
    if target.kind == "aws":
        from topology.drivers.aws import AwsDriver

        return AwsDriver(region=target.region, endpoint_url=target.endpoint_url or None, profile=target.profile,
                         parallelism=parallelism)
    if target.kind == "redis":
        from topology.drivers.redis import RedisDriver

        return RedisDriver(target.url)
    from topology.drivers.local import LocalDriver

    return LocalDriver(Path(target.path))
