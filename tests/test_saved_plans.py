"""A saved plan is the approval and travels with its files: `apply PLANFILE` does not ask, finds the
topology files relative to the plan (or where they were named), wherever the checkout is, and refuses
them when their content is not what the plan was made from. On the embedded local target.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.cli import topology

HEAD = "version: 1\nmanage: {prune: true, include: ['*']}\n"
STREAM = HEAD + "redis:\n  streams:\n    orders: {groups: {billing: {start: '$'}}}\n"
CREATED = ["redis/group/orders/billing", "redis/stream/orders"]


def _checkout(root: Path, text: str = STREAM) -> Path:
    """A repository with its topology in infra/."""
    (root / "infra").mkdir(parents=True)
    (root / "infra" / "shop.topology.yaml").write_text(text)
    return root


def _plan(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = topology("plan", *args, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return result


def _resources(state: Path) -> list[str]:
    return sorted(json.loads(state.read_text())["resources"])


def test_a_saved_plan_is_applied_without_asking(tmp_path: Path) -> None:
    repo = _checkout(tmp_path / "repo")
    _plan(repo, "infra", "--state", "s.json", "--out", "plan.json")
    result = topology("apply", "plan.json", "--state", "s.json", cwd=repo)  # no terminal, no --auto-approve
    assert result.returncode == 0, result.stderr
    assert "Apply complete: 2 applied, 0 failed, 0 not attempted." in result.stdout
    assert "Only 'yes'" not in result.stdout + result.stderr
    assert _resources(repo / "s.json") == CREATED


def test_a_plan_made_in_one_directory_is_applied_from_another(tmp_path: Path) -> None:
    repo = _checkout(tmp_path / "repo")
    state = tmp_path / "s.json"
    _plan(repo, "infra/shop.topology.yaml", "--state", str(state), "--out", "plan.json")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = topology("apply", str(repo / "plan.json"), "--state", str(state), cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    assert _resources(state) == CREATED
    saved = json.loads((repo / "plan.json").read_text())
    assert saved["format_version"] == 4
    assert [s["path"] for s in saved["sources"]] == ["infra/shop.topology.yaml"]  # relative to the plan


def test_a_plan_of_absolute_paths_is_applied_in_the_checkout_moved_elsewhere(tmp_path: Path) -> None:
    repo = _checkout(tmp_path / "runner-1" / "repo")
    state = tmp_path / "s.json"
    _plan(repo, str(repo / "infra"), "--state", str(state), "--out", "plan.json")
    moved = tmp_path / "runner-2" / "work"
    moved.parent.mkdir()
    shutil.move(repo, moved)  # the same files, another absolute path: the plan's files are gone from the old one
    result = topology("apply", "plan.json", "--state", str(state), cwd=moved)
    assert result.returncode == 0, result.stderr
    assert _resources(state) == CREATED
    assert str(tmp_path) not in json.dumps(json.loads((moved / "plan.json").read_text())["sources"])


def test_a_plan_moved_away_from_its_files_finds_them_where_they_were_named(tmp_path: Path) -> None:
    """A plan downloaded as a CI artifact elsewhere, applied in the checkout it was made in."""
    repo = _checkout(tmp_path / "repo")
    (tmp_path / "artifact").mkdir()
    _plan(repo, "infra", "--state", "s.json", "--out", str(tmp_path / "artifact" / "plan.json"))
    (tmp_path / "downloads").mkdir()
    shutil.move(tmp_path / "artifact" / "plan.json", tmp_path / "downloads" / "plan.json")
    result = topology("apply", str(tmp_path / "downloads" / "plan.json"), "--state", "s.json", cwd=repo)
    assert result.returncode == 0, result.stderr
    assert _resources(repo / "s.json") == CREATED


def test_a_file_edited_after_the_plan_is_refused_as_stale(tmp_path: Path) -> None:
    repo = _checkout(tmp_path / "repo")
    _plan(repo, "infra", "--state", "s.json", "--out", "plan.json")
    (repo / "infra" / "shop.topology.yaml").write_text(STREAM.replace("orders:", "invoices:"))
    result = topology("apply", "plan.json", "--state", "s.json", cwd=repo)
    assert (result.returncode, result.stderr) == (1, "Error: infra/shop.topology.yaml changed since this plan was "
                                                     "made (the plan is stale); run `topology plan` again\n")
    assert not (repo / "s.json").exists()


def test_a_comment_added_after_the_plan_is_refused_too(tmp_path: Path) -> None:
    """The plan approves those files: any change to their content (not only to what they ask for) is stale."""
    repo = _checkout(tmp_path / "repo")
    _plan(repo, "infra", "--state", "s.json", "--out", "plan.json")
    (repo / "infra" / "shop.topology.yaml").write_text("# reviewed\n" + STREAM)
    result = topology("apply", "plan.json", "--state", "s.json", cwd=repo)
    assert result.returncode == 1 and "changed since this plan was made" in result.stderr
    assert not (repo / "s.json").exists()


def test_line_endings_turned_to_crlf_by_a_checkout_are_the_same_content(tmp_path: Path) -> None:
    repo = _checkout(tmp_path / "repo")
    _plan(repo, "infra", "--state", "s.json", "--out", "plan.json")
    path = repo / "infra" / "shop.topology.yaml"
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    result = topology("apply", "plan.json", "--state", "s.json", cwd=repo)
    assert result.returncode == 0, result.stderr


def test_a_plan_whose_files_are_nowhere_says_where_it_looked(tmp_path: Path) -> None:
    repo = _checkout(tmp_path / "repo")
    _plan(repo, "infra", "--state", "s.json", "--out", "plan.json")
    shutil.rmtree(repo / "infra")
    result = topology("apply", "plan.json", "--state", "s.json", cwd=repo)
    assert (result.returncode, result.stderr) == (
        1, "Error: infra/shop.topology.yaml, a file of the plan plan.json, is not found (looked at "
           "infra/shop.topology.yaml); keep the plan where it was beside the topology files, "
           "or run `topology plan` again\n")
    moved = topology("apply", str(tmp_path / "repo" / "plan.json"), "--state", "s.json", cwd=tmp_path)
    assert f"(looked at {tmp_path}/repo/infra/shop.topology.yaml and infra/shop.topology.yaml)" in moved.stderr


def test_a_saved_plan_still_needs_allow_delete_and_is_still_stale_when_the_live_state_changed(
        tmp_path: Path) -> None:
    repo = _checkout(tmp_path / "repo")
    assert topology("apply", "infra", "--state", "s.json", "--auto-approve", cwd=repo).returncode == 0
    (repo / "infra" / "shop.topology.yaml").write_text(HEAD + "redis:\n  streams: {}\n")
    _plan(repo, "infra", "--state", "s.json", "--out", "plan.json")
    refused = topology("apply", "plan.json", "--state", "s.json", cwd=repo)
    assert refused.returncode == 1 and "--allow-delete" in refused.stderr, refused.stderr
    data = json.loads((repo / "s.json").read_text())
    data["resources"].pop("redis/group/orders/billing")
    (repo / "s.json").write_text(json.dumps(data))  # someone else changed the target since the plan
    stale = topology("apply", "plan.json", "--state", "s.json", "--allow-delete", cwd=repo)
    assert stale.returncode == 1 and "changed since this plan was made (the plan is stale)" in stale.stderr
    assert _resources(repo / "s.json") == ["redis/stream/orders"]


def test_a_plan_of_the_previous_format_is_still_applied(tmp_path: Path) -> None:
    repo = _checkout(tmp_path / "repo")
    _plan(repo, "infra", "--state", "s.json", "--out", "plan.json")
    saved = json.loads((repo / "plan.json").read_text())
    del saved["sources"]
    (repo / "plan.json").write_text(json.dumps({**saved, "format_version": 2}))
    result = topology("apply", "plan.json", "--state", "s.json", cwd=repo)
    assert result.returncode == 0, result.stderr
    assert _resources(repo / "s.json") == CREATED


def test_a_plan_of_an_unknown_format_is_one_sentence(tmp_path: Path) -> None:
    repo = _checkout(tmp_path / "repo")
    _plan(repo, "infra", "--state", "s.json", "--out", "plan.json")
    saved = json.loads((repo / "plan.json").read_text())
    (repo / "plan.json").write_text(json.dumps({**saved, "format_version": 1}))
    message = ("Error: plan.json was saved by another version of topology (plan format 1; this one reads 2, 3 and 4); "
               "run `topology plan` again\n")
    for command in ("apply", "show"):
        result = topology(command, "plan.json", cwd=repo)
        assert (result.returncode, result.stderr) == (1, message)


@pytest.mark.parametrize("text", ["[1, 2", '{"changes": ' + "[" * 100_000 + "]" * 100_000 + "}",
                                  '{"source_digest": "x", "before": ' + '{"a": ' * 100_000 + "1" + "}" * 100_001])
def test_a_file_that_is_no_plan_is_one_sentence(tmp_path: Path, text: str) -> None:
    """Garbage and JSON nested past Python's recursion limit alike: `show` says it is no plan; `apply`
    reads it as a topology file, which it is not either. One sentence each, never a traceback."""
    (tmp_path / "plan.json").write_text(text)
    shown = topology("show", "plan.json", cwd=tmp_path)
    assert (shown.returncode, shown.stderr) == (
        1, "Error: plan.json is not a plan saved by `topology plan --out`; plan again\n"), shown.stderr
    applied = topology("apply", "plan.json", cwd=tmp_path)
    assert applied.returncode == 1 and "unexpectedly" not in applied.stderr + applied.stdout, applied.stderr
    assert applied.stderr.startswith("Error: plan.json:1:") and applied.stderr.count("\n") == 1, applied


def test_a_missing_variable_names_var_file_too(tmp_path: Path) -> None:
    repo = _checkout(tmp_path / "repo", STREAM.replace("orders:", "'{{ vars.stream }}':"))
    (repo / "prod.yaml").write_text("stream: orders\n")
    _plan(repo, "infra", "--state", "s.json", "--var-file", "prod.yaml", "--out", "plan.json")
    refused = topology("apply", "plan.json", "--state", "s.json", cwd=repo)
    assert refused.returncode == 1
    assert refused.stderr.endswith("pass the same values again, with --var or --var-file\n"), refused.stderr
    applied = topology("apply", "plan.json", "--state", "s.json", "--var-file", "prod.yaml", cwd=repo)
    assert applied.returncode == 0, applied.stderr
    assert _resources(repo / "s.json") == CREATED
