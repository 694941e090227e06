"""The Kafka driver passes the driver contract against the real broker.

Kafka topics have no attribute whose change forces a replace, so the two replace tests of the suite
are replaced here by their Kafka counterparts: deleting a topic that holds messages is refused
without --allow-data-loss, and deleting an empty one needs only --allow-delete."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import KAFKA_BOOTSTRAP, unique
from tests.contract.suite import ContractSuite, Harness

pytestmark = pytest.mark.kafka


class KafkaHarness(Harness):
    def __init__(self, folder: Path, admin: Any) -> None:
        super().__init__(folder)
        self.admin = admin
        self.prefix = unique("contract").replace("-", ".") + "."
        self.queue = f"kafka/topic/{self.prefix}orders"
        self.updatable = self.queue
        self.removable = f"kafka/topic/{self.prefix}emails"

    def document(self, variant: str) -> str:
        retention = "2d" if variant == "update" else "1d"
        emails = "" if variant.startswith("smaller") else f"    {self.prefix}emails: {{partitions: 1}}\n"
        manage = f"manage: {{prune: true, include: ['kafka/topic/{self.prefix}*']}}\n" \
            if variant == "smaller-pruned" else ""
        return f"""version: 1
targets:
  events: {{kind: kafka, bootstrap_servers: "{KAFKA_BOOTSTRAP}"}}
{manage}kafka:
  target: events
  topics:
    {self.prefix}orders:
      partitions: 3
      config: {{retention.ms: {retention}}}
{emails}  consumer_groups:
    {self.prefix}billing: {{topics: [{self.prefix}orders], initial_offset: earliest}}
"""


    def extra_args(self, args: tuple[str, ...]) -> list[str]:
        # Kafka frees a killed holder's lock (its lock-group membership) only when its session times
        # out (6 s), not when its connection drops: an apply right after a SIGKILL waits for that.
        return ["--lock-timeout", "20s"] if args[:1] == ("apply",) else []

    def set_messages(self, address: str, count: int) -> None:
        from confluent_kafka import Producer

        topic = address.removeprefix("kafka/topic/")
        producer = Producer({"bootstrap.servers": KAFKA_BOOTSTRAP})
        for index in range(count):
            producer.produce(topic, f"message {index}".encode())
        assert producer.flush(30) == 0

    def live(self) -> dict[str, dict[str, Any]]:
        from confluent_kafka.admin import ConfigResource, ConfigSource, ResourceType

        topics = [t for t in self.admin.list_topics(timeout=10).topics if t.startswith(self.prefix)]
        live: dict[str, dict[str, Any]] = {}
        if not topics:
            return live
        described = self.admin.describe_configs([ConfigResource(ResourceType.TOPIC, t) for t in topics])
        for resource, future in described.items():
            config = {k: e.value for k, e in future.result().items()
                      if e.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value}
            live[f"kafka/topic/{resource.name}"] = config
        return live

    def drift_change(self, address: str, attribute: str, value: Any) -> None:
        from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

        topic = address.removeprefix("kafka/topic/")
        entries = [ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET) for k, v in value.items()]
        for future in self.admin.incremental_alter_configs(
                [ConfigResource(ResourceType.TOPIC, topic, incremental_configs=entries)]).values():
            future.result()

    def drift_remove(self, address: str) -> None:
        topic = address.removeprefix("kafka/topic/")
        self.admin.delete_topics([topic], operation_timeout=30)[topic].result()
        deadline = time.monotonic() + 30
        while topic in self.admin.list_topics(timeout=10).topics and time.monotonic() < deadline:
            time.sleep(0.2)


class TestKafkaDriver(ContractSuite):
    @pytest.fixture
    def harness(self, tmp_path: Path, kafka_admin: Any) -> Iterator[Harness]:
        harness = KafkaHarness(tmp_path, kafka_admin)
        yield harness
        topics = [t for t in kafka_admin.list_topics(timeout=10).topics if t.startswith(harness.prefix)]
        if topics:
            for future in kafka_admin.delete_topics(topics, operation_timeout=30).values():
                future.result()
        kafka_admin.delete_consumer_groups([f"{harness.prefix}billing"])

    def drift_attribute(self) -> tuple[str, Any]:
        return "config", {"retention.ms": "1000"}

    def writes_for_base(self) -> int:
        return 2  # topics; then the consumer group

    def test_immutable_change_is_a_replace_that_guards_messages(self, harness: Harness) -> None:
        self.check_delete_guards_messages(harness, 25)


    def test_replacing_an_empty_queue_needs_no_flag(self, harness: Harness) -> None:
        self.check_empty_delete_needs_no_data_flag(harness)
