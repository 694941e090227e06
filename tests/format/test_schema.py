"""The committed JSON Schema is what `topology schema` prints, is valid draft-07, and agrees with
the loader on the examples."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "schemas" / "topology.schema.json"


def test_committed_schema_is_current() -> None:
    printed = subprocess.run([sys.executable, "-m", "topology", "schema"], capture_output=True, text=True, check=True)
    assert printed.stdout == COMMITTED.read_text(), \
        "schemas/topology.schema.json is stale: run `topology schema > schemas/topology.schema.json`"


def test_schema_is_valid_draft_07() -> None:
    schema = json.loads(COMMITTED.read_text())
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    jsonschema.Draft7Validator.check_schema(schema)
    assert "$defs" not in json.dumps(schema)  # draft-07 speaks of definitions


def test_examples_without_templates_satisfy_the_schema() -> None:
    """Templated examples are checked as an editor sees them in test_schema_editors.py."""
    validator = jsonschema.Draft7Validator(json.loads(COMMITTED.read_text()))
    checked = 0
    for path in sorted((ROOT / "examples").glob("*.topology.yaml")):
        text = path.read_text()
        if "{{" in text:
            continue
        errors = [e.message for e in validator.iter_errors(yaml.safe_load(text))]
        assert errors == [], f"{path.name}: {errors}"
        checked += 1
    assert checked >= 3


def test_schema_rejects_what_the_loader_rejects() -> None:
    validator = jsonschema.Draft7Validator(json.loads(COMMITTED.read_text()))
    bad = {"version": 1, "rabbitmq": {"vhosts": {"shop": {"queues": {"billing": {"type": "quorom"}}}}}}
    assert not validator.is_valid(bad)
    assert not validator.is_valid({"version": 1, "kafka": {"topics": {"t": {"partitons": 3}}}})
    assert validator.is_valid({"version": 1, "sqs": {"queues": {"q": {"delay": "5s", "max_message_size": "256KiB"}}}})


def test_every_field_is_described() -> None:
    """Editors show these descriptions on hover; a field without one is a hole in the docs."""
    from pydantic import BaseModel

    from topology.brokers.aws import spec as aws
    from topology.brokers.kafka import spec as kafka
    from topology.brokers.local import spec as local
    from topology.brokers.rabbitmq import spec as rabbitmq
    from topology.brokers.redis import spec as redis
    from topology.format import common, document

    missing = []
    for module in (aws, common, document, kafka, local, rabbitmq, redis):
        for model in vars(module).values():
            if isinstance(model, type) and issubclass(model, BaseModel) and model.__module__ == module.__name__:
                missing += [f"{model.__name__}.{name}" for name, info in model.model_fields.items()
                            if not info.description]
    assert missing == []
