"""The one list of brokers, and what is looked up across them.

A broker folder is imported only when something asks for it by name (`broker("kafka")`) or asks a
question that needs every broker (the document's sections, the kinds' rules), so `topology --help`
imports none of them and a driver's client library loads only when a target of its kind is opened.
Adding a broker is adding its folder and its name here.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from topology.core.kinds import Attributes, KindRules, plural
from topology.core.resource import Live
from topology.errors import InputError

if TYPE_CHECKING:
    from topology.brokers.base import Broker, Driver

__all__ = ["BROKERS", "broker", "broker_of_kind", "brokers", "held_now", "kind_rules", "open_driver", "open_state",
           "quantity", "rules_for"]

# The brokers, in the order their sections and targets appear in the schema and in `export`. The
# embedded local target (a state file standing in for any broker) is last.
BROKERS = ("rabbitmq", "kafka", "aws", "redis", "local")


@cache
def broker(name: str) -> Broker:
    """The broker whose target kind is `name`."""
    if name not in BROKERS:
        raise InputError(f"unknown broker kind `{name}`; known: {', '.join(BROKERS)}")
    module = importlib.import_module(f"topology.brokers.{name}")
    found: Broker = module.BROKER
    return found


def brokers() -> tuple[Broker, ...]:
    return tuple(broker(name) for name in BROKERS)


@cache
def kind_rules() -> Mapping[str, KindRules]:
    """Every kind's rules, from every broker's `kinds.py`."""
    return {kind: rules for each in brokers() for kind, rules in each.kinds.items()}


@cache
def _kind_brokers() -> Mapping[str, Broker]:
    return {kind: each for each in brokers() for kind in each.kinds}


def broker_of_kind(kind: str) -> Broker:
    """The broker a resource kind ("sqs.queue") belongs to ("aws")."""
    return _kind_brokers()[kind]


_PLAIN = KindRules()


def rules_for(kind: str) -> KindRules:
    return kind_rules().get(kind, _PLAIN)


def held_now(kind: str, address: str, scope: str, after: Attributes | None, live: Mapping[str, Live],
             before: Attributes | None = None) -> int | None:
    """What a destructive or limit-lowering change of `address` would lose, by `live` as read now:
    the kind's `held` rule (a policy: the queues it matches), else the object's own count."""
    rules = rules_for(kind)
    if rules.held is not None:
        if before is None and address in live:
            before = live[address].attributes
        return rules.held(address, scope, before, after, live)
    current = live.get(address)
    return 0 if current is None else current.messages


def quantity(kind: str, count: int | None) -> str:
    """What an object of `kind` holds, for people: "7 pending entries", "an unknown number of messages"."""
    unit = rules_for(kind).unit
    return f"an unknown number of {plural(unit)}" if count is None else f"{count:,} {plural(unit, count)}"


def open_driver(target: Any, *, name: str = "", parallelism: int = 10) -> Driver:
    """Connect to `target` (the `targets:` entry called `name`) with the driver of its kind.

    Each broker parses its URLs into `BrokerURL`s (passwords are `Secret`s, never printed) and gives
    its driver the target's connect and read timeouts in seconds."""
    return broker(target.kind).open(target, name, parallelism)


def open_state(path: Path) -> Driver:
    """The embedded local target kept in the state file `path`."""
    local = broker("local")
    target: Any = local.target
    return local.open(target(kind="local", path=str(path)), "local", 1)
