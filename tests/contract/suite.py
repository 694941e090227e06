"""The contract every driver passes: one suite, run once per driver by subclassing `ContractSuite`
and giving it a `harness` fixture.

A harness knows how to run topology against its target, how to put messages into a queue, and
how to change or remove an object behind topology's back (drift), using the broker itself.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.cli import topology
from topology.brokers.registry import quantity


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str


class Harness(ABC):
    """One driver's way of being exercised. The documents use the driver's own vocabulary."""

    queue: str  # the address of a data-holding queue in `document("base")`
    updatable: str  # the address of a resource `document("update")` changes in place
    removable: str  # the address of a resource `document("smaller")` no longer declares

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.extra_env: dict[str, str] = {}  # what the command line needs besides the environment

    @abstractmethod
    def document(self, variant: str) -> str:
        """YAML for `base`, `update` (in-place change), `immutable` (a replace of `queue`),
        `smaller` (without `removable`), `smaller-pruned` (the same with manage.prune on)."""


    def extra_args(self, args: tuple[str, ...]) -> list[str]:
        """Flags the command line needs for this target (the local target's --state)."""
        return []

    def run(self, *args: str, kill_after_writes: int | None = None, signals: tuple[str, ...] = ("SIGKILL",)) -> Run:
        """Run the topology command line against this target; optionally send it `signals` (SIGKILL) after N
        batches."""
        result = topology(*args, *self.extra_args(args), cwd=self.folder, env=dict(self.extra_env),
                          kill_after_batches=kill_after_writes, signals=signals)
        return Run(result.returncode, result.stdout, result.stderr)

    @abstractmethod
    def set_messages(self, address: str, count: int) -> None:
        """Leave `count` messages in the queue at `address`."""

    @abstractmethod
    def live(self) -> dict[str, dict[str, Any]]:
        """Live attributes by address, read from the broker (not through topology)."""

    @abstractmethod
    def drift_change(self, address: str, attribute: str, value: Any) -> None:
        """Change one attribute of a live object behind topology's back."""

    @abstractmethod
    def drift_remove(self, address: str) -> None:
        """Delete a live object behind topology's back."""

    def write(self, variant: str) -> str:
        path = self.folder / f"{variant}.topology.yaml"
        path.write_text(self.document(variant))
        return str(path)

    def apply(self, variant: str, *flags: str) -> Run:
        return self.run("apply", self.write(variant), "--auto-approve", *flags)

    def plan_json(self, variant: str) -> dict[str, Any]:
        result = self.run("plan", self.write(variant), "--format", "json")
        assert result.code == 0, result.stderr
        plan: dict[str, Any] = json.loads(result.stdout)
        return plan

    def actions(self, variant: str) -> dict[str, str]:
        return {c["address"]: c["action"] for c in self.plan_json(variant)["changes"]}


class ContractSuite:
    """Subclass with a `harness` fixture to run every contract test on a driver."""

    @staticmethod
    def check_delete_guards_messages(harness: Harness, count: int) -> None:
        """For brokers without replaces: deleting `removable` while it holds messages is data loss."""
        assert harness.apply("base").code == 0
        harness.set_messages(harness.removable, count)
        changes = harness.plan_json("smaller-pruned")["changes"]
        change = next(c for c in changes if c["address"] == harness.removable)
        assert (change["action"], change["loses_data"]) == ("delete", True)
        assert f"loses data: {quantity(change['kind'], count)}" in change["reasons"]
        refused = harness.apply("smaller-pruned", "--allow-delete")
        assert refused.code == 1 and "--allow-data-loss" in refused.stderr
        assert harness.removable in harness.live()
        allowed = harness.apply("smaller-pruned", "--allow-delete", "--allow-data-loss")
        assert allowed.code == 0, allowed.stderr
        assert harness.removable not in harness.live()

    @staticmethod
    def check_empty_delete_needs_no_data_flag(harness: Harness) -> None:
        assert harness.apply("base").code == 0
        changes = harness.plan_json("smaller-pruned")["changes"]
        assert {c["address"]: c["loses_data"] for c in changes} == {harness.removable: False}
        assert harness.apply("smaller-pruned", "--allow-delete").code == 0
        assert harness.removable not in harness.live()

    def test_create_then_plan_is_empty(self, harness: Harness) -> None:
        first = harness.apply("base")
        assert first.code == 0, first.stderr
        assert harness.queue in harness.live()
        assert harness.actions("base") == {}
        again = harness.run("plan", harness.write("base"), "--detailed-exitcode")
        assert again.code == 0 and "No changes" in again.stdout

    def test_apply_twice_is_a_no_op(self, harness: Harness) -> None:
        assert harness.apply("base").code == 0
        live = harness.live()
        second = harness.apply("base")
        assert second.code == 0 and "No changes" in second.stdout
        assert harness.live() == live

    def test_in_place_update(self, harness: Harness) -> None:
        assert harness.apply("base").code == 0
        harness.set_messages(harness.queue, 7)
        assert harness.actions("update") == {harness.updatable: "update"}
        assert harness.apply("update").code == 0
        assert harness.actions("update") == {}

    def test_immutable_change_is_a_replace_that_guards_messages(self, harness: Harness) -> None:
        assert harness.apply("base").code == 0
        harness.set_messages(harness.queue, 1204)
        plan = harness.plan_json("immutable")
        [change] = [c for c in plan["changes"] if c["address"] == harness.queue]
        assert change["action"] == "replace" and change["loses_data"] is True
        assert "loses data: 1,204 messages" in change["reasons"]
        text = harness.run("plan", harness.write("immutable"))
        assert "-/+ " + harness.queue in text.stdout and "# forces replacement" in text.stdout

        refused = harness.apply("immutable")
        assert refused.code == 1 and "--allow-data-loss" in refused.stderr
        assert harness.actions("immutable").get(harness.queue) == "replace"  # nothing was changed

        allowed = harness.apply("immutable", "--allow-data-loss")
        assert allowed.code == 0, allowed.stderr
        assert harness.actions("immutable") == {}

    def test_replacing_an_empty_queue_needs_no_flag(self, harness: Harness) -> None:
        assert harness.apply("base").code == 0
        harness.set_messages(harness.queue, 0)
        result = harness.apply("immutable")
        assert result.code == 0, result.stderr
        assert harness.actions("immutable") == {}

    def test_delete_only_with_prune_and_allow_delete(self, harness: Harness) -> None:
        assert harness.apply("base").code == 0
        assert harness.actions("smaller") == {}  # not declared, but prune is off: kept
        assert harness.actions("smaller-pruned") == {harness.removable: "delete"}
        refused = harness.apply("smaller-pruned")
        assert refused.code == 1 and "--allow-delete" in refused.stderr
        assert harness.removable in harness.live()
        allowed = harness.apply("smaller-pruned", "--allow-delete", "--allow-data-loss")
        assert allowed.code == 0, allowed.stderr
        assert harness.removable not in harness.live()

    def test_drift_is_planned_back(self, harness: Harness) -> None:
        assert harness.apply("base").code == 0
        attribute, value = self.drift_attribute()
        harness.drift_change(harness.updatable, attribute, value)
        assert harness.actions("base") == {harness.updatable: "update"}
        harness.drift_remove(harness.removable)
        assert harness.actions("base")[harness.removable] == "create"
        assert harness.apply("base").code == 0
        assert harness.actions("base") == {}

    def drift_attribute(self) -> tuple[str, Any]:
        """An attribute of `updatable` and a value other than the declared one."""
        raise NotImplementedError

    def test_stale_saved_plan_is_refused(self, harness: Harness) -> None:
        assert harness.apply("base").code == 0
        saved = harness.folder / "update.plan.json"
        assert harness.run("plan", harness.write("update"), "--out", str(saved)).code == 0
        shown = harness.run("show", str(saved))
        assert shown.code == 0 and harness.updatable in shown.stdout
        harness.drift_remove(harness.removable)
        stale = harness.run("apply", str(saved), "--auto-approve")
        assert stale.code == 1 and "stale" in stale.stderr
        fresh = harness.folder / "fresh.plan.json"
        assert harness.run("plan", harness.write("update"), "--out", str(fresh)).code == 0
        applied = harness.run("apply", str(fresh), "--auto-approve")
        assert applied.code == 0, applied.stderr
        assert harness.actions("update") == {}

    @pytest.mark.parametrize("writes", [1, 2, 3])
    def test_killed_apply_converges(self, harness: Harness, writes: int) -> None:
        killed = harness.run("apply", harness.write("base"), "--auto-approve", kill_after_writes=writes)
        if writes > self.writes_for_base():
            assert killed.code == 0, killed.stderr  # fewer batches than the kill point: it simply finished
        else:
            assert killed.code == -9  # SIGKILL after that many batches
        harness.live()  # whatever was written is readable
        assert harness.actions("base") != {} or writes >= self.writes_for_base()
        resumed = harness.apply("base")
        assert resumed.code == 0, resumed.stderr
        assert harness.actions("base") == {}

    def test_interrupted_apply_reports_and_converges(self, harness: Harness) -> None:
        """Ctrl-C after the first batch: what ran is kept, nothing further starts, the report says so (130)."""
        interrupted = harness.run("apply", harness.write("base"), "--auto-approve", kill_after_writes=1,
                                  signals=("SIGINT",))
        if self.writes_for_base() == 1:  # the one batch was all of it
            assert interrupted.code == 0, interrupted.stderr
        else:
            assert interrupted.code == 130, interrupted.stderr
            assert "Apply interrupted: " in interrupted.stdout and "not attempted (interrupted): " in interrupted.stderr
            left = harness.actions("base")
            assert left and set(left.values()) == {"create"}
            assert all(f"not attempted (interrupted): {address}" in interrupted.stderr for address in left)
        resumed = harness.apply("base")
        assert resumed.code == 0, resumed.stderr
        assert harness.actions("base") == {}

    def writes_for_base(self) -> int:
        """How many batches (waves) a full apply of `base` makes."""
        raise NotImplementedError
