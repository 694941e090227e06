"""The embedded local target: a state file standing in for any broker (`make run`, offline plans)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from topology.format.common import DEFAULT_STATE, TargetSpec

__all__ = ["LocalTarget"]


class LocalTarget(TargetSpec):
    kind: Literal["local"] = Field(description="The broker kind this target serves.")
    path: str = Field(DEFAULT_STATE, description="The state file of the embedded local target.")

