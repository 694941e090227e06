"""Every example is valid, and `render` shows the objects its dead_letter and retry expand into."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from topology.cli import app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# What each example's render must contain beyond what the file spells out (read from FORMAT's rules).
GENERATED = {
    "rabbitmq-retry.topology.yaml": {
        "rabbitmq/shop/queue/billing.retry.5s": {"x-message-ttl": 5000, "x-dead-letter-exchange": "",
                                                 "x-dead-letter-routing-key": "billing"},
        "rabbitmq/shop/queue/billing.retry.30s": {"x-message-ttl": 30000},
        "rabbitmq/shop/queue/billing.retry.5m": {"x-message-ttl": 300000},
        "rabbitmq/shop/queue/billing.dlq": {},
    },
    "kafka-events.topology.yaml": {
        "kafka/topic/shop.orders.retry.1m": None,
        "kafka/topic/shop.orders.retry.10m": None,
        "kafka/topic/shop.orders.dlt": None,
    },
    "sns-sqs-fanout.topology.yaml": {
        "sqs/queue/billing-retry-30s": None,
        "sqs/queue/billing-retry-5m": None,
        "sqs/queue/invoices-dlq.fifo": None,
    },
    "redis-streams.topology.yaml": {
        "redis/stream/orders:retry:5s": None,
        "redis/group/orders:retry:1m/billing": None,
        "redis/group/orders:dlq/dlq": None,
    },
    "shop.topology.yaml": {
        "rabbitmq/shop/queue/order-intake.dlq": None,
        "rabbitmq/shop/queue/order-intake.retry.10s": None,
        "kafka/topic/shop.orders.dlt": None,
        "sqs/queue/shop-emails-dlq": None,
    },
}


def _render(*args: str) -> dict[str, object]:
    result = CliRunner().invoke(app, ["render", *args])
    assert result.exit_code == 0, result.output
    rendered: dict[str, object] = yaml.safe_load(result.stdout)
    return rendered


def test_every_example_is_covered() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("*.topology.yaml")) == sorted(GENERATED)


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_example_validates(name: str) -> None:
    text = (EXAMPLES / name).read_text()
    assert text.startswith("# "), "each example documents itself in a comment header"
    result = CliRunner().invoke(app, ["validate", str(EXAMPLES / name)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Valid: 1 file")


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_render_shows_the_expansion(name: str) -> None:
    resources = _render(str(EXAMPLES / name))["resources"]
    assert isinstance(resources, dict)
    for address, arguments in GENERATED[name].items():
        assert address in resources, f"{address} missing from the render of {name}"
        assert resources[address]["generated_by"]
        if arguments is not None:
            assert resources[address]["attributes"]["arguments"] == {
                **resources[address]["attributes"]["arguments"], **arguments}


def test_rabbitmq_queue_points_at_its_dead_letter_queue() -> None:
    resources = _render(str(EXAMPLES / "rabbitmq-retry.topology.yaml"))["resources"]
    assert isinstance(resources, dict)
    billing = resources["rabbitmq/shop/queue/billing"]["attributes"]
    assert billing["type"] == "quorum"
    assert billing["arguments"] == {"x-delivery-limit": 10, "x-dead-letter-exchange": "",
                                    "x-dead-letter-routing-key": "billing.dlq"}
    assert resources["rabbitmq/shop/queue/billing.dlq"]["attributes"]["type"] == "quorum"


def test_render_hides_passwords() -> None:
    result = CliRunner().invoke(app, ["render", str(EXAMPLES / "rabbitmq-retry.topology.yaml")],
                                env={"BILLING_SVC_PASSWORD": "s3cr3t-pw", "RABBITMQ_URL": "http://ops:hunter2@h:15672"})
    assert result.exit_code == 0
    assert "s3cr3t-pw" not in result.output and "hunter2" not in result.output
    assert "password: (sensitive)" in result.stdout
    assert "http://ops:***@h:15672" in result.stdout


def test_prod_environment_overlays_targets_and_vars() -> None:
    rendered = _render(str(EXAMPLES / "shop.topology.yaml"), "--env", "prod")
    resources = rendered["resources"]
    assert isinstance(resources, dict)
    orders = resources["kafka/topic/shop.orders"]
    assert (orders["target"], orders["attributes"]["partitions"], orders["attributes"]["replication_factor"]) == (
        "events", 12, 3)
    assert resources["rabbitmq/shop/queue/order-intake"]["attributes"]["type"] == "quorum"
    assert rendered["manage"] == {"prune": True, "include": ["kafka/topic/shop.*", "sqs/queue/shop-*"], "exclude": []}

    dev = _render(str(EXAMPLES / "shop.topology.yaml"), "--env", "dev")["resources"]
    assert isinstance(dev, dict)
    assert (dev["kafka/topic/shop.orders"]["target"], dev["kafka/topic/shop.orders"]["attributes"]["partitions"]) == (
        "local", 1)


def test_var_on_the_command_line_wins() -> None:
    resources = _render(str(EXAMPLES / "kafka-events.topology.yaml"), "--var", "partitions=24")["resources"]
    assert isinstance(resources, dict)
    assert resources["kafka/topic/shop.orders.retry.1m"]["attributes"]["partitions"] == 24


def test_examples_together_report_the_addresses_they_share() -> None:
    result = CliRunner().invoke(app, ["validate", *sorted(str(p) for p in EXAMPLES.glob("*.topology.yaml"))])
    assert result.exit_code == 1
    assert "`kafka/topic/shop.orders` is declared twice: here and at " in result.stderr
    assert "kafka-events.topology.yaml:18:5" in result.stderr
