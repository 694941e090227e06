"""The two ways the Kafka driver reads topic configs give the same: librdkafka's DescribeConfigs (under
1,000 topics in scope) and kafka-python's, without synonyms (from 1,000, where it is faster); on topics
whose overrides cover the kinds of values Kafka has, and on a topic that does not exist."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import KAFKA_BOOTSTRAP
from topology.brokers.kafka.driver import KafkaDriver
from topology.errors import BrokerError

pytestmark = pytest.mark.kafka

OVERRIDES: list[dict[str, str]] = [
    {},
    {"cleanup.policy": "compact"},
    {"cleanup.policy": "compact,delete", "min.compaction.lag.ms": "60000"},
    {"retention.ms": "-1", "retention.bytes": "1073741824"},
    {"message.timestamp.type": "LogAppendTime", "max.message.bytes": "2097152"},
    {"segment.ms": "3600000", "compression.type": "zstd", "unclean.leader.election.enable": "true"},
]


@pytest.fixture
def topics(kafka_admin: Any, kafka_prefix: str) -> list[str]:
    from confluent_kafka.admin import NewTopic

    names = [f"{kafka_prefix}t{i}" for i in range(len(OVERRIDES))]
    futures = kafka_admin.create_topics([NewTopic(name, 1, 1, config=config)
                                         for name, config in zip(names, OVERRIDES, strict=True)])
    for future in futures.values():
        future.result()
    return names


def test_both_reads_give_each_topics_overrides(topics: list[str]) -> None:
    driver = KafkaDriver(KAFKA_BOOTSTRAP)
    try:
        librdkafka = driver._librdkafka_topic_configs(topics)
        kafka_python = driver._node_probe().topic_configs(topics, "describing topic configs")
    finally:
        driver.close()
    assert librdkafka == kafka_python
    assert set(librdkafka) == set(topics)
    assert librdkafka[topics[0]] == {} and librdkafka[topics[1]] != {}  # overrides only, not defaults


def test_both_reads_refuse_a_topic_that_does_not_exist(kafka_prefix: str) -> None:
    driver = KafkaDriver(KAFKA_BOOTSTRAP)
    try:
        errors = []
        for read in (lambda: driver._librdkafka_topic_configs([f"{kafka_prefix}gone"]),
                     lambda: driver._node_probe().topic_configs([f"{kafka_prefix}gone"], "describing topic configs")):
            with pytest.raises(BrokerError) as raised:
                read()
            errors.append(str(raised.value))
    finally:
        driver.close()
    for error in errors:
        assert KAFKA_BOOTSTRAP in error and "describing topic configs" in error, error
