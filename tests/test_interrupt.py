"""Ctrl-C during apply: the first one starts nothing new, lets what runs finish, reports what was applied
and what was not attempted, and exits 130; a second one ends the process at once. SIGTERM (what a CI
runner sends on cancel) is a first Ctrl-C. A re-run converges. On the embedded local target."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.cli import topology
from topology.brokers.local import driver as local_driver
from topology.engine.session import Engine
from topology.errors import BrokerError

FILE = """\
version: 1
rabbitmq:
  vhosts:
    shop:
      exchanges:
        orders: {type: topic}
      queues:
        billing: {bindings: [{exchange: orders, routing_key: "order.*"}]}
        audit: {bindings: [{exchange: orders, routing_key: "#"}]}
"""
ALL = ["rabbitmq/shop/binding/orders->audit[#]", "rabbitmq/shop/binding/orders->billing[order.*]",
       "rabbitmq/shop/exchange/orders", "rabbitmq/shop/queue/audit", "rabbitmq/shop/queue/billing",
       "rabbitmq/vhost/shop"]


def _state(folder: Path) -> list[str]:
    return sorted(json.loads((folder / "s.json").read_text())["resources"])


def _interrupted_apply(folder: Path, *signals: str, batches: int = 1) -> Any:
    (folder / "t.topology.yaml").write_text(FILE)
    return topology("apply", "t.topology.yaml", "--state", "s.json", "--auto-approve", cwd=folder,
                    kill_after_batches=batches, signals=signals)


@pytest.mark.parametrize("signal", ["SIGINT", "SIGTERM"])
def test_a_first_interrupt_finishes_the_running_batch_reports_and_exits_130(tmp_path: Path, signal: str) -> None:
    result = _interrupted_apply(tmp_path, signal)
    assert result.returncode == 130, result.stderr
    assert "Interrupted: finishing the changes already running, starting no new one" in result.stderr
    assert "Apply interrupted: 1 applied, 0 failed, 5 not attempted." in result.stdout  # the vhost's wave ran
    assert result.stderr.count("not attempted (interrupted): ") == 5
    assert "Traceback" not in result.stderr
    assert _state(tmp_path) == ["rabbitmq/vhost/shop"]  # nothing started after the interrupt
    again = topology("apply", "t.topology.yaml", "--state", "s.json", "--auto-approve", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "Apply complete: 5 applied, 0 failed, 0 not attempted." in again.stdout
    assert _state(tmp_path) == ALL


def test_an_interrupt_in_the_last_wave_still_says_so_and_exits_130(tmp_path: Path) -> None:
    result = _interrupted_apply(tmp_path, "SIGINT", batches=3)  # the bindings' wave: nothing left to skip
    assert result.returncode == 130, result.stderr
    assert "Apply interrupted: 6 applied, 0 failed, 0 not attempted." in result.stdout
    assert _state(tmp_path) == ALL


def test_a_sigterm_after_the_first_interrupt_does_not_abort(tmp_path: Path) -> None:
    """A CI runner sends SIGTERM a few seconds after its Ctrl-C: the finish goes on, the report comes."""
    result = _interrupted_apply(tmp_path, "SIGINT", "SIGTERM")
    assert result.returncode == 130, result.stderr
    assert "Aborted" not in result.stderr
    assert "Apply interrupted: 1 applied, 0 failed, 5 not attempted." in result.stdout


@pytest.mark.parametrize("signal", ["SIGINT", "SIGTERM"])
def test_an_interrupt_before_any_change_says_so_and_exits_130(tmp_path: Path, signal: str) -> None:
    """While the targets are read (or a lock is waited for): nothing changed, one line, 130."""
    result = _interrupted_apply(tmp_path, signal, batches=0)
    assert result.returncode == 130, result.stderr
    assert result.stderr.strip() == "Interrupted." and "Traceback" not in result.stderr
    assert not (tmp_path / "s.json").exists()


def test_a_second_interrupt_aborts_at_once(tmp_path: Path) -> None:
    result = _interrupted_apply(tmp_path, "SIGINT", "SIGINT")
    assert result.returncode == 130
    assert "Aborted: changes that were running may be half done" in result.stderr
    assert "Apply " not in result.stdout  # no report: it ended at once
    converged = topology("apply", "t.topology.yaml", "--state", "s.json", "--auto-approve", cwd=tmp_path)
    assert converged.returncode == 0, converged.stderr
    assert _state(tmp_path) == ALL


def test_a_driver_starts_no_further_change_of_its_batch_once_interrupted(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The interrupt lands while a batch runs: the change running finishes, the batch's others never start."""
    (tmp_path / "t.topology.yaml").write_text(FILE)
    stop = threading.Event()
    original = local_driver._apply_one
    made: list[str] = []

    def apply_one(resources: Any, change: Any, desired: Any) -> None:
        original(resources, change, desired)
        made.append(change.address)
        if change.kind == "rabbitmq.exchange":  # Ctrl-C while the second wave's batch runs
            stop.set()

    monkeypatch.setattr(local_driver, "_apply_one", apply_one)
    with Engine([str(tmp_path / "t.topology.yaml")], state=tmp_path / "s.json", offline=True) as engine:
        report = engine.apply(engine.plan(), stop=stop)
    assert made == ["rabbitmq/vhost/shop", "rabbitmq/shop/exchange/orders"]
    assert report.applied == made
    assert sorted(report.interrupted) == sorted(set(ALL) - set(made))
    assert not report.failed and not report.not_attempted and not report.ok
    assert _state(tmp_path) == sorted(made)  # what was done is kept


def test_what_waits_on_a_failure_is_not_attempted_not_interrupted(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The exchange fails as the Ctrl-C lands: its bindings wait on a failure (not attempted), the queues
    after it in the batch were never started (interrupted)."""
    (tmp_path / "t.topology.yaml").write_text(FILE)
    stop = threading.Event()
    original = local_driver._apply_one

    def apply_one(resources: Any, change: Any, desired: Any) -> None:
        if change.kind == "rabbitmq.exchange":
            stop.set()
            raise BrokerError("the exchange is refused")
        original(resources, change, desired)

    monkeypatch.setattr(local_driver, "_apply_one", apply_one)
    with Engine([str(tmp_path / "t.topology.yaml")], state=tmp_path / "s.json", offline=True) as engine:
        report = engine.apply(engine.plan(), stop=stop)
    assert list(report.failed) == ["rabbitmq/shop/exchange/orders"]
    assert sorted(report.not_attempted) == [a for a in ALL if "/binding/" in a]
    assert sorted(report.interrupted) == ["rabbitmq/shop/queue/audit", "rabbitmq/shop/queue/billing"]
