"""The published schema as editors, SchemaStore and schema checkers use it: plain draft-07 (no
`discriminator`, no keyword outside draft-07), optional fields that are not offered `null`, and templated
files (`partitions: {{ vars.partitions }}`) that are not flagged before they are rendered."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import jsonschema.exceptions
import pytest
import yaml

from topology.format.schema import TEMPLATE_PATTERN

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "schemas" / "topology.schema.json"
EXAMPLES = sorted((ROOT / "examples").glob("*.topology.yaml"))
TEMPLATED = [path for path in EXAMPLES if "{{" in path.read_text()]

# Every keyword of draft-07 (core, validation, hyper-schema-free meta-data); anything else is an
# "unknown keyword" to ajv's strict mode and to SchemaStore's checks.
DRAFT_07 = {
    "$schema", "$id", "$ref", "$comment", "definitions", "title", "description", "default", "examples",
    "readOnly", "writeOnly", "type", "enum", "const", "multipleOf", "maximum", "exclusiveMaximum", "minimum",
    "exclusiveMinimum", "maxLength", "minLength", "pattern", "format", "contentMediaType", "contentEncoding",
    "items", "additionalItems", "maxItems", "minItems", "uniqueItems", "contains", "maxProperties",
    "minProperties", "required", "properties", "patternProperties", "additionalProperties", "dependencies",
    "propertyNames", "if", "then", "else", "allOf", "anyOf", "oneOf", "not",
}
NAME_MAPS = {"properties", "patternProperties", "definitions", "dependencies"}


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(COMMITTED.read_text())
    return loaded


def schemas_in(node: Any, path: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every (sub)schema with its JSON pointer; the names under `properties` or `definitions` are not
    keywords."""
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            if key in NAME_MAPS and isinstance(value, dict):
                for name, sub in value.items():
                    yield from schemas_in(sub, f"{path}/{key}/{name}")
            elif key in ("enum", "const", "default", "examples", "required"):
                continue
            else:
                yield from schemas_in(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from schemas_in(item, f"{path}/{index}")


class EditorLoader(yaml.SafeLoader):
    """YAML as yaml-language-server reads it: an unquoted `{{ vars.x }}` is a flow mapping whose one key
    is itself a mapping; the editor counts that key but it is no property name (kept here as its text)."""


def _editor_mapping(loader: EditorLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.CollectionNode):
            key: Any = key_node.start_mark.buffer[key_node.start_mark.index:key_node.end_mark.index]
        else:
            key = loader.construct_object(key_node, deep=deep)
        mapping[key] = loader.construct_object(value_node, deep=deep)
    return mapping


EditorLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _editor_mapping)  # type: ignore[arg-type]

# A whole value written as an unquoted template, e.g. `partitions: {{ vars.partitions }}`.
UNQUOTED = re.compile(r"^(\s*[\w.-]+:\s+)(\{\{[^\n]*\}\})\s*$", re.M)


def quoted(text: str) -> str:
    """The same file with each whole-value template quoted: the form for strict YAML parsers."""
    return UNQUOTED.sub(lambda m: f'{m.group(1)}"{m.group(2)}"', text)


def test_the_templated_examples_write_templates_unquoted() -> None:
    """Guards the tests below: they are about what an editor makes of an unquoted `{{ }}`."""
    assert TEMPLATED, "no example uses a template"
    for path in TEMPLATED:
        assert UNQUOTED.search(path.read_text()), path.name
        with pytest.raises(yaml.YAMLError):  # unquoted, `{{ x }}` is no string to a YAML parser
            yaml.safe_load(path.read_text())


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_as_an_editor_sees_it_satisfies_the_schema(path: Path, schema: dict[str, Any]) -> None:
    document = yaml.load(path.read_text(), Loader=EditorLoader)
    errors = [f"{e.json_path}: {e.message}" for e in jsonschema.Draft7Validator(schema).iter_errors(document)]
    assert errors == [], f"{path.name}: {errors}"


@pytest.mark.parametrize("path", TEMPLATED, ids=lambda p: p.name)
def test_quoted_templates_satisfy_the_schema_and_the_loader(path: Path, schema: dict[str, Any],
                                                            tmp_path: Path) -> None:
    """Quoted (`"{{ vars.x }}"`), a templated file is plain YAML for check-jsonschema too, and topology
    reads it as it reads the unquoted form."""
    text = quoted(path.read_text())
    assert "{{" in text and not UNQUOTED.search(text)
    errors = [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(yaml.safe_load(text))]
    assert errors == [], f"{path.name}: {errors}"
    copy = tmp_path / path.name
    copy.write_text(text)
    env = ["--env", "prod"] if "prod:" in text else []
    renders = [subprocess.run([sys.executable, "-m", "topology", "render", str(file), *env],
                              capture_output=True, text=True, cwd=ROOT) for file in (path, copy)]
    assert renders[0].returncode == 0, renders[0].stderr
    assert renders[1].returncode == 0, renders[1].stderr
    assert renders[1].stdout.replace(str(copy), str(path)) == renders[0].stdout


def test_a_template_is_accepted_where_a_number_boolean_or_choice_is_expected(schema: dict[str, Any]) -> None:
    validator = jsonschema.Draft7Validator(schema)
    for template in ("{{ vars.x }}", " {{ vars.x | int }} ", {"{ vars.x }": None}):
        assert validator.is_valid({"version": 1, "kafka": {"topics": {"t": {
            "partitions": template, "config": {"retention.ms": template}}}},
            "rabbitmq": {"vhosts": {"v": {"queues": {"q": {"type": template, "durable": template,
                                                             "message_ttl": template}}}}}}), template
    assert validator.is_valid({"version": 1, "kafka": {"topics": {"t": {"dead_letter": "{{ vars.dl }}"}}}})
    # Only a whole value is a template; a template inside other text is still checked.
    assert not validator.is_valid({"version": 1, "kafka": {"topics": {"t": {"partitions": "3{{ x }}"}}}})
    assert not validator.is_valid({"version": 1, "rabbitmq": {"vhosts": {"v": {"queues": {"q": {"type": "quorom"}}}}}})
    # A mapping with values is no unquoted template; where an object is accepted too, only the quoted form is.
    assert not validator.is_valid({"version": 1, "kafka": {"topics": {"t": {"partitions": {"a": 1}}}}})
    assert not validator.is_valid({"version": 1, "kafka": {"topics": {"t": {"dead_letter": {"confg": None}}}}})
    assert re.fullmatch(TEMPLATE_PATTERN, "{{ vars.partitions }}")


def test_no_discriminator_and_no_keyword_outside_draft_07(schema: dict[str, Any]) -> None:
    unknown = sorted({f"{path}/{key}" for path, node in schemas_in(schema) for key in node if key not in DRAFT_07})
    assert unknown == []
    assert '"discriminator"' not in COMMITTED.read_text()


def test_a_ref_has_no_siblings(schema: dict[str, Any]) -> None:
    """Draft-07 ignores whatever is written next to a `$ref` (ajv's strict mode refuses it)."""
    assert [path for path, node in schemas_in(schema) if "$ref" in node and len(node) > 1] == []


def test_optional_fields_are_not_offered_null(schema: dict[str, Any]) -> None:
    """`partitions` is an integer to an editor, not `integer | null`; only the unquoted-template form has a
    null (the value of its one key)."""
    nulls = [path for path, node in schemas_in(schema) if node.get("type") == "null"]
    assert nulls == ["#/definitions/Template/anyOf/1/additionalProperties"]
    assert [path for path, node in schemas_in(schema) if "default" in node and node["default"] is None] == []


def check_jsonschema_messages(schema: dict[str, Any], document: dict[str, Any]) -> list[str]:
    """What check-jsonschema prints per error: the best match among an `anyOf`'s underlying errors."""
    out = []
    for error in jsonschema.Draft7Validator(schema).iter_errors(document):
        shown = jsonschema.exceptions.best_match(error.context) if error.context else error
        assert shown is not None
        out.append(f"{shown.json_path}: {shown.message}")
    return out


@pytest.mark.parametrize(("document", "typo"), [
    ({"version": 1, "kafka": {"topics": {"t": {"partitons": 3}}}}, "partitons"),
    ({"version": 1, "rabbitmq": {"vhosts": {"shop": {"queues": {"q": {"type": "quorom"}}}}}}, "quorom"),
    ({"version": 1, "sqs": {"queues": {"q": {"delay": "5 seconds"}}}}, "5 seconds"),
    ({"version": 1, "targets": {"t": {"kind": "rabbitmq", "urll": "http://x"}}}, "urll"),
    ({"version": 1, "targets": {"t": {"kind": "rabbitmqq", "url": "http://x"}}}, "rabbitmqq"),
])
def test_the_best_match_for_a_typo_names_the_typo(schema: dict[str, Any], document: dict[str, Any],
                                                  typo: str) -> None:
    messages = check_jsonschema_messages(schema, document)
    assert messages, document
    assert any(typo in message for message in messages), messages
    assert not any("of type 'null'" in message for message in messages), messages


def test_an_empty_or_null_optional_field_is_still_read_as_not_set(tmp_path: Path) -> None:
    """The schema asks for the line to be left out; the loader keeps reading `null` as not set."""
    path = tmp_path / "n.topology.yaml"
    path.write_text("version: 1\nrabbitmq:\nkafka:\n  topics:\n    t: {partitions: null}\n")
    done = subprocess.run([sys.executable, "-m", "topology", "validate", str(path)], capture_output=True,
                          text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
