"""RabbitMQ: vhosts, exchanges, queues, bindings, policies, users and permissions, through the
management API (and AMQP for exact counts, the apply lock and live routing probes)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from topology.brokers.base import Broker, NamingTemplate, Section
from topology.brokers.rabbitmq import check, expand, export, kinds, routing, spec
from topology.core.secrets import parse_url

if TYPE_CHECKING:
    from topology.brokers.base import Driver

__all__ = ["BROKER"]


def _open(target: Any, name: str, parallelism: int) -> Driver:
    from topology.brokers.rabbitmq.driver import RabbitMQDriver

    what = f"the {{}} of target `{name}`" if name else "the {} of the target"
    amqp = parse_url(target.amqp_url, what=what.format("amqp_url"), schemes=("amqp", "amqps")) \
        if target.amqp_url else None
    return RabbitMQDriver(parse_url(target.url, what=what.format("url"), schemes=("http", "https")),
                          amqp_url=amqp, verify=target.ca_file or target.verify, parallelism=parallelism,
                          **target.timeouts())


BROKER = Broker(
    name="rabbitmq",
    target=spec.RabbitMQTarget,
    address_field="url",
    open=_open,
    sections=(Section("rabbitmq", spec.RabbitMQ, "RabbitMQ vhosts, exchanges, queues, policies, users.",
                      expand.expand_rabbitmq),),
    naming=(NamingTemplate("rabbitmq_retry_queue", "{{ queue }}.retry.{{ delay }}"),
            NamingTemplate("rabbitmq_dead_letter_queue", "{{ queue }}.dlq")),
    kinds=kinds.KINDS,
    checks=check.CHECKS,
    publishes=routing.publishes,
    check_publish=check.check_publish,
    route=routing.route_expectation,
    export=export.export_rabbitmq,
    export_target=export.export_target,
    target_from_url=lambda url: spec.RabbitMQTarget(kind="rabbitmq", url=url),
    url_schemes=("http://", "https://"),
)
