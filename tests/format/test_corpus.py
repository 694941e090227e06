"""A corpus of broken topology files: each one fails `topology validate` with exit 1 and a
message on the line marked `# <-` in the file, saying what EXPECTED.tsv says."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from topology.cli import app

CORPUS = Path(__file__).parent / "corpus"
EXPECTED = dict(
    line.split("\t", 1) for line in (CORPUS / "EXPECTED.tsv").read_text().splitlines() if not line.startswith("#"))


def test_corpus_is_large_and_fully_described() -> None:
    files = sorted(p.name for p in CORPUS.glob("*.topology.yaml"))
    assert len(files) >= 40
    assert files == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_broken_file_is_rejected_at_the_right_line(name: str) -> None:
    path = CORPUS / name
    text = path.read_text(errors="replace")  # a corpus file may be broken in its encoding too
    marked = [n for n, line in enumerate(text.splitlines(), 1) if line.rstrip().endswith("# <-")]
    assert len(marked) == 1, f"{name} must mark exactly one line with `# <-`"

    result = CliRunner().invoke(app, ["validate", str(path)], env={"TOPOLOGY_TEST_SURELY_UNSET": None})

    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith(f"{path}:")]
    expected = EXPECTED[name]
    matching = [line for line in lines if expected in line]
    assert matching, f"no message containing {expected!r} in:\n{result.stderr}"
    assert any(line.startswith(f"{path}:{marked[0]}:") for line in matching), \
        f"expected line {marked[0]}, got:\n{result.stderr}"


def test_json_format_lists_every_problem_with_its_place() -> None:
    import json

    path = CORPUS / "unknown-exchange.topology.yaml"
    result = CliRunner().invoke(app, ["validate", "--format", "json", str(path)])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["format_version"] == 1 and report["valid"] is False
    [problem] = report["problems"]
    assert (problem["file"], problem["line"], problem["severity"]) == (str(path), 9, "error")
    assert problem["path"] == "rabbitmq.vhosts.shop.queues.billing.bindings[0].exchange"
    assert problem["hint"] == "did you mean `orders`?"
