"""The ready CI workflow: the GitHub Action (action.yml), its example workflow and the GitLab template.

The action's shell steps run here as GitHub runs them (`bash --noprofile --norc -eo pipefail`), with
the real `topology` on the embedded local target, fake `gh` for the pull-request comment, and the
inputs passed as GitHub passes them (environment variables). The linters `make lint` runs are shown
to fail on broken copies, so a passing lint means something.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
ACTION = ROOT / "action.yml"
WORKFLOW = ROOT / "examples" / "ci" / "github-workflow.yml"
GITLAB = ROOT / "examples" / "ci" / "gitlab-ci.yml"
BIN = Path(sys.executable).parent
SHOP = ROOT / "examples" / "shop.topology.yaml"


def _load(path: Path) -> dict[Any, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data


def _step(name: str) -> dict[str, Any]:
    steps: list[dict[str, Any]] = _load(ACTION)["runs"]["steps"]
    found = [s for s in steps if s.get("id") == name or s.get("name") == name]
    assert len(found) == 1, f"action.yml has no single step {name!r}"
    return found[0]


written_log: list[str] = []  # what the steps printed, for the failure messages


def _run_step(
    step: dict[str, Any], cwd: Path, env: dict[str, str], path: str | None = None
) -> tuple[int, dict[str, str]]:
    """Run one `run:` step as GitHub does; returns its exit code and the outputs it wrote."""
    outputs = cwd / f".github-output-{os.getpid()}"
    outputs.write_text("")
    script = cwd / ".step.sh"
    script.write_text(step["run"])
    full = {
        "PATH": path or f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "HOME": os.environ.get("HOME", str(cwd)),
        "GITHUB_OUTPUT": str(outputs),
        "GITHUB_STEP_SUMMARY": str(cwd / ".summary.md"),
        "GITHUB_ACTION_PATH": str(ROOT),
        **env,
    }
    done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)], cwd=cwd, env=full,
                          capture_output=True, text=True, timeout=120, check=False)
    written = dict(line.split("=", 1) for line in outputs.read_text().splitlines() if "=" in line)
    written_log.append(done.stdout + done.stderr)
    return done.returncode, written


def _plan_env(tmp: Path, args: str = "--state st.json", files: str = "shop.topology.yaml") -> dict[str, str]:
    return {"COMMAND": "plan", "FILES": files, "TOPOLOGY_ENV": "dev", "ARGS": args,
            "PLAN_PATH": str(tmp / "topology.plan.json"), "MARKDOWN_PATH": str(tmp / "topology.plan.md"),
            "STDERR_PATH": str(tmp / "topology.plan.stderr.txt")}


def _result(command: str, exitcode: str, fail_on_changes: str, cwd: Path) -> int:
    code, _ = _run_step(_step("Result"), cwd, {"COMMAND": command, "EXITCODE": exitcode,
                                               "CHANGES": str(exitcode == "2").lower(),
                                               "FAIL_ON_CHANGES": fail_on_changes})
    return code


def _run_scripts(document: dict[str, Any]) -> list[str]:
    """Every `run:` script of a workflow or a composite action."""
    steps: list[dict[str, Any]] = list(document.get("runs", {}).get("steps", []))
    for job in document.get("jobs", {}).values():
        steps.extend(job.get("steps", []))
    return [s["run"] for s in steps if "run" in s]


# --- script injection -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [ACTION, WORKFLOW], ids=["action", "workflow"])
def test_no_expression_is_interpolated_into_a_shell_script(path: Path) -> None:
    scripts = _run_scripts(_load(path))
    assert scripts, f"{path.name} has no run: step"
    for script in scripts:
        assert "${{" not in script, f"{path.name}: pass the value through env:, not into the script:\n{script}"


def test_every_input_the_action_reads_is_declared() -> None:
    text = ACTION.read_text()
    used = set(re.findall(r"inputs\.([a-z-]+)", text))
    assert used <= set(_load(ACTION)["inputs"]), used - set(_load(ACTION)["inputs"])


def test_inputs_reach_the_shell_as_data_never_as_code(tmp_path: Path) -> None:
    shutil.copy(SHOP, tmp_path / "shop.topology.yaml")
    env = _plan_env(tmp_path, args="--state st.json $(touch pwned-args)",
                    files="shop.topology.yaml;touch pwned-files `touch pwned-backtick`")
    code, outputs = _run_step(_step("run"), tmp_path, env)
    assert code == 0
    assert outputs["exitcode"] == "1"  # topology was handed the odd names as files/arguments and refused them
    assert not list(tmp_path.glob("pwned*"))


# --- the action's plan, comment and apply, on the embedded local target ------------------------------------------


def test_plan_saves_the_plan_and_reads_exit_2_as_changes_then_apply_applies_it(tmp_path: Path) -> None:
    shutil.copy(SHOP, tmp_path / "shop.topology.yaml")
    code, outputs = _run_step(_step("run"), tmp_path, _plan_env(tmp_path))
    assert code == 0, "a plan with changes is not a failed step"
    assert outputs == {"exitcode": "2", "changes": "true"}
    assert json.loads((tmp_path / "topology.plan.json").read_text())["changes"]
    markdown = (tmp_path / "topology.plan.md").read_text()
    assert "**Plan: 16 to create, 0 to update, 0 to replace, 0 to delete.**" in markdown
    assert markdown in (tmp_path / ".summary.md").read_text()
    assert _result("plan", "2", "false", tmp_path) == 0
    assert _result("plan", "2", "true", tmp_path) == 1  # drift detection fails the job

    apply_env = {**_plan_env(tmp_path), "COMMAND": "apply", "ARGS": "--state st.json"}
    code, outputs = _run_step(_step("run"), tmp_path, apply_env)
    assert (code, outputs) == (0, {"exitcode": "0", "changes": "false"}), written_log[-1]
    assert _result("apply", "0", "false", tmp_path) == 0

    code, outputs = _run_step(_step("run"), tmp_path, _plan_env(tmp_path))
    assert outputs == {"exitcode": "0", "changes": "false"}
    assert "No changes" in (tmp_path / "topology.plan.md").read_text()


def test_a_mistyped_argument_is_an_error_not_changes(tmp_path: Path) -> None:
    shutil.copy(SHOP, tmp_path / "shop.topology.yaml")
    code, outputs = _run_step(_step("run"), tmp_path, _plan_env(tmp_path, args="--state st.json --fromat text"))
    assert (code, outputs) == (0, {"exitcode": "1", "changes": "false"})  # the Result step fails the job
    assert _result("plan", "1", "false", tmp_path) == 1


def test_apply_refuses_a_stale_saved_plan(tmp_path: Path) -> None:
    shutil.copy(SHOP, tmp_path / "shop.topology.yaml")
    _run_step(_step("run"), tmp_path, _plan_env(tmp_path))
    with (tmp_path / "shop.topology.yaml").open("a") as file:
        file.write("# edited after the plan\n")
    apply_env = {**_plan_env(tmp_path), "COMMAND": "apply", "ARGS": "--state st.json"}
    _, outputs = _run_step(_step("run"), tmp_path, apply_env)
    assert outputs["exitcode"] == "1"


BOT = {"login": "github-actions[bot]", "type": "Bot"}
PERSON = {"login": "someone", "type": "User"}
FAKE_GH = """#!/usr/bin/env bash
printf '%s\\n' "$*" >> "$GH_LOG"
if [ "$2" = --paginate ]; then printf '%s' "$GH_PAGES"; exit 0; fi
for ((i = 1; i <= $#; i++)); do if [ "${!i}" = --input ]; then j=$((i + 1)); cp "${!j}" "$GH_BODY"; fi; done
"""


def _comment(tmp: Path, pages: list[list[dict[str, Any]]], key: str = "dev", exitcode: str = "2") -> list[str]:
    fake = tmp / "fakebin"
    fake.mkdir(exist_ok=True)
    (fake / "gh").write_text(FAKE_GH)
    (fake / "gh").chmod(0o755)
    (tmp / "plan.md").write_text("### topology plan: `dev`\n\n**Plan: 1 to create, 0 to update, 0 to replace.**\n")
    (tmp / "stderr.txt").write_text("Error: shop.topology.yaml:3:1 version: unknown\n")
    env = {"GH_TOKEN": "t", "REPOSITORY": "acme/infra", "PR_NUMBER": "7", "KEY": key, "EXITCODE": exitcode,
           "MARKDOWN_PATH": str(tmp / "plan.md"), "STDERR_PATH": str(tmp / "stderr.txt"),
           "RUN_URL": "https://example.invalid/run/1", "GH_LOG": str(tmp / "gh.log"), "GH_BODY": str(tmp / "body.json"),
           "GH_PAGES": "".join(json.dumps(page) for page in pages)}
    (tmp / "gh.log").write_text("")
    code, _ = _run_step(_step("Comment the plan on the pull request"), tmp, env,
                        path=f"{fake}{os.pathsep}{os.environ['PATH']}")
    assert code == 0
    return (tmp / "gh.log").read_text().splitlines()


def test_the_plan_comment_is_edited_in_place_when_it_exists(tmp_path: Path) -> None:
    pages = [[{"id": 1, "body": "looks good", "user": BOT}],
             [{"id": 42, "body": "<!-- topology-plan:dev -->\nold plan", "user": BOT}]]
    calls = _comment(tmp_path, pages)
    assert calls[1:] == [f"api --method PATCH repos/acme/infra/issues/comments/42 --input {_input(calls[1])}"]
    body = json.loads((tmp_path / "body.json").read_text())["body"]
    assert body.startswith("<!-- topology-plan:dev -->\n### topology plan: `dev`")


def test_the_plan_comment_is_created_once_per_environment(tmp_path: Path) -> None:
    pages = [[{"id": 42, "body": "<!-- topology-plan:prod -->\nthe prod plan", "user": BOT}]]  # another environment's
    calls = _comment(tmp_path, pages, key="dev")
    assert calls[1].startswith("api --method POST repos/acme/infra/issues/7/comments")
    assert len(calls) == 2


def test_a_comment_quoting_the_marker_is_not_taken_for_the_plan(tmp_path: Path) -> None:
    pages = [[{"id": 5, "body": "why does `<!-- topology-plan:dev -->` show?", "user": PERSON},
              {"id": 6, "body": "<!-- topology-plan:dev -->\na person's copy", "user": PERSON},
              {"id": 42, "body": "<!-- topology-plan:dev -->\nold plan", "user": BOT}]]
    calls = _comment(tmp_path, pages)
    assert calls[1].startswith("api --method PATCH repos/acme/infra/issues/comments/42 ")


def test_a_failed_plan_is_commented_with_its_error(tmp_path: Path) -> None:
    _comment(tmp_path, [[]], exitcode="1")
    body = json.loads((tmp_path / "body.json").read_text())["body"]
    assert "topology plan failed" in body and "version: unknown" in body and "Plan:" not in body


def _input(call: str) -> str:
    return call.rsplit("--input ", 1)[1]


# --- the example workflow --------------------------------------------------------------------------------------


def test_the_example_workflow_plans_pull_requests_applies_main_and_detects_drift() -> None:
    workflow = _load(WORKFLOW)
    jobs = workflow["jobs"]
    plan = next(s for s in jobs["plan"]["steps"] if "topology" in s.get("uses", ""))
    assert plan["with"]["command"] == "plan" and plan["with"]["comment"] == "true"
    assert jobs["plan"]["permissions"]["pull-requests"] == "write"
    assert "pull_request" in jobs["plan"]["if"]

    apply = jobs["apply"]
    assert apply["concurrency"] == {"group": "topology-apply-${{ matrix.environment }}", "cancel-in-progress": False}
    assert apply["environment"] == "${{ matrix.environment }}"
    uses = [s["with"]["command"] for s in apply["steps"] if "topology" in s.get("uses", "")]
    assert uses == ["plan", "apply"]

    drift = jobs["drift"]
    assert "schedule" in workflow[True] or "schedule" in workflow.get("on", {})  # YAML 1.1 reads `on` as True
    report = next(s for s in drift["steps"] if s.get("name") == "Open or update the drift issue")
    assert report["if"] == "steps.plan.outputs.changes == 'true'"
    assert report["run"].rstrip().endswith("exit 1")


def test_the_action_plans_with_the_detailed_exit_code_and_a_saved_plan() -> None:
    script = _step("run")["run"]
    assert re.search(r"topology plan .*--out \"\$PLAN_PATH\" --format markdown --detailed-exitcode", script)
    assert 'if [ "$COMMAND" = plan ] && [ "$rc" -eq 2 ]; then changes=true; fi' in script
    assert 'topology apply "$PLAN_PATH"' in script


# --- the linters make lint runs ---------------------------------------------------------------------------------


def _actionlint() -> Path:
    """actionlint as `make lint` installs it (scripts/lint-tools builds it once)."""
    subprocess.run([str(ROOT / "scripts" / "lint-tools"), str(BIN)], check=True, timeout=600)
    return BIN / "actionlint"


def _lint_workflow(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(_actionlint()), "-shellcheck", str(BIN / "shellcheck"), "-no-color", str(path)],
                          capture_output=True, text=True, check=False, timeout=120)


def test_actionlint_passes_the_workflow_and_fails_a_broken_copy(tmp_path: Path) -> None:
    assert _lint_workflow(WORKFLOW).returncode == 0
    broken = tmp_path / "github-workflow.yml"
    text = WORKFLOW.read_text()
    text = text.replace('echo "::error::topology: $ENVIRONMENT has drifted', 'echo $CHANGES "has drifted')
    text = text.replace("steps.plan.outputs.changes == 'true'", "steps.plan.outputs.changes == 'true' && matrix.nope")
    broken.write_text(text)
    result = _lint_workflow(broken)
    assert result.returncode == 1
    assert "SC2086" in result.stdout  # shellcheck ran on the run: script
    assert 'property "nope" is not defined' in result.stdout


def test_action_steps_are_linted_and_a_broken_copy_fails(tmp_path: Path) -> None:
    command = [sys.executable, str(ROOT / "scripts" / "actionlint-action")]
    tools = [str(_actionlint()), str(BIN / "shellcheck")]
    assert subprocess.run([*command, str(ACTION), *tools], capture_output=True, text=True, timeout=120).returncode == 0
    broken = tmp_path / "action.yml"
    broken.write_text(ACTION.read_text().replace("${{ inputs.plan-file }}", "${{ inputs.plan-fiel }}"))
    result = subprocess.run([*command, str(broken), *tools], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    line = next(n for n, text in enumerate(broken.read_text().splitlines(), 1) if "plan-fiel" in text)
    assert f"{broken}:{line}:" in result.stdout and 'property "plan-fiel" is not defined' in result.stdout


@pytest.mark.parametrize(("schema", "path", "breakage"), [
    ("vendor.github-actions", ACTION, ("using: composite", "using: compost")),
    ("vendor.gitlab-ci", GITLAB, ("when: manual", "when: later")),
])
def test_check_jsonschema_passes_the_file_and_fails_a_broken_copy(schema: str, path: Path, breakage: tuple[str, str],
                                                                   tmp_path: Path) -> None:
    def check(file: Path) -> int:
        command = [str(BIN / "check-jsonschema"), "--builtin-schema", schema, str(file)]
        return subprocess.run(command, capture_output=True, text=True, timeout=120).returncode

    assert check(path) == 0
    broken = tmp_path / path.name
    assert breakage[0] in path.read_text()
    broken.write_text(path.read_text().replace(*breakage))
    assert check(broken) == 1


# --- the GitLab template ------------------------------------------------------------------------------------------


def _gitlab_job(name: str, tmp: Path, exitcode: int, env: dict[str, str] | None = None) -> tuple[int, Path]:
    """The job's before_script and script in one sh, as GitLab runs them, with topology exiting `exitcode`."""
    document = _load(GITLAB)
    job = document[name]
    lines = [line for line in document[".topology"]["before_script"] if "pip install" not in line]
    fake = tmp / "fakebin"
    fake.mkdir(exist_ok=True)
    (fake / "topology").write_text(
        f"#!/bin/sh\necho \"$*\" >> topology.log\n[ \"$1\" = --version ] && exit 0\necho '### plan'\nexit {exitcode}\n"
    )
    (fake / "topology").chmod(0o755)
    (tmp / "job.sh").write_text("set -e\n" + "\n".join([*lines, *job["script"]]) + "\n")
    full = {"PATH": f"{fake}{os.pathsep}{os.environ['PATH']}", **document["variables"], **(env or {})}
    done = subprocess.run(["sh", str(tmp / "job.sh")], cwd=tmp, env=full, capture_output=True, text=True, timeout=60)
    return done.returncode, tmp


@pytest.mark.parametrize(("exitcode", "job_code", "changes"), [(0, 0, "false"), (2, 0, "true"), (1, 1, None)])
def test_the_gitlab_plan_job_reads_exit_2_as_changes(tmp_path: Path, exitcode: int, job_code: int,
                                                     changes: str | None) -> None:
    code, cwd = _gitlab_job("plan", tmp_path, exitcode)
    assert code == job_code
    calls = (cwd / "topology.log").read_text()
    assert "plan --env prod --out topology.plan.json --format markdown --detailed-exitcode infra" in calls
    if changes is not None:
        assert (cwd / "topology.env").read_text() == f"TOPOLOGY_CHANGES={changes}\n"


def test_the_gitlab_apply_job_applies_the_saved_plan_only_when_it_has_changes(tmp_path: Path) -> None:
    code, cwd = _gitlab_job("apply", tmp_path, 0, {"TOPOLOGY_CHANGES": "false"})
    assert code == 0 and "apply" not in (cwd / "topology.log").read_text()
    code, cwd = _gitlab_job("apply", tmp_path, 0, {"TOPOLOGY_CHANGES": "true"})
    assert code == 0 and "apply topology.plan.json" in (cwd / "topology.log").read_text()


def test_the_gitlab_drift_job_fails_on_drift(tmp_path: Path) -> None:
    assert _gitlab_job("drift", tmp_path, 2)[0] == 2
    assert _gitlab_job("drift", tmp_path, 0)[0] == 0


def test_the_gitlab_note_script_is_python_that_compiles() -> None:
    script = next(s for s in _load(GITLAB)["plan"]["script"] if "python - <<'EOF'" in s)
    code = script.split("<<'EOF'\n", 1)[1].rsplit("\nEOF", 1)[0]
    compile(code, "gitlab-ci.yml (merge-request note)", "exec")
    assert "PRIVATE-TOKEN" in code and "topology-plan:" in code and '"PUT"' in code
