"""An http(s) endpoint with a password (AWS's way to give a subscriber basic authentication) holds a secret:
it is never printed by validate, plan or export, never part of an address, and never managed blindly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.cli import topology, with_file
from tests.conftest import AWS_ENDPOINT_URL

_PASSWORDS = ("s3cr#t", "a@b?c%2F", "plain-word")


def test_validate_refuses_a_declared_endpoint_with_a_password_without_printing_it(tmp_path: Path) -> None:
    text = """version: 1
sns:
  topics:
    hooks:
      subscriptions:
        - {protocol: https, endpoint: "https://hook:${HOOK_PASSWORD}@example.com/sns"}
"""
    for password in _PASSWORDS:
        result = with_file(tmp_path, text, "validate", env={"HOOK_PASSWORD": password})
        assert result.returncode == 1
        output = result.stdout + result.stderr
        assert password not in output
        assert "the https endpoint `https://hook:***@example.com/sns` holds a password" in output
        plan = with_file(tmp_path, text, "plan", "--state", str(tmp_path / "s.json"), env={"HOOK_PASSWORD": password})
        assert plan.returncode == 1 and password not in plan.stdout + plan.stderr


def test_a_live_endpoint_with_a_password_is_masked_and_exported_as_a_comment(tmp_path: Path,
                                                                             aws_clients: tuple[Any, Any]) -> None:
    _, sns = aws_clients
    arn = sns.create_topic(Name="hooks")["TopicArn"]
    for index, password in enumerate(_PASSWORDS):
        sns.subscribe(TopicArn=arn, Protocol="https", Endpoint=f"https://hook{index}:{password}@example.com/sns")
    out = tmp_path / "exported.topology.yaml"
    exported = topology("export", "--target", f"aws={AWS_ENDPOINT_URL}", "--kind", "aws", "--include", "sns/*",
                        "--to", str(out), cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    text = out.read_text()
    assert not any(password in text for password in _PASSWORDS)
    assert text.count("its endpoint holds a password") == len(_PASSWORDS)
    assert "sns/subscription/hooks->https:https://hook0:***@example.com/sns" in text
    env = {"TOPOLOGY_TARGET_AWS": AWS_ENDPOINT_URL}
    pruned = out.read_text() + "manage: {prune: true, include: ['sns/subscription/*']}\n"
    out.write_text(pruned)
    plan = topology("plan", str(out), cwd=tmp_path, env=env)
    assert plan.returncode == 0, plan.stderr
    assert not any(password in plan.stdout + plan.stderr for password in _PASSWORDS)
    assert "- sns/subscription/hooks->https:https://hook1:***@example.com/sns" in plan.stdout
