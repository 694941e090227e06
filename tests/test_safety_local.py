"""The engine's promises on the embedded local target, which follows the same kind rules as the brokers:
nothing holding data is lost without --allow-data-loss (also when a saved plan is applied after the
object filled), apply takes a lock that a second apply waits for or is refused by, --var values never
enter a plan file, and command-line mistakes are one sentence.

The same classes are tested against each real broker in tests/brokers/test_*_safety.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli import topology

HEAD = "version: 1\nmanage: {prune: true, include: ['*']}\n"
VHOST = HEAD + """rabbitmq:
  vhosts:
    shop:
      queues:
        billing: {}
"""


def _state(folder: Path) -> dict[str, dict[str, object]]:
    resources: dict[str, dict[str, object]] = json.loads((folder / "s.json").read_text())["resources"]
    return resources


def _fill(folder: Path, address: str, messages: int) -> None:
    """Messages arrive in an object (as producers would put them on a broker)."""
    data = json.loads((folder / "s.json").read_text())
    data["resources"][address]["messages"] = messages
    (folder / "s.json").write_text(json.dumps(data))


def _run(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return topology(*args, "--state", "s.json", cwd=folder) if args[0] in ("plan", "apply") and \
        not args[1].endswith(".json") else topology(*args, cwd=folder)


def _apply(folder: Path, text: str, *flags: str) -> subprocess.CompletedProcess[str]:
    (folder / "t.topology.yaml").write_text(text)
    return topology("apply", "t.topology.yaml", "--state", "s.json", "--auto-approve", *flags, cwd=folder)


def _plan(folder: Path, text: str, *flags: str) -> subprocess.CompletedProcess[str]:
    (folder / "t.topology.yaml").write_text(text)
    return topology("plan", "t.topology.yaml", "--state", "s.json", *flags, cwd=folder)


# ------------------------------------------------------------------------------- saved plans refilled


CASES = {
    # name: (first file, second file, address that fills, what the refusal says)
    "queue delete": (VHOST, HEAD + "rabbitmq:\n  vhosts:\n    shop: {}\n", "rabbitmq/shop/queue/billing",
                     "7 messages"),
    "queue replace": (VHOST, VHOST.replace("billing: {}", "billing: {type: quorum}"), "rabbitmq/shop/queue/billing",
                      "7 messages"),
    "vhost delete": (VHOST, HEAD + "rabbitmq:\n  users:\n    x: {}\n", "rabbitmq/shop/queue/billing", "7 messages"),
    "kafka topic delete": (HEAD + "kafka:\n  topics:\n    orders: {}\n", HEAD + "kafka:\n  topics: {}\n",
                           "kafka/topic/orders", "7 messages"),
    "kafka retention shortened": (
        HEAD + "kafka:\n  topics:\n    orders: {config: {retention.ms: 7d}}\n",
        HEAD + "kafka:\n  topics:\n    orders: {config: {retention.ms: 1h}}\n", "kafka/topic/orders", "7 messages"),
    "sqs queue delete": (HEAD + "sqs:\n  queues:\n    billing: {}\n", HEAD + "sqs:\n  queues: {}\n",
                         "sqs/queue/billing", "7 messages"),
    "sqs retention shortened": (
        HEAD + "sqs:\n  queues:\n    billing: {message_retention: 4d}\n",
        HEAD + "sqs:\n  queues:\n    billing: {message_retention: 1h}\n", "sqs/queue/billing", "7 messages"),
    "redis stream delete": (HEAD + "redis:\n  streams:\n    orders: {}\n", HEAD + "redis:\n  streams: {}\n",
                            "redis/stream/orders", "7 entries"),
    "redis group delete": (HEAD + "redis:\n  streams:\n    orders: {groups: {billing: {}}}\n",
                           HEAD + "redis:\n  streams:\n    orders: {}\n", "redis/group/orders/billing",
                           "7 pending entries"),
    "policy max-length": (VHOST, VHOST + "      policies:\n        cap: {pattern: '^bill', "
                          "definition: {max-length: 0}}\n", "rabbitmq/shop/queue/billing", "7 messages"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_saved_plan_made_while_empty_never_loses_what_arrived_since(tmp_path: Path, case: str) -> None:
    first, second, address, what = CASES[case]
    assert _apply(tmp_path, first).returncode == 0
    planned = _plan(tmp_path, second, "--out", "p.json")
    assert planned.returncode == 0, planned.stderr
    assert "loses data" not in planned.stdout  # empty when planned: nothing to lose yet
    assert json.loads((tmp_path / "p.json").read_text())["changes"]
    _fill(tmp_path, address, 7)
    result = topology("apply", "p.json", "--state", "s.json", "--auto-approve", "--allow-delete", cwd=tmp_path)
    assert result.returncode == 1
    assert f"it was empty when planned but now holds {what}" in result.stderr
    assert _state(tmp_path)[address]["messages"] == 7  # still there, still holding them


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_fresh_plan_says_what_is_lost_and_apply_needs_the_flag(tmp_path: Path, case: str) -> None:
    first, second, address, what = CASES[case]
    assert _apply(tmp_path, first).returncode == 0
    _fill(tmp_path, address, 7)
    planned = _plan(tmp_path, second)
    # a delete loses all it holds; a lowered limit puts all of it at stake ("up to")
    assert f"loses data: {what}" in planned.stdout or f"loses data: up to {what}" in planned.stdout, planned.stdout
    refused = _apply(tmp_path, second, "--allow-delete")
    assert refused.returncode == 1 and "--allow-data-loss" in refused.stderr
    assert _state(tmp_path)[address]["messages"] == 7
    allowed = _apply(tmp_path, second, "--allow-delete", "--allow-data-loss")
    assert allowed.returncode == 0, allowed.stderr


def test_a_policy_lowering_a_limit_counts_only_the_queues_it_matches(tmp_path: Path) -> None:
    two = VHOST.replace("billing: {}", "billing: {}\n        audit: {}")
    assert _apply(tmp_path, two).returncode == 0
    _fill(tmp_path, "rabbitmq/shop/queue/billing", 40)
    _fill(tmp_path, "rabbitmq/shop/queue/audit", 3)
    capped = two + "      policies:\n        cap: {pattern: '^bill', definition: {max-length: 0}}\n"
    planned = _plan(tmp_path, capped)
    assert "loses data: up to 40 messages (max-length unset -> 0)" in planned.stdout
    harmless = two + "      policies:\n        lazy: {pattern: '^bill', definition: {queue-mode: lazy}}\n"
    assert "loses data" not in _plan(tmp_path, harmless).stdout
    exchanges = two + ("      policies:\n        cap: {pattern: '^bill', apply_to: exchanges, "
                       "definition: {max-length: 0}}\n")
    assert "loses data" not in _plan(tmp_path, exchanges).stdout


def test_a_pattern_python_cannot_match_like_rabbitmq_counts_as_unknown(tmp_path: Path) -> None:
    assert _apply(tmp_path, VHOST).returncode == 0
    _fill(tmp_path, "rabbitmq/shop/queue/billing", 5)
    posix = VHOST + ("      policies:\n        cap: {pattern: '^[[:alpha:]]+$', definition: {max-length: 1}}\n")
    planned = _plan(tmp_path, posix)
    assert "loses data: an unknown number of messages" in planned.stdout, planned.stdout
    assert "Warning" not in planned.stderr and "FutureWarning" not in planned.stderr


MASKED = VHOST + """      policies:
        cap: {pattern: '^bill', priority: 0, definition: {max-length: 1}}
        keep: {pattern: '^billing$', priority: 10, definition: {dead-letter-routing-key: x}}
"""


@pytest.mark.parametrize("change", ["narrowed", "pruned"])
def test_a_policy_that_stops_masking_another_ones_limit_loses_data(tmp_path: Path, change: str) -> None:
    assert _apply(tmp_path, MASKED).returncode == 0
    _fill(tmp_path, "rabbitmq/shop/queue/billing", 6)  # `keep` rules the queue: `cap` does not apply
    second = MASKED.replace("^billing$", "^nothing$") if change == "narrowed" else \
        MASKED.replace("        keep: {pattern: '^billing$', priority: 10, definition: {dead-letter-routing-key: x}}\n",
                       "")
    planned = _plan(tmp_path, second)
    assert "loses data: up to 6 messages" in planned.stdout, planned.stdout
    refused = _apply(tmp_path, second, "--allow-delete")
    assert refused.returncode == 1 and "--allow-data-loss" in refused.stderr


def test_a_kafka_cleanup_policy_change_loses_data(tmp_path: Path) -> None:
    first = HEAD + "kafka:\n  topics:\n    orders: {config: {cleanup.policy: delete}}\n"
    assert _apply(tmp_path, first).returncode == 0
    _fill(tmp_path, "kafka/topic/orders", 10)
    planned = _plan(tmp_path, first.replace("cleanup.policy: delete", "cleanup.policy: compact"))
    assert "loses data: up to 10 messages (cleanup.policy delete -> compact)" in planned.stdout, \
        planned.stdout


# ---------------------------------------------------------------------------------------------- locks


def test_a_second_apply_waits_for_the_lock_with_lock_timeout(tmp_path: Path) -> None:
    from topology.brokers.local.driver import LocalDriver

    (tmp_path / "t.topology.yaml").write_text(VHOST)
    holder = LocalDriver(tmp_path / "s.json")
    holder.lock("ops@bastion pid 1 since now", 0)
    try:
        refused = topology("apply", "t.topology.yaml", "--state", "s.json", "--auto-approve", cwd=tmp_path)
        assert refused.returncode == 1
        assert "is locked by ops@bastion pid 1 since now" in refused.stderr and "--lock-timeout" in refused.stderr
        waiting = subprocess.Popen(
            [sys.executable, "-m", "topology", "apply", "t.topology.yaml", "--state", "s.json", "--auto-approve",
             "--lock-timeout", "120"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        with pytest.raises(subprocess.TimeoutExpired):
            waiting.wait(timeout=3)  # still waiting while the lock is held
    finally:
        holder.close()
    out, err = waiting.communicate(timeout=120)
    assert waiting.returncode == 0, err
    assert "Apply complete" in out


# ---------------------------------------------------------------------------------- secrets in plans


USER = "version: 1\nrabbitmq:\n  users:\n    billing:\n      password: \"{{ vars.pw }}\"\n"


def test_var_values_never_enter_a_plan_file_and_apply_takes_them_again(tmp_path: Path) -> None:
    secret = "S3cret-only-here"
    planned = _plan(tmp_path, USER, "--var", f"pw={secret}", "--out", "p.json")
    assert planned.returncode == 0, planned.stderr
    saved = (tmp_path / "p.json").read_text()
    assert secret not in saved and secret not in planned.stdout + planned.stderr
    assert json.loads(saved)["variables"] == ["pw"]
    missing = topology("apply", "p.json", "--state", "s.json", "--auto-approve", cwd=tmp_path)
    assert missing.returncode == 1 and "--var pw" in missing.stderr and secret not in missing.stderr
    wrong = topology("apply", "p.json", "--state", "s.json", "--auto-approve", "--var", "pw=other", cwd=tmp_path)
    assert wrong.returncode == 1 and "are not the ones this plan was made with" in wrong.stderr
    right = topology("apply", "p.json", "--state", "s.json", "--auto-approve", "--var", f"pw={secret}", cwd=tmp_path)
    assert right.returncode == 0, right.stderr
    assert secret not in (tmp_path / "s.json").read_text()  # only the salted hash is kept


def test_a_plan_file_does_not_let_a_password_be_guessed_quickly(tmp_path: Path) -> None:
    import hashlib

    planned = _plan(tmp_path, USER, "--var", "pw=hunter42", "--out", "p.json")
    assert planned.returncode == 0
    saved = (tmp_path / "p.json").read_text()
    assert json.loads(saved)["secrets_digest"].startswith("scrypt:")  # slow to test a guess
    for fast in (hashlib.sha256(b"hunter42").hexdigest(), hashlib.md5(b"hunter42").hexdigest()):
        assert fast not in saved


@pytest.mark.parametrize("edit", ["clear the data-loss flag", "turn an update into a delete",
                                  "repeat a change"])
def test_an_edited_plan_file_cannot_switch_a_guard_off(tmp_path: Path, edit: str) -> None:
    assert _apply(tmp_path, VHOST).returncode == 0
    _fill(tmp_path, "rabbitmq/shop/queue/billing", 1204)
    second = VHOST.replace("billing: {}", "billing: {type: quorum}")
    assert _plan(tmp_path, second, "--out", "p.json").returncode == 0
    plan = json.loads((tmp_path / "p.json").read_text())
    change = next(c for c in plan["changes"] if c["address"] == "rabbitmq/shop/queue/billing")
    assert change["loses_data"] is True
    if edit == "clear the data-loss flag":
        change.update(loses_data=False, needs_empty=False, reasons=["forces replacement"])
    elif edit == "turn an update into a delete":
        change.update(action="delete")
    else:
        plan["changes"] = [*plan["changes"], change]  # the same count of changes could then hide a dropped one
    (tmp_path / "p.json").write_text(json.dumps(plan))
    result = topology("apply", "p.json", "--state", "s.json", "--auto-approve", "--allow-delete", cwd=tmp_path)
    assert result.returncode == 1
    expected = "now holds 1,204 messages" if edit == "clear the data-loss flag" else "was it edited"
    assert expected in result.stderr, result.stderr
    assert _state(tmp_path)["rabbitmq/shop/queue/billing"]["messages"] == 1204


# ------------------------------------------------------------------------------ one sentence, exit 1


@pytest.mark.parametrize("args, expected", [
    (("plan", "t.topology.yaml", "--state", "s.json", "--out", "missing/p.json"),
     "the directory missing does not exist"),
    (("plan", "t.topology.yaml", "--state", "s.json", "--out", "adir"), "adir is a directory"),
    (("show", "adir"), "adir is a directory"),
    (("apply", "t.topology.yaml", "--state", "s.json", "--parallelism", "0"), "--parallelism 0 is out of range"),
    (("apply", "t.topology.yaml", "--state", "s.json", "--lock-timeout", "soon"), "is not a duration"),
])
def test_command_line_mistakes_are_one_sentence(tmp_path: Path, args: tuple[str, ...], expected: str) -> None:
    (tmp_path / "t.topology.yaml").write_text(VHOST)
    (tmp_path / "adir").mkdir()
    result = topology(*args, cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and expected in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_a_var_value_is_not_quoted_by_a_yaml_error(tmp_path: Path) -> None:
    (tmp_path / "t.topology.yaml").write_text(
        "version: 1\nrabbitmq:\n  users:\n    billing:\n      password: {{ vars.pw }}\n")
    result = topology("validate", "t.topology.yaml", "--var", "pw=*S3cr3tG", cwd=tmp_path)
    assert result.returncode == 1 and "t.topology.yaml:5:" in result.stderr  # still located
    assert "S3cr3t" not in result.stderr and "***" in result.stderr


def test_a_saved_plan_is_not_stale_because_a_limited_stream_grew(tmp_path: Path) -> None:
    limited = HEAD + "redis:\n  streams:\n    orders: {max_length: 1000}\n"
    assert _apply(tmp_path, limited).returncode == 0
    _fill(tmp_path, "redis/stream/orders", 5)
    data = json.loads((tmp_path / "s.json").read_text())
    data["resources"]["redis/stream/orders"]["attributes"]["max_length"] = 5  # the length stands in max_length
    (tmp_path / "s.json").write_text(json.dumps(data))
    grown = limited.replace("orders: {max_length: 1000}", "orders: {max_length: 1000, groups: {billing: {}}}")
    assert _plan(tmp_path, grown, "--out", "p.json").returncode == 0
    data["resources"]["redis/stream/orders"]["attributes"]["max_length"] = 6  # one more entry since the plan
    (tmp_path / "s.json").write_text(json.dumps(data))
    result = topology("apply", "p.json", "--state", "s.json", "--auto-approve", cwd=tmp_path)
    assert result.returncode == 0, result.stderr


def test_removing_unlimited_kafka_retention_loses_data(tmp_path: Path) -> None:
    forever = HEAD + "kafka:\n  topics:\n    orders: {config: {retention.ms: -1}}\n"
    assert _apply(tmp_path, forever).returncode == 0
    _fill(tmp_path, "kafka/topic/orders", 500)
    planned = _plan(tmp_path, HEAD + "kafka:\n  topics:\n    orders: {}\n")
    assert "loses data: up to 500 messages (retention.ms -1 -> the broker default)" in planned.stdout, planned.stdout


@pytest.mark.parametrize("spelling", ["same", "absolute"])
def test_two_targets_in_one_state_file_keep_both_writes(tmp_path: Path, spelling: str) -> None:
    path = "s.json" if spelling == "same" else str(tmp_path / "s.json")
    text = (f"version: 1\ntargets:\n  mine: {{kind: local, path: {path}}}\nredis:\n  target: mine\n"
            "  streams: {orders: {}}\nkafka:\n  topics: {t1: {}}\n")
    for _ in range(3):
        assert _apply(tmp_path, text).returncode == 0
        assert sorted(_state(tmp_path)) == ["kafka/topic/t1", "redis/stream/orders"]
    assert _plan(tmp_path, text, "--detailed-exitcode").returncode == 0


def test_a_var_value_is_not_quoted_by_a_schema_error(tmp_path: Path) -> None:
    (tmp_path / "t.topology.yaml").write_text(
        "version: 1\nrabbitmq:\n  vhosts:\n    v:\n      queues:\n        q: {type: \"{{ vars.pw }}\"}\n")
    result = topology("validate", "t.topology.yaml", "--var", "pw=SuperSecret123", cwd=tmp_path)
    assert result.returncode == 1 and "t.topology.yaml:6:" in result.stderr
    assert "SuperSecret" not in result.stderr


def test_a_saved_plan_is_applied_in_its_own_environment(tmp_path: Path) -> None:
    text = VHOST + "environments:\n  prod: {}\n"
    assert _plan(tmp_path, text, "--env", "prod", "--out", "p.json").returncode == 0
    other = topology("apply", "p.json", "--state", "s.json", "--auto-approve", "--env", "dev", cwd=tmp_path)
    assert other.returncode == 1 and "made for environment 'prod', not 'dev'" in other.stderr


def test_a_limiting_policy_in_a_new_vhost_needs_no_recheck(tmp_path: Path) -> None:
    capped = VHOST + "      policies:\n        cap: {pattern: '.*', definition: {max-length: 10}}\n"

    def cap_change() -> dict[str, object]:
        assert _plan(tmp_path, capped, "--out", "p.json").returncode == 0
        plan = json.loads((tmp_path / "p.json").read_text())
        change: dict[str, object] = next(c for c in plan["changes"] if c["address"] == "rabbitmq/shop/policy/cap")
        return change

    assert cap_change()["needs_empty"] is False  # the vhost is new: nothing in it to lose, nothing to re-check
    assert _apply(tmp_path, VHOST).returncode == 0
    assert cap_change()["needs_empty"] is True  # its queues exist now: apply looks again at the moment
