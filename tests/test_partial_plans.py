"""`--only GLOB` / `--exclude GLOB` on plan and apply: a partial plan covers the addresses the globs
select with what they depend on (less what depends on an excluded one), prunes only within them, says
it is partial, and a saved partial plan is applied as it was made. On the embedded local target.
"""

from __future__ import annotations

import fnmatch
import json
import string
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import topology as api
from tests.cli import topology
from topology.brokers.base import Subset
from topology.core.resource import Resource
from topology.engine.subset import covered

FILE = """\
version: 1
manage: {prune: true, include: ['rabbitmq/shop/*']}
rabbitmq:
  vhosts:
    shop:
      exchanges:
        orders: {type: topic}
        payments: {type: direct}
      queues:
        billing:
          bindings: [{exchange: orders, routing_key: "order.*"}]
          dead_letter: {queue: billing.dlq}
        ledger:
          bindings: [{exchange: payments, routing_key: "paid"}]
"""
BILLING = ["rabbitmq/shop/binding/orders->billing[order.*]", "rabbitmq/shop/exchange/orders",
           "rabbitmq/shop/queue/billing", "rabbitmq/shop/queue/billing.dlq", "rabbitmq/vhost/shop"]
LEDGER = ["rabbitmq/shop/binding/payments->ledger[paid]", "rabbitmq/shop/exchange/payments",
          "rabbitmq/shop/queue/ledger"]


def _run(folder: Path, command: str, *args: str, text: str = FILE) -> subprocess.CompletedProcess[str]:
    (folder / "t.topology.yaml").write_text(text)
    return topology(command, "t.topology.yaml", "--state", "s.json", *args, cwd=folder)


def _planned(folder: Path, *args: str) -> dict[str, str]:
    result = _run(folder, "plan", "--format", "json", *args)
    assert result.returncode == 0, result.stderr
    return {c["address"]: c["action"] for c in json.loads(result.stdout)["changes"]}


def _state(folder: Path) -> list[str]:
    return sorted(json.loads((folder / "s.json").read_text())["resources"])


def test_only_brings_what_the_selected_resources_depend_on(tmp_path: Path) -> None:
    planned = _planned(tmp_path, "--only", "rabbitmq/shop/binding/orders->*")
    assert sorted(planned) == BILLING  # the binding, its exchange and queue, the queue's DLQ, the vhost
    assert set(planned.values()) == {"create"}


def test_exclude_takes_out_what_depends_on_the_excluded(tmp_path: Path) -> None:
    planned = _planned(tmp_path, "--exclude", "rabbitmq/shop/exchange/orders")
    assert "rabbitmq/shop/binding/orders->billing[order.*]" not in planned  # it needs the exchange
    assert "rabbitmq/shop/exchange/orders" not in planned
    assert sorted(planned) == sorted(set(BILLING + LEDGER) - {"rabbitmq/shop/binding/orders->billing[order.*]",
                                                              "rabbitmq/shop/exchange/orders"})


def test_a_partial_plan_says_so_in_text_and_in_json(tmp_path: Path) -> None:
    text = _run(tmp_path, "plan", "--only", "rabbitmq/shop/queue/ledger")
    assert text.returncode == 0, text.stderr
    assert "This plan is partial (--only rabbitmq/shop/queue/ledger)" in text.stdout
    as_json = _run(tmp_path, "plan", "--format", "json", "--only", "rabbitmq/shop/queue/ledger",
                   "--exclude", "x/*")
    plan = json.loads(as_json.stdout)  # stdout is the JSON alone
    assert (plan["only"], plan["exclude"]) == (["rabbitmq/shop/queue/ledger"], ["x/*"])
    assert "This plan is partial" in as_json.stderr
    whole = json.loads(_run(tmp_path, "plan", "--format", "json").stdout)
    assert (whole["only"], whole["exclude"]) == ([], [])
    assert "partial" not in _run(tmp_path, "plan").stdout


def test_the_pull_request_comment_of_a_partial_plan_says_so(tmp_path: Path) -> None:
    result = _run(tmp_path, "plan", "--format", "markdown", "--only", "rabbitmq/shop/queue/ledger")
    assert result.returncode == 0, result.stderr
    assert "> This plan is partial (`--only rabbitmq/shop/queue/ledger`)" in result.stdout
    assert "**Plan: 2 to create" in result.stdout
    whole = _run(tmp_path, "plan", "--format", "markdown")
    assert "partial" not in whole.stdout


def test_a_glob_that_selects_nothing_is_warned_of(tmp_path: Path) -> None:
    result = _run(tmp_path, "plan", "--only", "rabbitmq/shop/queeu/*")
    assert result.returncode == 0
    assert "'rabbitmq/shop/queeu/*' selects no declared or live address" in result.stderr
    assert "No changes in what this partial plan covers." in result.stdout
    assert "The live brokers match the topology" not in result.stdout


def test_a_partial_plan_prunes_only_within_its_globs(tmp_path: Path) -> None:
    applied = _run(tmp_path, "apply", "--auto-approve")
    assert applied.returncode == 0, applied.stderr
    smaller = FILE.split("        ledger:")[0]  # ledger and its binding no longer declared; payments still is
    (tmp_path / "t.topology.yaml").write_text(smaller)
    result = topology("plan", "t.topology.yaml", "--state", "s.json", "--format", "json",
                      "--only", "rabbitmq/shop/binding/*", cwd=tmp_path)
    planned = {c["address"]: c["action"] for c in json.loads(result.stdout)["changes"]}
    assert planned == {"rabbitmq/shop/binding/payments->ledger[paid]": "delete"}  # the queue is outside the globs
    whole = topology("plan", "t.topology.yaml", "--state", "s.json", "--format", "json", cwd=tmp_path)
    assert {c["address"] for c in json.loads(whole.stdout)["changes"]} == {
        "rabbitmq/shop/binding/payments->ledger[paid]", "rabbitmq/shop/queue/ledger"}


def test_what_an_exclude_takes_out_is_never_pruned(tmp_path: Path) -> None:
    """The dependents of an excluded object are declared: left alone, never deleted as undeclared."""
    assert _run(tmp_path, "apply", "--auto-approve").returncode == 0
    assert _planned(tmp_path, "--exclude", "rabbitmq/shop/queue/billing.dlq") == {}
    assert _planned(tmp_path, "--exclude", "rabbitmq/shop/exchange/orders") == {}
    assert _planned(tmp_path, "--only", "rabbitmq/shop/*", "--exclude", "rabbitmq/shop/queue/ledger") == {}


def test_a_live_object_needing_an_excluded_one_is_not_pruned(tmp_path: Path) -> None:
    assert _run(tmp_path, "apply", "--auto-approve").returncode == 0
    unbound = FILE.replace('          bindings: [{exchange: payments, routing_key: "paid"}]\n',
                           "          durable: true\n")
    binding = "rabbitmq/shop/binding/payments->ledger[paid]"
    assert _planned_text(tmp_path, unbound) == {binding: "delete"}
    assert _planned_text(tmp_path, unbound, "--exclude", "rabbitmq/shop/queue/ledger") == {}


def test_a_replace_in_a_partial_plan_re_creates_what_hangs_off_it_outside_the_globs(tmp_path: Path) -> None:
    assert _run(tmp_path, "apply", "--auto-approve").returncode == 0
    fanout = FILE.replace("payments: {type: direct}", "payments: {type: fanout}")
    planned = _planned_text(tmp_path, fanout, "--only", "rabbitmq/shop/exchange/payments")
    assert planned == {"rabbitmq/shop/exchange/payments": "replace",  # the broker drops the binding with it
                       "rabbitmq/shop/binding/payments->ledger[paid]": "create"}
    applied = topology("apply", "t.topology.yaml", "--state", "s.json", "--auto-approve", "--only",
                       "rabbitmq/shop/exchange/payments", cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr
    assert "rabbitmq/shop/binding/payments->ledger[paid]" in _state(tmp_path)
    assert _planned_text(tmp_path, fanout) == {}


def test_excluding_an_undeclared_live_object_keeps_it_and_is_not_taken_for_a_typo(tmp_path: Path) -> None:
    assert _run(tmp_path, "apply", "--auto-approve").returncode == 0
    binding = "rabbitmq/shop/binding/payments->ledger[paid]"
    unbound = FILE.replace('          bindings: [{exchange: payments, routing_key: "paid"}]\n',
                           "          durable: true\n")
    (tmp_path / "t.topology.yaml").write_text(unbound)
    result = topology("plan", "t.topology.yaml", "--state", "s.json", "--format", "json", "--exclude", binding,
                      cwd=tmp_path)
    assert json.loads(result.stdout)["changes"] == []
    assert "selects no declared or live address" not in result.stderr


def test_manage_exclude_spelt_out_with_brackets_keeps_the_object(tmp_path: Path) -> None:
    assert _run(tmp_path, "apply", "--auto-approve").returncode == 0
    binding = "rabbitmq/shop/binding/payments->ledger[paid]"
    unbound = FILE.replace('          bindings: [{exchange: payments, routing_key: "paid"}]\n',
                           "          durable: true\n")
    kept = unbound.replace("include: ['rabbitmq/shop/*']}", f"include: ['rabbitmq/shop/*'], exclude: ['{binding}']}}")
    assert kept != unbound
    assert _planned_text(tmp_path, unbound) == {binding: "delete"}
    assert _planned_text(tmp_path, kept) == {}


def test_the_api_refuses_an_empty_glob_as_the_command_line_does(tmp_path: Path) -> None:
    with pytest.raises(api.InputError, match="take address globs"):
        api.plan(document=FILE, state=tmp_path / "s.json", only=[" "])


def test_an_address_spelt_out_selects_itself_though_it_holds_brackets(tmp_path: Path) -> None:
    binding = "rabbitmq/shop/binding/payments->ledger[paid]"
    planned = _planned(tmp_path, "--only", binding)
    assert binding in planned
    assert "selects no declared" not in _run(tmp_path, "plan", "--only", binding).stderr


def _planned_text(folder: Path, text: str, *args: str) -> dict[str, str]:
    (folder / "t.topology.yaml").write_text(text)
    result = topology("plan", "t.topology.yaml", "--state", "s.json", "--format", "json", *args, cwd=folder)
    assert result.returncode == 0, result.stderr
    return {c["address"]: c["action"] for c in json.loads(result.stdout)["changes"]}


def test_apply_only_applies_the_subset_and_a_whole_plan_finds_the_rest(tmp_path: Path) -> None:
    result = _run(tmp_path, "apply", "--auto-approve", "--only", "rabbitmq/shop/queue/ledger")
    assert result.returncode == 0, result.stderr
    assert "This plan is partial" in result.stdout + result.stderr
    assert _state(tmp_path) == ["rabbitmq/shop/queue/ledger", "rabbitmq/vhost/shop"]
    assert sorted(_planned(tmp_path)) == sorted(set(BILLING + LEDGER) - set(_state(tmp_path)))


def test_a_saved_partial_plan_is_applied_as_made_and_keeps_its_globs(tmp_path: Path) -> None:
    saved = _run(tmp_path, "plan", "--only", "rabbitmq/shop/queue/ledger", "--out", "plan.json")
    assert saved.returncode == 0, saved.stderr
    assert json.loads((tmp_path / "plan.json").read_text())["only"] == ["rabbitmq/shop/queue/ledger"]
    refused = topology("apply", "plan.json", "--state", "s.json", "--only", "rabbitmq/*", cwd=tmp_path)
    assert refused.returncode == 1
    assert "keeps its own --only/--exclude" in refused.stderr and "Traceback" not in refused.stderr
    applied = topology("apply", "plan.json", "--state", "s.json", cwd=tmp_path)  # fresh: re-planned with its globs
    assert applied.returncode == 0, applied.stderr
    assert _state(tmp_path) == ["rabbitmq/shop/queue/ledger", "rabbitmq/vhost/shop"]


def test_an_empty_glob_is_refused(tmp_path: Path) -> None:
    result = _run(tmp_path, "plan", "--only", " ")
    assert result.returncode == 1
    assert "take address globs" in result.stderr and "Traceback" not in result.stderr


# The class: over generated dependency graphs and globs, what a partial plan covers is closed under
# depends_on (so it can be applied), holds every selected resource not excluded, and nothing excluded or
# depending on something excluded.
_NAMES = st.text(alphabet=string.ascii_lowercase[:4], min_size=1, max_size=2)


@st.composite
def _graphs(draw: st.DrawFn) -> dict[str, Resource]:
    names = sorted(draw(st.sets(_NAMES, min_size=1, max_size=12)))
    resources = {}
    for index, name in enumerate(names):
        needs = draw(st.lists(st.sampled_from(names[:index]), max_size=3, unique=True)) if index else []
        resources[f"x/{name}"] = Resource("x.thing", f"x/{name}", name, "", None, {}, tuple(f"x/{n}" for n in needs))
    return resources


@settings(max_examples=300, deadline=None)
@given(_graphs(), st.lists(st.sampled_from(["x/a*", "x/b", "x/*c*", "x/d?", "x/*"]), max_size=2),
       st.lists(st.sampled_from(["x/a", "x/b*", "x/?d", "x/c*"]), max_size=2))
def test_what_a_partial_plan_covers_is_closed_and_excludes_dependents(
        resources: dict[str, Resource], only: list[str], exclude: list[str]) -> None:
    kept = covered(resources, Subset(tuple(only), tuple(exclude)))
    excluded = {a for a in resources if any(fnmatch.fnmatchcase(a, g) for g in exclude)}
    selected = {a for a in resources if not only or any(fnmatch.fnmatchcase(a, g) for g in only)}
    for address, resource in kept.items():
        assert set(resource.depends_on) <= kept.keys()  # applicable: everything it needs is in the plan
        assert address not in excluded
    for address in resources:
        if address in selected and not (_needs(resources, address) & excluded) and address not in excluded:
            assert address in kept
        if _needs(resources, address) & excluded:
            assert address not in kept


def _needs(resources: dict[str, Resource], address: str) -> set[str]:
    """Everything `address` depends on, directly or not."""
    found: set[str] = set()
    stack = list(resources[address].depends_on)
    while stack:
        needed = stack.pop()
        if needed not in found:
            found.add(needed)
            stack.extend(resources[needed].depends_on)
    return found


# The class, end to end: whatever the globs, a partial plan is a part of the whole plan (the same
# change for the same address), and never deletes what the files declare.
CHANGED = (FILE.replace("payments: {type: direct}", "payments: {type: fanout}")  # a replace, and its binding back
           .replace('          bindings: [{exchange: orders, routing_key: "order.*"}]\n',
                    '          bindings: [{exchange: orders, routing_key: "order.#"}]\n')  # a create and a delete
           + "        audit: {}\n")  # a create
_GLOBS = ["rabbitmq/*", "rabbitmq/shop/queue/*", "rabbitmq/shop/queue/billing*", "rabbitmq/shop/exchange/payments",
          "rabbitmq/shop/binding/*", "rabbitmq/shop/binding/orders->billing[order.*]", "*ledger*", "rabbitmq/vhost/*",
          "rabbitmq/shop/exchange/*", "nothing/*"]


@pytest.fixture(scope="module")
def drifted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("drifted")
    (folder / "t.topology.yaml").write_text(FILE)
    api.apply(folder / "t.topology.yaml", state=folder / "s.json")
    (folder / "t.topology.yaml").write_text(CHANGED)
    return folder


@settings(max_examples=80, deadline=None)
@given(only=st.lists(st.sampled_from(_GLOBS), max_size=2), exclude=st.lists(st.sampled_from(_GLOBS), max_size=2))
def test_a_partial_plan_is_a_part_of_the_whole_plan(drifted: Path, only: list[str], exclude: list[str]) -> None:
    path, state = drifted / "t.topology.yaml", drifted / "s.json"
    whole = {c.address: c.action for c in api.plan(path, state=state).changes}
    assert set(whole.values()) == {"create", "replace", "delete"}  # the drift is there to be planned
    part = {c.address: c.action for c in api.plan(path, state=state, only=only, exclude=exclude).changes}
    declared = set(api.load(path).resources)
    assert part.items() <= whole.items()
    assert not {a for a, action in part.items() if action == "delete"} & declared
