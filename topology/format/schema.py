"""The JSON Schema of the topology format, generated from the models (draft-07, which
yaml-language-server and most editors speak)."""

from __future__ import annotations

import json
from typing import Any

from topology.format.document import document_model

__all__ = ["SCHEMA_ID", "schema", "schema_text"]

SCHEMA_ID = "https://topology.dev/schemas/topology.schema.json"


def schema() -> dict[str, Any]:
    generated = document_model().model_json_schema(ref_template="#/definitions/{model}")
    definitions = generated.pop("$defs", {})
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": SCHEMA_ID,
        "title": "topology file, format version 1",
        **generated,
        "definitions": definitions,
    }


def schema_text() -> str:
    """Stable text: sorted keys, two-space indent, trailing newline (what is committed)."""
    return json.dumps(schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
