"""`plan --format markdown` is a pull-request comment: it names what the plan is about, always fits in one
GitHub comment (65,536 characters) with every destructive change in it, shows no empty diff blocks, and
writes times and sizes in units as topology files do."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.cli import topology
from topology.engine.plan import AttributeChange, Change, Plan
from topology.render.markdown import GITHUB_LIMIT, LIMIT, render_markdown
from topology.render.values import format_size, in_units

DELETED = 30


def _big_topology(folder: Path, queues: int = 2000) -> None:
    """`queues` queues with a binding each (2 changes per queue, plus the vhost and the exchange) and, in
    the state file, DELETED undeclared Kafka topics that prune deletes."""
    lines = ["version: 1", "environments: {ci: {}}", "manage:", "  prune: true", '  include: ["kafka/topic/old.*"]',
             "rabbitmq:", "  vhosts:", "    shop:", "      exchanges: {events: {type: topic}}", "      queues:"]
    lines += [f"        q{i:04d}: {{message_ttl: 3d, bindings: [{{exchange: events, routing_key: k.{i}}}]}}"
              for i in range(queues)]
    (folder / "big.topology.yaml").write_text("\n".join(lines) + "\n")
    resources = {f"kafka/topic/old.t{i:03d}": {"attributes": {"config": {"retention.ms": "259200000"}, "partitions": 1},
                                               "depends_on": [], "kind": "kafka.topic", "messages": i}
                 for i in range(DELETED)}
    (folder / "state.json").write_text(json.dumps({"format_version": 1, "resources": resources}))


def test_a_4000_change_plan_fits_one_github_comment_with_every_delete_in_full(tmp_path: Path) -> None:
    _big_topology(tmp_path)
    done = topology("plan", "big.topology.yaml", "--state", "state.json", "--env", "ci", "--format", "markdown",
                    cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    comment = done.stdout
    assert "Plan: 4002 to create, 0 to update, 0 to replace, 30 to delete." in comment
    assert len(comment) < GITHUB_LIMIT and len(comment) <= LIMIT + 1
    for i in range(DELETED):  # each delete with its attributes, not just its name
        assert f"`-` **`kafka/topic/old.t{i:03d}`** (kafka.topic on `local`)" in comment
    assert comment.count("- partitions = 1") == DELETED
    assert comment.index("old.t029") < comment.index("<details>")  # destructive changes are never folded
    note = re.search(r"> ([\d,]+) changes are listed by address only and ([\d,]+) changes are not shown", comment)
    assert note, comment[-600:]
    listed, hidden = (int(n.replace(",", "")) for n in note.groups())
    shown_in_full = comment.count("`+` **`")  # each one's title; a vhost has no attributes, so no diff block
    assert shown_in_full + listed + hidden == 4002
    assert "`topology show PLANFILE`" in comment and "`topology plan --format text`" in comment


def test_the_header_names_environment_targets_and_files(tmp_path: Path) -> None:
    (tmp_path / "t.topology.yaml").write_text(
        "version: 1\nenvironments: {staging: {}}\ntargets:\n  orders-eu: {kind: local, path: secret-place.json}\n"
        "redis:\n  target: orders-eu\n  streams: {s: {}}\n")
    done = topology("plan", "t.topology.yaml", "--env", "staging", "--format", "markdown", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    header = done.stdout.split("**Plan:")[0]
    assert "### topology plan: `staging`" in header
    assert "**Environment:** `staging`" in header
    assert "**Targets:** `orders-eu` (redis)" in header
    assert "**Files:** `t.topology.yaml`" in header
    assert "secret-place" not in done.stdout  # the plan holds target names, never their addresses


def test_objects_without_attributes_get_no_empty_diff_block(tmp_path: Path) -> None:
    (tmp_path / "t.topology.yaml").write_text(
        "version: 1\nrabbitmq:\n  vhosts:\n    shop: {}\nredis:\n  streams: {orders: {}}\n")
    done = topology("plan", "t.topology.yaml", "--state", "s.json", "--format", "markdown", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "`rabbitmq/vhost/shop`" in done.stdout and "`redis/stream/orders`" in done.stdout
    assert "```diff\n```" not in done.stdout


def test_times_and_sizes_are_in_units_as_the_file_writes_them(tmp_path: Path) -> None:
    (tmp_path / "t.topology.yaml").write_text(
        "version: 1\nkafka:\n  topics:\n"
        "    orders: {partitions: 1, config: {retention.ms: 7d, max.message.bytes: 2MiB}}\n"
        "sqs:\n  queues:\n    emails: {visibility_timeout: 2m}\n")
    live = {"kafka/topic/orders": {"attributes": {"config": {"retention.ms": "259200000",
                                                             "max.message.bytes": "1048576"}, "partitions": 1},
                                   "depends_on": [], "kind": "kafka.topic", "messages": 0},
            "sqs/queue/emails": {"attributes": {"VisibilityTimeout": 30}, "depends_on": [], "kind": "sqs.queue"}}
    (tmp_path / "s.json").write_text(json.dumps({"format_version": 1, "resources": live}))
    done = topology("plan", "t.topology.yaml", "--state", "s.json", "--format", "markdown", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert '! config["retention.ms"] = 3d -> 7d' in done.stdout
    assert '! config["max.message.bytes"] = 1MiB -> 2MiB' in done.stdout
    assert "! VisibilityTimeout = 30s -> 2m" in done.stdout
    assert "259200000" not in done.stdout and "604800000" not in done.stdout
    saved = topology("plan", "t.topology.yaml", "--state", "s.json", "--format", "json", cwd=tmp_path)
    assert '"retention.ms": "604800000"' in saved.stdout  # the saved plan keeps the brokers' own values


def test_units_only_where_the_attribute_holds_one() -> None:
    assert in_units("rabbitmq.queue", ("arguments",), {"x-message-ttl": 5000, "x-max-length": 1000}) == \
        '{"x-max-length": 1000, "x-message-ttl": 5s}'
    assert in_units("kafka.topic", ("config",), {"retention.ms": "-1", "segment.bytes": "1073741824"}) == \
        '{"retention.ms": "-1", "segment.bytes": 1GiB}'
    assert in_units("rabbitmq.policy", ("definition",), {"message-ttl": 5000}) == '{"message-ttl": 5000}'
    assert in_units("sqs.queue", ("DelaySeconds",), 0) == "0"
    assert (format_size(262_144), format_size(1_000_000), format_size(1500)) == ("256KiB", "1MB", "1500B")


def _change(i: int, action: str = "create", reason: str = "") -> Change:
    before = {"partitions": 1} if action == "delete" else None
    attributes = () if action == "delete" else (AttributeChange(name="partitions", after=i),)
    return Change(address=f"kafka/topic/t{i:05d}-{'x' * 60}", kind="kafka.topic", target="local", action=action,
                  before=before, attributes=attributes, reasons=(reason,) if reason else ())


def _plan(*changes: Change) -> Plan:
    return Plan(source_digest="sha256:0", live_digests={}, files=("a.topology.yaml",), changes=changes)


def test_the_limit_holds_even_when_the_destructive_changes_do_not_fit() -> None:
    plan = _plan(*(_change(i, "delete", "not declared; manage.prune is on") for i in range(3000)),
                 *(_change(i) for i in range(3000, 4000)))
    comment = render_markdown(plan)
    assert len(comment) <= LIMIT
    assert comment.index("#### Destructive changes (3,000)") < comment.index("<details>")
    note = re.search(r"([\d,]+) changes are listed by address only and ([\d,]+) changes are not shown", comment)
    assert note, comment[-600:]
    assert sum(int(n.replace(",", "")) for n in note.groups()) + comment.count("```diff") == 4000


def test_every_change_in_full_when_they_fit() -> None:
    comment = render_markdown(_plan(*(_change(i) for i in range(50))))
    assert comment.count("```diff") == 50 and "[!NOTE]" not in comment


def test_a_name_cannot_open_html_in_the_comment() -> None:
    comment = render_markdown(_plan(_change(1, "delete", "not declared; </details><img src=x>")))
    assert "</details><img" not in comment and "&lt;/details&gt;&lt;img src=x&gt;" in comment
