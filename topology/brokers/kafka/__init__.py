"""Kafka: topics and their configs, consumer groups and ACLs, through the admin API (librdkafka),
waiting on every broker of the cluster until a change is visible there."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from topology.brokers.base import Broker, NamingTemplate, Section
from topology.brokers.kafka import check, expand, export, kinds, spec

if TYPE_CHECKING:
    from topology.brokers.base import Driver

__all__ = ["BROKER"]


def _open(target: Any, name: str, parallelism: int) -> Driver:
    from topology.brokers.kafka.driver import KafkaDriver

    return KafkaDriver(target.bootstrap_servers, config=target.config, parallelism=parallelism,
                       **target.timeouts())


BROKER = Broker(
    name="kafka",
    target=spec.KafkaTarget,
    address_field="bootstrap_servers",
    open=_open,
    sections=(Section("kafka", spec.Kafka, "Kafka topics, consumer groups and ACLs.", expand.expand_kafka),),
    naming=(NamingTemplate("kafka_retry_topic", "{{ topic }}.retry.{{ delay }}"),
            NamingTemplate("kafka_dead_letter_topic", "{{ topic }}.dlt")),
    kinds=kinds.KINDS,
    checks=check.CHECKS,
    check_all=check.check_collisions,
    export=export.export_kafka,
    export_target=export.export_target,
    target_from_url=lambda url: spec.KafkaTarget(kind="kafka", bootstrap_servers=url),
)
