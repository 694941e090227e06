"""Every broker folder has the same shape: the same modules with the same entry points, tied into one
`BROKER` that the registry lists. A new broker that follows the steps in the README passes this."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import topology
from topology.brokers.base import Broker, Driver
from topology.brokers.registry import BROKERS, broker, kind_rules
from topology.format.common import TargetSpec

FOLDERS = Path(topology.__file__).parent / "brokers"
MODULES = {"__init__", "spec", "expand", "check", "kinds", "driver", "export"}
REMOTE = [name for name in BROKERS if name != "local"]


def test_the_registry_lists_every_broker_folder() -> None:
    on_disk = {p.name for p in FOLDERS.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert on_disk == set(BROKERS)


@pytest.mark.parametrize("name", REMOTE)
def test_a_broker_folder_has_every_module(name: str) -> None:
    present = {p.stem for p in (FOLDERS / name).glob("*.py")}
    assert present >= MODULES, f"brokers/{name}/ lacks {sorted(MODULES - present)}"


@pytest.mark.parametrize("name", REMOTE)
def test_a_broker_folder_ties_its_modules_into_one_broker(name: str) -> None:
    found = broker(name)
    assert isinstance(found, Broker) and found.name == name
    modules = {m: importlib.import_module(f"topology.brokers.{name}.{m}") for m in MODULES - {"__init__"}}
    # spec: the target entry, of this kind, and every section's model
    assert found.target.__module__ == modules["spec"].__name__ and issubclass(found.target, TargetSpec)
    assert found.target.model_fields["kind"].annotation.__args__ == (name,)  # type: ignore[union-attr]
    assert found.address_field in found.target.model_fields
    assert found.sections, "a broker declares at least one section of the file"
    for section in found.sections:
        assert section.model.__module__ == modules["spec"].__name__
        assert section.expand.__module__ == modules["expand"].__name__
    # kinds: its own, named after its sections, and all of them in the registry's table
    assert found.kinds is modules["kinds"].KINDS
    sections = {s.key for s in found.sections}
    assert {kind.split(".", 1)[0] for kind in found.kinds} <= sections
    assert all(kind_rules()[kind] is rules for kind, rules in found.kinds.items())
    # check: per-kind rules for its own kinds only
    assert found.checks is modules["check"].CHECKS and set(found.checks) <= set(found.kinds)
    # export: a section writer and a target writer, from export.py
    assert found.export is not None and found.export.__module__ == modules["export"].__name__
    assert found.export_target is not None and found.export_target.__module__ == modules["export"].__name__
    # driver: one Driver, opened lazily by the broker
    drivers = [c for _, c in inspect.getmembers(modules["driver"], inspect.isclass)
               if issubclass(c, Driver) and c is not Driver and c.__module__ == modules["driver"].__name__]
    assert len(drivers) == 1


def test_drivers_and_their_clients_load_only_when_a_target_is_opened() -> None:
    """Asking every broker for its sections, kinds and checks (what `validate` does) imports no driver."""
    code = ("import sys; from topology.brokers.registry import brokers, kind_rules; brokers(); kind_rules(); "
            "print(sorted(m for m in sys.modules if m.endswith('.driver') or m.split('.')[0] in "
            "('pika', 'confluent_kafka', 'boto3', 'redis', 'kafka', 'httpx')))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


def test_no_two_brokers_claim_a_section_kind_or_naming_field() -> None:
    every = [broker(name) for name in BROKERS]
    for facts in ([s.key for b in every for s in b.sections], [k for b in every for k in b.kinds],
                  [t.field for b in every for t in b.naming]):
        assert len(facts) == len(set(facts))


def test_generic_layers_name_no_broker_folder() -> None:
    """Besides the import contract (`make lint`): not even a string names a broker folder's module."""
    offenders = []
    for layer in ("core", "format", "engine", "render"):
        for path in (FOLDERS.parent / layer).rglob("*.py"):
            text = path.read_text()
            offenders += [f"{path.name}: {name}" for name in BROKERS if f"topology.brokers.{name}" in text]
    assert offenders == []
