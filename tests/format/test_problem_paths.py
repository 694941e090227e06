"""A field that takes one of several types (a URI or a list of them, a word or a number) is located by
the file's own path when a value fits none: never by the names pydantic gives the types it tried."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from topology.cli import app


def test_a_value_of_no_accepted_type_is_located_by_the_files_path(tmp_path: Path) -> None:
    path = tmp_path / "t.topology.yaml"
    path.write_text("""version: 1
targets:
  r: {kind: rabbitmq, url: "amqp://guest:guest@127.0.0.1:1/"}
rabbitmq:
  target: r
  vhosts:
    v:
      federation_upstreams:
        mapping: {uri: {x: "amqp://h"}}
        number: {uri: 5}
      shovels:
        s: {src-uri: "amqp://h", dest-uri: "amqp://h", src-queue: q, src-delete-after: 1.5}
""")
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if line.startswith(str(path))]
    assert [line.split(" ", 2)[1] for line in lines] == [
        "rabbitmq.vhosts.v.federation_upstreams.mapping.uri:", "rabbitmq.vhosts.v.federation_upstreams.number.uri:",
        "rabbitmq.vhosts.v.shovels.s.src-delete-after:"], result.stderr
    assert "expected a string or list" in lines[0] and "expected a string or list" in lines[1]
    assert not any(word in result.stderr for word in ("function-", "literal[", "list[")), result.stderr
