"""When a Kafka create or delete counts as done: every broker lists the topic with a leader for each partition
(or no longer lists it). Checked on kafka-python's answers of each broker, as `_Nodes.topics_settled` reads
them; the same waits run against the real brokers in tests/brokers/test_kafka_*.py."""

from __future__ import annotations

from typing import Any

import pytest

from topology.brokers.kafka.driver import _led, _Nodes
from topology.errors import BrokerError


def _topic(*leaders: int, error: int = 0) -> dict[str, Any]:
    return {"error_code": 0, "partitions": [{"partition_index": i, "leader_id": leader, "error_code": error}
                                            for i, leader in enumerate(leaders)]}


def test_a_topic_is_led_only_with_a_leader_for_every_partition_and_no_error() -> None:
    assert _led(_topic(1, 2, 3))
    assert not _led(None)  # not listed
    assert not _led(_topic())  # no partitions (yet)
    assert not _led(_topic(1, -1))  # a partition without a leader
    assert not _led(_topic(1, 2, error=5))  # LEADER_NOT_AVAILABLE


def _nodes(answers: list[dict[str, dict[str, Any]]]) -> _Nodes:
    nodes = object.__new__(_Nodes)
    nodes._metadata = lambda names: answers  # type: ignore[method-assign]  # each broker's answer
    return nodes


def test_a_topic_is_settled_only_when_every_broker_says_so() -> None:
    led, unled = _topic(1), _topic(-1)
    both = _nodes([{"a": led, "b": led}, {"a": led, "b": unled}])
    assert both.topics_settled(["a", "b"], present=True) == {"b"}
    assert both.topics_settled(["a", "b"], present=False) == {"a", "b"}
    gone = _nodes([{}, {"a": led}])
    assert gone.topics_settled(["a"], present=False) == {"a"}
    assert _nodes([{}, {}]).topics_settled(["a"], present=False) == set()


def test_no_broker_to_ask_is_never_taken_for_every_broker_agreeing() -> None:
    class Brokerless:
        class _client:  # kafka-python's attribute names
            class cluster:
                @staticmethod
                def brokers() -> list[Any]:
                    return []

        _manager = None

    class Driver:
        bootstrap = "127.0.0.1:9092"

    nodes = object.__new__(_Nodes)
    nodes.client = Brokerless()
    nodes.driver = Driver()  # type: ignore[assignment]
    with pytest.raises(BrokerError, match="no broker is known"):
        nodes.topics_settled(["a"], present=True)
