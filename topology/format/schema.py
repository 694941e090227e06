"""The JSON Schema of the topology format, generated from the models: plain draft-07, which
yaml-language-server, check-jsonschema, ajv (strict mode) and SchemaStore speak.

What the models say is rewritten into draft-07 terms:
- a target's `kind` picks its model through `if: {kind: const} then: {$ref}` (no OpenAPI
  `discriminator`);
- a field that is simply optional (default: unset) is not offered `null`: leaving the line out says
  the same, and editors then name the real type (`integer`, not `integer | null`). The loader still
  reads `field: null` (or an empty `rabbitmq:`) as not set;
- bounds that apply to the milliseconds or bytes a duration or size is read as become `minimum` /
  `maximum` of its integer form;
- a `$ref` with a description is written `allOf: [{$ref}]`, since draft-07 ignores a `$ref`'s siblings;
- wherever a number, boolean or string is expected, a whole value written as a template is accepted
  too (`partitions: {{ vars.partitions }}`, quoted or not): files are rendered before they are
  checked, so an editor cannot know the value; `topology validate` checks the rendered one. Where an
  object is accepted as well (`dead_letter: true` or `{...}`), only the quoted form is, so that a
  misspelt field of the object is still named.
"""

from __future__ import annotations

import json
from typing import Any

from topology.format.document import document_model

__all__ = ["SCHEMA_ID", "TEMPLATE_PATTERN", "schema", "schema_text"]

SCHEMA_ID = "https://topology.dev/schemas/topology.schema.json"
TEMPLATE_PATTERN = r"^\s*\{\{.*\}\}\s*$"
TEMPLATE_REF = "#/definitions/Template"
QUOTED_TEMPLATE_REF = "#/definitions/QuotedTemplate"
_SCALARS = {"string", "integer", "number", "boolean"}
_ANNOTATIONS = ("title", "description", "default", "examples", "readOnly", "writeOnly")
# Schemas that are maps of user-chosen names: their keys are names, not keywords.
_NAME_MAPS = ("properties", "definitions", "patternProperties")

QUOTED_TEMPLATE_SCHEMA: dict[str, Any] = {
    "title": "Quoted template",
    "description": "A whole value written as a quoted jinja2 expression, e.g. \"{{ vars.dead_letter }}\": the "
                   "file is rendered before it is checked, so `topology validate` checks the rendered value.",
    "type": "string",
    "pattern": TEMPLATE_PATTERN,
}
TEMPLATE_SCHEMA: dict[str, Any] = {
    "title": "Template",
    "description": "A whole value written as a jinja2 expression, e.g. {{ vars.partitions }}: the file is "
                   "rendered before it is checked, so `topology validate` checks the rendered value.",
    "anyOf": [
        {"$ref": QUOTED_TEMPLATE_REF},
        # Unquoted, `{{ vars.x }}` is a YAML flow mapping whose one key is itself a mapping with no value:
        # what an editor's YAML parser sees.
        {"type": "object", "minProperties": 1, "maxProperties": 1, "additionalProperties": {"type": "null"}},
    ],
}


def schema() -> dict[str, Any]:
    generated = document_model().model_json_schema(ref_template="#/definitions/{model}")
    definitions = generated.pop("$defs", {})
    document = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": SCHEMA_ID,
        "title": "topology file, format version 1",
        **_rewrite_object(generated),
        "definitions": {name: _rewrite_object(model) for name, model in definitions.items()},
    }
    document["definitions"]["Template"] = TEMPLATE_SCHEMA
    document["definitions"]["QuotedTemplate"] = QUOTED_TEMPLATE_SCHEMA
    return document


def schema_text() -> str:
    """Stable text: sorted keys, two-space indent, trailing newline (what is committed)."""
    return json.dumps(schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _rewrite_object(model: dict[str, Any]) -> dict[str, Any]:
    """A model's schema with every field's value schema rewritten."""
    out = dict(model)
    if "properties" in out:
        out["properties"] = {name: _value(field) for name, field in out["properties"].items()}
    if isinstance(out.get("additionalProperties"), dict):
        out["additionalProperties"] = _value(out["additionalProperties"])
    return out


def _value(node: dict[str, Any], position: bool = True) -> dict[str, Any]:
    """The schema of one value position (a field, a map's values, a list's items) in draft-07 terms;
    `position` is False for one of its choices."""
    node = dict(node)
    if "discriminator" in node:
        return _by_kind(node["discriminator"])
    node = _without_null(node)
    node = _fold_bounds(node)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in node:
            node[key] = [_value(branch, position=False) for branch in node[key]]
    if "anyOf" in node:
        node["anyOf"] = _flat(node["anyOf"])
    if isinstance(node.get("items"), dict):
        node["items"] = _value(node["items"])
    if "properties" in node or isinstance(node.get("additionalProperties"), dict):
        node = _rewrite_object(node)
    if position and _takes_scalar(node):
        node = _or_template(node, TEMPLATE_REF if _only_scalars(node) else QUOTED_TEMPLATE_REF)
    if "$ref" in node and any(key != "$ref" for key in node):
        ref = node.pop("$ref")
        node["allOf"] = [{"$ref": ref}]
    return node


def _by_kind(discriminator: dict[str, Any]) -> dict[str, Any]:
    """One model per value of a property (a target's `kind`) in draft-07 terms: the property is one of the
    values, and `if` it is this one `then` this model applies. Unlike a `oneOf`, a checker then names a
    misspelt kind, or the field of the one model that applies."""
    name, models = discriminator["propertyName"], discriminator["mapping"]
    return {
        "type": "object",
        "required": [name],
        "properties": {name: {"enum": list(models)}},
        "allOf": [{"if": {"required": [name], "properties": {name: {"const": value}}}, "then": {"$ref": ref}}
                  for value, ref in models.items()],
    }


def _without_null(node: dict[str, Any]) -> dict[str, Any]:
    """A simply optional field (`X | None = None`) offers X only; a `null` that means more than "not set"
    (a default other than None) is kept."""
    branches = node.get("anyOf")
    if not branches or {"type": "null"} not in branches or node.get("default", "unset") is not None:
        return node
    kept = [b for b in branches if b != {"type": "null"}]
    node = {k: v for k, v in node.items() if k not in ("anyOf", "default")}
    if len(kept) > 1:
        return {**node, "anyOf": kept}
    only = dict(kept[0])
    for key in _ANNOTATIONS:  # the field's own words win over its type's
        if key in node:
            only[key] = node[key]
    return {**node, **only}


def _fold_bounds(node: dict[str, Any]) -> dict[str, Any]:
    """`ge`/`le` a custom type could not place (a duration or size is a string or an integer) bound
    its integer form."""
    if "ge" not in node and "le" not in node:
        return node
    node = dict(node)
    ge, le = node.pop("ge", None), node.pop("le", None)

    def bound(branch: dict[str, Any]) -> dict[str, Any]:
        if branch.get("type") not in ("integer", "number"):
            return branch
        branch = dict(branch)
        if ge is not None:
            branch["minimum"] = max(branch.get("minimum", ge), ge)
        if le is not None:
            branch["maximum"] = min(branch.get("maximum", le), le)
        return branch

    if "anyOf" in node:
        node["anyOf"] = [bound(b) for b in node["anyOf"]]
    else:
        node = bound(node)
    return node


def _flat(branches: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Choices of choices as one list of choices."""
    out: list[dict[str, Any]] = []
    for branch in branches:
        if "anyOf" in branch and set(branch) <= {"anyOf", *_ANNOTATIONS}:
            out += _flat(branch["anyOf"])
        else:
            out.append(branch)
    return out


def _takes_scalar(node: dict[str, Any]) -> bool:
    """A number, boolean or string is among the values `node` accepts (a fixed `const` is not: a target's
    `kind` and the format `version` are written as they are)."""
    if "anyOf" in node:
        return any(_takes_scalar(branch) for branch in node["anyOf"])
    if "const" in node:
        return False
    return node.get("type") in _SCALARS or ("enum" in node and "type" not in node)


def _only_scalars(node: dict[str, Any]) -> bool:
    """No object or list is among the values `node` accepts: an unquoted template (to a YAML parser, a
    mapping) cannot be mistaken for a misspelt object there."""
    if "anyOf" in node:
        return all(_only_scalars(branch) for branch in node["anyOf"])
    return _takes_scalar(node)


def _or_template(node: dict[str, Any], template: str) -> dict[str, Any]:
    """`node`, or a whole value written as a template; the field's words stay on the outside."""
    words = {key: node[key] for key in _ANNOTATIONS if key in node}
    core = {key: value for key, value in node.items() if key not in _ANNOTATIONS}
    branches = core["anyOf"] if set(core) == {"anyOf"} else [core]
    return {**words, "anyOf": [*branches, {"$ref": template}]}
