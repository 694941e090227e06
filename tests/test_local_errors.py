"""Every call of the local target's driver, driven into failure by a state file that cannot be read,
written or locked, leaves as topology's own error naming the file, with the cause chained.

Each call is first shown to work on a good state file (the `none` fault)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.faults import failures_of
from topology.brokers.base import Live, Selection
from topology.brokers.local.driver import LocalDriver
from topology.core.resource import Resource
from topology.core.secrets import Secret
from topology.engine.plan import Change
from topology.format.common import STATE_FORMAT

_PASSWORD = "local-secret-pw"
_QUEUE = {"type": "classic", "durable": True, "auto_delete": False, "arguments": {}}


def _state(resources: Any) -> str:
    return json.dumps({"format_version": STATE_FORMAT, "resources": resources})


def _entry(**extra: Any) -> dict[str, Any]:
    return {"kind": "rabbitmq.queue", "name": "q", "scope": "/", "attributes": _QUEUE, "depends_on": [],
            "messages": 0, **extra}


def _file_for_folder(path: Path) -> None:
    path.parent.rmdir()
    path.parent.write_text("a file")


# fault -> what to make of the state file's path (`folder / "state.json"`) before the call
FAULTS: dict[str, Callable[[Path], None]] = {
    "none": lambda path: path.write_text(_state({"rabbitmq///queue/q": _entry()})),
    "a folder where the file should be": lambda path: path.mkdir(),
    "a file where its folder should be": _file_for_folder,
    "not UTF-8": lambda path: path.write_bytes(b"\xff\xfe\x00garbage"),
    "JSON cut short": lambda path: path.write_text(_state({"rabbitmq///queue/q": _entry()})[:40]),
    "resources not a mapping": lambda path: path.write_text(_state(["q"])),
    "an entry without a kind": lambda path: path.write_text(_state({"rabbitmq///queue/q": {"attributes": {}}})),
    "messages not a number": lambda path: path.write_text(_state({"rabbitmq///queue/q": _entry(messages="many")})),
    "a stored password that is not a hash": lambda path: path.write_text(_state({
        "rabbitmq/user/ops": {"kind": "rabbitmq.user", "name": "ops", "attributes": {"tags": []},
                              "secrets": {"password": "not base64 at all!!"}},
        "rabbitmq///queue/q": _entry()})),
}

_USER = Resource("rabbitmq.user", "rabbitmq/user/ops", "ops", "", None, {"tags": []},
                 secrets={"password": Secret(_PASSWORD)})

CALLS: dict[str, Callable[[LocalDriver], Any]] = {
    "inspect": lambda driver: driver.inspect(Selection(frozenset({"rabbitmq///queue/q"}), prune=True,
                                                       include=("*",))),
    "lock": lambda driver: driver.lock("errors test", 0),
    "secret_matches": lambda driver: driver.secret_matches(_USER, Live("rabbitmq.user", {"tags": []})),
    "apply: create": lambda driver: driver.apply([Change(
        address="rabbitmq///queue/new", kind="rabbitmq.queue", target="local", name="new", scope="/",
        action="create", after=_QUEUE)], {}),
    "apply: update a user's password": lambda driver: driver.apply([Change(
        address="rabbitmq/user/ops", kind="rabbitmq.user", target="local", name="ops", action="create",
        after={"tags": []})], {"rabbitmq/user/ops": _USER}),
    "apply: delete planned empty": lambda driver: driver.apply([Change(
        address="rabbitmq///queue/q", kind="rabbitmq.queue", target="local", name="q", scope="/",
        action="delete", before=_QUEUE, needs_empty=True)], {}),
}

# What each fault can fail: a lock needs only the folder; a missing password hash fails only the call
# that reads it; a file that is not there is no fault for a call that only reads (it is empty).
_FAILS = {
    "none": set(),
    "a folder where the file should be": set(CALLS) - {"lock"},
    "a file where its folder should be": set(CALLS) - {"inspect", "secret_matches"},
    "a stored password that is not a hash": {"secret_matches"},
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
@pytest.mark.parametrize("name", sorted(CALLS))
def test_every_call_fails_as_a_topology_error(tmp_path: Path, name: str, fault: str) -> None:
    path = tmp_path / "target" / "state.json"
    path.parent.mkdir()
    FAULTS[fault](path)
    with LocalDriver(path) as driver:
        failures = failures_of(lambda: CALLS[name](driver))
    expected = _FAILS.get(fault, set(CALLS) - {"lock"})
    assert bool(failures) == (name in expected), failures
    for failure in failures:
        text = str(failure)
        assert str(path) in text and _PASSWORD not in text and len(text.splitlines()) == 1, text
        if isinstance(failure, BaseException):
            assert failure.__cause__ is not None or "not a topology state file" in text
