"""Building blocks shared by every broker section: the strict base model and human-unit types."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from topology.core.units import parse_duration, parse_size

__all__ = ["DEFAULT_STATE", "STATE_FORMAT", "Arguments", "Duration", "Protectable", "RemoteTarget", "Retry", "Size",
           "Spec", "TargetSpec", "not_one_of"]

DEFAULT_STATE = ".topology/state.json"  # the embedded local target's state file, unless told otherwise
STATE_FORMAT = 1  # of that state file, which `export --format state` writes too

_DURATION_SCHEMA = {
    "anyOf": [
        {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*(ms|s|m|h|d|w)?\s*$"},
        {"type": "integer", "minimum": 0},
    ],
    "description": "A duration: 500ms, 30s, 5m, 2h, 7d, or an integer of milliseconds.",
}
_SIZE_SCHEMA = {
    "anyOf": [
        {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*([KMGT]i?B|B)?\s*$"},
        {"type": "integer", "minimum": 0},
    ],
    "description": "A size: 512KiB, 1GiB, 10MB, or an integer of bytes.",
}

Duration = Annotated[int, BeforeValidator(parse_duration), WithJsonSchema(_DURATION_SCHEMA)]
"""Milliseconds, written in human units."""

Size = Annotated[int, BeforeValidator(parse_size), WithJsonSchema(_SIZE_SCHEMA)]
"""Bytes, written in human units."""

Arguments = dict[str, Any]


class Spec(BaseModel):
    """Strict: an unknown key is an error (with a 'did you mean'), never silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Protectable(Spec):
    protect: bool = Field(False, description="Never delete or replace this resource, whatever the flags.")


class Retry(Spec):
    delays: list[Duration] = Field(
        min_length=1, description="One wait step per delay, in order: a message retried for the n-th time waits "
        "the n-th delay before it comes back.")


class TargetSpec(Spec):
    """An entry under `targets:`; each broker's target adds its own fields (`brokers/<name>/spec.py`)."""

    if TYPE_CHECKING:  # each broker's target declares it as Literal["<its name>"]; kept off this class so a
        # target's fields keep their order (`render` prints them as declared)
        kind: str


class RemoteTarget(TargetSpec):
    """A target reached over the network."""

    connect_timeout: Duration = Field(5000, description="How long to wait for a connection to the broker.")
    timeout: Duration = Field(30000, description="How long to wait for any one answer from the broker.")

    def timeouts(self) -> dict[str, float]:
        """`connect_timeout` and `read_timeout` in seconds, as every driver takes them."""
        return {"connect_timeout": self.connect_timeout / 1000, "read_timeout": self.timeout / 1000}


def not_one_of(value: Any, what: str, choices: Sequence[str], hint: str) -> PydanticCustomError:
    """The error a broker's model raises for a value outside its choices (`topc` for an exchange type):
    the loader reports "'topc' is not an exchange type" with "did you mean `topic`?", else `hint`."""
    return PydanticCustomError("not_one_of", "{value} is not {what}",
                               {"value": repr(value), "what": what, "choices": list(choices), "hint": hint})
