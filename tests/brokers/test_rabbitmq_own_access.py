"""Pruning never plans away the access of the user topology connects as (issue: a prune deleted that user's
permission, and the rest of the apply failed with "wrong credentials"): the plan is refused naming the
permission, unless the files declare it or `manage.exclude` leaves it out; other users' permissions in the
same globs are pruned as before. The user here has reserved characters in its name and password."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.brokers.test_rabbitmq_safety import _AMQP_HOST, _HOST, _PASSWORD, _document, _run, vhosts
from tests.cli import topology

pytestmark = pytest.mark.rabbitmq

__all__ = ["vhosts"]  # the fixture, made here by importing it

_TARGET = 'targets:\n  rabbit: {kind: rabbitmq, url: "${OPS_URL}", amqp_url: "${OPS_AMQP}"}\n'
_ALL = {"configure": ".*", "write": ".*", "read": ".*"}


@dataclass
class Ops:
    """An administrator topology connects as (not the tests' own user), and another user beside it."""

    name: str
    other: str
    env: dict[str, str]

    def permission(self, vhost: str, user: str | None = None) -> str:
        return f"rabbitmq/{vhost}/permission/{user or self.name}"


@pytest.fixture
def ops(vhosts: Callable[[], str], rabbitmq_api: Any) -> Iterator[Ops]:
    """The user `<vhost>-ops@team/%x` (password `_PASSWORD`) with every permission in a fresh vhost, where its
    apply lock lives too, and `<vhost>-other` with a permission there; both deleted afterwards."""
    home = vhosts()
    user, other = f"{home}-ops@team/%x", f"{home}-other"
    made = []
    try:
        for name, body in ((user, {"password": _PASSWORD, "tags": "administrator"}),
                           (other, {"password": "other", "tags": ""})):
            rabbitmq_api.put(f"/api/users/{quote(name, safe='')}", json=body).raise_for_status()
            made.append(name)
            _grant(rabbitmq_api, home, name)
        credentials = f"{quote(user, safe='')}:{quote(_PASSWORD, safe='')}"
        yield Ops(user, other, {"OPS_URL": f"http://{credentials}@{_HOST}",
                                "OPS_AMQP": f"amqp://{credentials}@{_AMQP_HOST}/{quote(home, safe='')}",
                                "HOME_VHOST": home})
    finally:
        for name in made:
            rabbitmq_api.delete(f"/api/users/{quote(name, safe='')}")


def _grant(api: Any, vhost: str, user: str) -> None:
    api.put(f"/api/permissions/{quote(vhost, safe='')}/{quote(user, safe='')}", json=_ALL).raise_for_status()


def _has_permission(api: Any, vhost: str, user: str) -> bool:
    return bool(api.get(f"/api/permissions/{quote(vhost, safe='')}/{quote(user, safe='')}").status_code == 200)


def _pruning(vhost: str, exclude: str = "") -> str:
    also = f", exclude: [{json.dumps(exclude)}]" if exclude else ""
    return f"manage: {{prune: true, include: ['rabbitmq/{vhost}/*']{also}}}\n"


def _declaring(ops: Ops, vhost: str) -> str:
    """The users section declaring the connecting user's permission in `vhost` explicitly."""
    return (f"  users:\n    {json.dumps(ops.name)}:\n      tags: [administrator]\n"
            f"      permissions: {{{json.dumps(vhost)}: {{configure: '.*', write: '.*', read: '.*'}}}}\n")


def _planned(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    assert result.returncode == 0, result.stderr
    return {c["address"]: c["action"] for c in json.loads(result.stdout)["changes"]}


def _no_secret(*runs: subprocess.CompletedProcess[str]) -> None:
    for run in runs:
        assert _PASSWORD not in run.stdout + run.stderr
        assert quote(_PASSWORD, safe="") not in run.stdout + run.stderr


def test_pruning_the_connecting_users_permission_is_refused(tmp_path: Path, ops: Ops, rabbitmq_api: Any) -> None:
    vhost = ops.env["HOME_VHOST"]
    text = _document(vhost, manage=_pruning(vhost), target=_TARGET)
    refused = _run(tmp_path, text, "plan", env=ops.env)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    # located at the glob that selects it (line 4, `manage:`, column 33: its first quote)
    assert (f"t.topology.yaml:4:33 {ops.permission(vhost)}: the plan would delete the permission of user "
            f"`{ops.name}` in vhost `{vhost}`, whom topology connects as, and so lock topology out of the rest of "
            f"the apply; `manage.include` selects it by `rabbitmq/{vhost}/*` (declare it in the files to keep it, "
            "or add it to `manage.exclude`)") in refused.stderr
    assert ops.other not in refused.stderr  # another user's permission is no problem: it is pruned
    assert "Traceback" not in refused.stderr

    # Declared explicitly, the files say what it is: the plan passes, still pruning the other user's.
    declared = _run(tmp_path, text + _declaring(ops, vhost), "plan", "--format", "json", env=ops.env)
    changes = _planned(declared)
    assert changes.get(ops.permission(vhost, ops.other)) == "delete"
    assert ops.permission(vhost) not in changes  # as declared: nothing to do

    # Left out by manage.exclude: the plan passes, and apply prunes the other user's permission only.
    excluded = _document(vhost, manage=_pruning(vhost, exclude=ops.permission(vhost)), target=_TARGET)
    changes = _planned(_run(tmp_path, excluded, "plan", "--format", "json", env=ops.env))
    assert changes.get(ops.permission(vhost, ops.other)) == "delete" and ops.permission(vhost) not in changes
    applied = _run(tmp_path, excluded, "apply", "--auto-approve", "--allow-delete", env=ops.env)
    assert applied.returncode == 0, applied.stderr
    assert _has_permission(rabbitmq_api, vhost, ops.name) and not _has_permission(rabbitmq_api, vhost, ops.other)
    again = _run(tmp_path, excluded, "plan", "--detailed-exitcode", env=ops.env)  # still let in
    assert again.returncode == 0, again.stdout + again.stderr
    _no_secret(refused, declared, applied, again)


def test_pruning_the_connecting_user_itself_is_refused(tmp_path: Path, ops: Ops) -> None:
    vhost = ops.env["HOME_VHOST"]
    text = _document(vhost, target=_TARGET,
                     manage=f"manage: {{prune: true, include: [{json.dumps('rabbitmq/user/' + vhost + '-*')}]}}\n")
    refused = _run(tmp_path, text, "plan", env=ops.env)
    assert refused.returncode == 1
    assert (f"rabbitmq/user/{ops.name}: the plan would delete the user `{ops.name}`, whom topology connects as"
            in refused.stderr)
    assert ops.other not in refused.stderr
    _no_secret(refused)


def test_a_saved_plan_never_applies_such_a_delete(tmp_path: Path, ops: Ops, vhosts: Callable[[], str],
                                                  rabbitmq_api: Any) -> None:
    """Planned before the user had a permission there (a vhost created through the management API gives its
    creator one): applying the saved plan plans again, and is refused the same way, changing nothing."""
    vhost = vhosts()
    text = _document(vhost, manage=_pruning(vhost), target=_TARGET)
    saved = tmp_path / "saved.plan.json"
    assert _run(tmp_path, text, "plan", "--out", str(saved), env=ops.env).returncode == 0
    _grant(rabbitmq_api, vhost, ops.name)
    applied = topology("apply", str(saved), "--allow-delete", cwd=tmp_path, env=ops.env)
    assert applied.returncode == 1
    assert f"{ops.permission(vhost)}: the plan would delete the permission of user `{ops.name}`" in applied.stderr
    assert _has_permission(rabbitmq_api, vhost, ops.name)
    assert rabbitmq_api.get(f"/api/queues/{quote(vhost, safe='')}/q").status_code == 404  # nothing applied
    _no_secret(applied)
