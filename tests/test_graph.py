"""`topology graph` draws the topology: exchanges -> bindings -> queues -> dead-letter and retry paths, topics ->
groups, SNS -> subscriptions (filters on the arrow) -> SQS, streams -> groups; mermaid for GitHub, dot for
Graphviz, a saved plan's changes coloured. The dot output goes through the real Graphviz; the mermaid output
through a parser of the statements it may use, so a hostile name cannot add a line, a box or an arrow. The
markdown plan embeds the mermaid picture of what changes, bounded."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.cli import topology
from topology.engine.plan import Change, Plan
from topology.render.markdown import LIMIT, PICTURE_LIMIT, PICTURED, render_markdown

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


# --------------------------------------------------------------------------------------------------------
# A parser of the mermaid the graph command writes: each line is one statement it knows, or the test fails.

_OPEN_CLOSE = {'{{"': '"}}', '["': '"]', '(["': '"])', '[("': '")]', '("': '")'}
_NODE = re.compile(r'(?P<id>[nl]\d+)(?P<open>\{\{"|\(\["|\[\("|\["|\(")(?P<text>[^"]*)'
                   r'(?P<close>"\}\}|"\]\)|"\)\]|"\]|"\))')
_EDGE = re.compile(r'(?P<source>n\d+) (?P<arrow>-->|-\.->)(?:\|"(?P<label>[^"]*)"\|)? (?P<target>n\d+)')
_SUBGRAPH = re.compile(r'subgraph (?P<id>\w+)\["(?P<text>[^"]*)"\]')
_CLASS = re.compile(r"class (?P<ids>[nl]\d+(?:,[nl]\d+)*) (?P<name>create|update|replace|delete)")
_CLASSDEF = re.compile(r"classDef (?P<name>create|update|replace|delete) fill:#[0-9a-f]{6},"
                       r"stroke:(?P<stroke>#[0-9a-f]{6}),color:#[0-9a-f]{6},stroke-width:2px(?:,stroke-dasharray:5 5)?")
_LINKSTYLE = re.compile(r"linkStyle (?P<numbers>\d+(?:,\d+)*) stroke:(?P<stroke>#[0-9a-f]{6}),stroke-width:2px"
                        r"(?:,stroke-dasharray:5 5)?")
_STYLE = re.compile(r"style c\d+ stroke:#[0-9a-f]{6},stroke-width:2px(?:,stroke-dasharray:5 5)?")


def _decode(text: str) -> str:
    return re.sub(r"#(\d+);", lambda m: chr(int(m.group(1))), text)


@dataclass
class Mermaid:
    nodes: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (name, kind)
    edges: list[tuple[str, str, str, str]] = field(default_factory=list)  # (source, target, label, arrow)
    subgraphs: list[str] = field(default_factory=list)
    classes: dict[str, str] = field(default_factory=dict)  # id -> action
    colours: dict[str, str] = field(default_factory=dict)  # action -> stroke
    edge_colours: dict[int, str] = field(default_factory=dict)  # edge index -> stroke

    def node(self, name: str) -> str:
        found = [node_id for node_id, (each, _) in self.nodes.items() if each == name and node_id.startswith("n")]
        assert len(found) == 1, (name, self.nodes)
        return found[0]

    def edge(self, source: str, target: str) -> tuple[str, str, str, str]:
        found = [e for e in self.edges if e[:2] == (self.node(source), self.node(target))]
        assert len(found) == 1, (source, target, self.edges)
        return found[0]

    def named_edges(self) -> set[tuple[str, str, str, str]]:
        return {(self.nodes[s][0], self.nodes[t][0], label, arrow) for s, t, label, arrow in self.edges}


def parse_mermaid(text: str) -> Mermaid:
    lines = text.split("\n")
    assert lines[0] == "flowchart LR" and lines[-1] == "", text[:200]
    parsed, depth = Mermaid(), 0
    for line in lines[1:-1]:
        statement = line.strip()
        if (match := _NODE.fullmatch(statement)) is not None:
            assert _OPEN_CLOSE[match["open"]] == match["close"], line
            name, _, kind = _decode(match["text"]).partition("<br/>")
            assert match["id"] not in parsed.nodes, line
            parsed.nodes[match["id"]] = (name, kind)
        elif (match := _EDGE.fullmatch(statement)) is not None:
            parsed.edges.append((match["source"], match["target"], _decode(match["label"] or ""), match["arrow"]))
        elif (match := _SUBGRAPH.fullmatch(statement)) is not None:
            parsed.subgraphs.append(_decode(match["text"]))
            depth += 1
        elif statement == "end":
            depth -= 1
            assert depth >= 0, text
        elif (match := _CLASS.fullmatch(statement)) is not None:
            parsed.classes.update({node_id: match["name"] for node_id in match["ids"].split(",")})
        elif (match := _CLASSDEF.fullmatch(statement)) is not None:
            parsed.colours[match["name"]] = match["stroke"]
        elif (match := _LINKSTYLE.fullmatch(statement)) is not None:
            parsed.edge_colours.update({int(n): match["stroke"] for n in match["numbers"].split(",")})
        else:
            assert _STYLE.fullmatch(statement) or statement.startswith("%%"), f"not a statement: {line!r}"
    assert depth == 0, text
    for source, target, _, _ in parsed.edges:  # every arrow joins two boxes it defines
        assert source in parsed.nodes and target in parsed.nodes, (source, target)
    return parsed


def _graph(*args: str, cwd: Path | None = None) -> str:
    done = topology("graph", *args, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _example(name: str) -> list[str]:
    path = str(EXAMPLES / f"{name}.topology.yaml")
    return [path, "--env", "dev"] if name == "shop" else [path]


# --------------------------------------------------------------------------------------------------------
# Graphviz


def _dot() -> str:
    found = shutil.which("dot")
    if found is None:
        pytest.fail("Graphviz's `dot` is not installed: run `scripts/brokers up` (it installs Debian's graphviz) "
                    "or `sudo apt-get install graphviz`")
    return found


def _svg(dot_text: str) -> str:
    done = subprocess.run([_dot(), "-Tsvg"], input=dot_text, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "<svg" in done.stdout
    return done.stdout


def _svg_texts(svg: str) -> list[str]:
    import html

    # Graphviz keeps a run of spaces as no-break spaces
    return [html.unescape(text).replace("\xa0", " ") for text in re.findall(r"<text[^>]*>([^<]*)</text>", svg)]


@pytest.mark.parametrize(("example", "names"), [
    ("rabbitmq-retry", ["orders", "billing", "billing.dlq", "billing.retry.5s", "audit", "vhost shop", "order.*",
                        "dead-letter", "retry 5s", "alternate"]),
    ("kafka-events", ["shop.orders", "shop.orders.dlt", "billing", "ledger", "retry 1m"]),
    ("sns-sqs-fanout", ["order-events", "billing", "billing-dlq", "type: created, paid",
                        "dead-letter after 5 receives"]),
    ("redis-streams", ["orders", "orders:dlq", "ledger", "payments"]),
    ("shop", ["orders", "order-intake", "order-intake.dlq", "shop.orders", "shop-fulfilment", "shop:storefront",
              "cache-warmer", "shop-order-events", "shop-emails", "type: created"]),
])
def test_each_example_renders_through_graphviz(example: str, names: list[str]) -> None:
    texts = _svg_texts(_svg(_graph(*_example(example), "--format", "dot")))
    for name in names:
        assert name in texts, (name, texts)


# --------------------------------------------------------------------------------------------------------
# What the picture shows


def test_exchanges_bindings_queues_and_their_dead_letter_and_retry_paths() -> None:
    picture = parse_mermaid(_graph(*_example("rabbitmq-retry")))
    assert picture.nodes[picture.node("orders")][1] == "rabbitmq exchange"
    assert picture.edge("orders", "billing")[2:] == ("order.*", "-->")  # the binding, its routing key on it
    assert picture.edge("orders", "audit")[2:] == ("#", "-->")
    assert picture.edge("orders.unrouted", "unrouted")[2:] == ("", "-->")
    assert picture.edge("orders", "orders.unrouted")[2:] == ("alternate", "-.->")
    assert picture.edge("billing", "billing.dlq")[2:] == ("dead-letter", "-.->")
    for delay in ("5s", "30s", "5m"):
        assert picture.edge("billing", f"billing.retry.{delay}")[2:] == (f"retry {delay}", "-.->")
    assert len(picture.edges) == 8 and len(picture.nodes) == 9  # policies, users, permissions are not drawn
    assert picture.subgraphs == ["rabbit", "vhost shop"]
    assert not picture.classes  # without a plan nothing is coloured


def test_topics_groups_subscriptions_filters_redrive_and_streams() -> None:
    kafka = parse_mermaid(_graph(*_example("kafka-events")))
    assert kafka.named_edges() == {
        ("shop.orders", "billing", "", "-->"), ("shop.orders.retry.1m", "billing", "", "-->"),
        ("shop.orders.retry.10m", "billing", "", "-->"), ("shop.payments", "ledger", "", "-->"),
        ("shop.orders", "shop.orders.dlt", "dead-letter", "-.->"),
        ("shop.orders", "shop.orders.retry.1m", "retry 1m", "-.->"),
        ("shop.orders", "shop.orders.retry.10m", "retry 10m", "-.->")}
    aws = parse_mermaid(_graph(*_example("sns-sqs-fanout")))
    assert aws.edge("order-events", "billing")[2:] == ("type: created, paid", "-->")  # the filter policy
    assert aws.edge("order-events", "analytics")[2:] == ("", "-->")
    assert aws.edge("billing", "billing-dlq")[2:] == ("dead-letter after 5 receives", "-.->")  # the redrive
    assert aws.edge("billing", "billing-retry-30s")[2:] == ("retry 30s", "-.->")
    redis = parse_mermaid(_graph(*_example("redis-streams")))
    assert (redis.nodes[redis.node("payments")][1], redis.nodes[redis.node("ledger")][1]) == ("redis stream",
                                                                                             "redis group")
    assert redis.edge("payments", "ledger")[2:] == ("", "-->")
    assert redis.edge("orders", "orders:dlq")[2:] == ("dead-letter", "-.->")
    assert redis.edge("orders", "orders:retry:5s")[2:] == ("retry 5s", "-.->")


def test_the_output_is_the_same_each_time() -> None:
    assert _graph(*_example("shop")) == _graph(*_example("shop"))


HOSTILE = """version: 1
rabbitmq:
  vhosts:
    "v\\"] --> x\\nend":
      exchanges:
        "ex\\"]\\n--> n1[\\"pwn": {type: topic}
      queues:
        "q`--> n2 ]] {é} ü→ #quot; %% end\\r\\nclassDef x":
          bindings: [{exchange: "ex\\"]\\n--> n1[\\"pwn", routing_key: "k\\"|--> n3|\\n"}]
          dead_letter: {queue: "dl\\\\q\\n-->"}
"""
EXCHANGE, QUEUE, DEAD = 'ex"] --> n1["pwn', "q`--> n2 ]] {é} ü→ #quot; %% end  classDef x", "dl\\q -->"


def test_hostile_names_are_labels_and_nothing_else(tmp_path: Path) -> None:
    (tmp_path / "t.topology.yaml").write_text(HOSTILE)
    text = _graph("t.topology.yaml", cwd=tmp_path)
    picture = parse_mermaid(text)
    assert sorted(name for name, _ in picture.nodes.values()) == sorted([EXCHANGE, QUEUE, DEAD])
    assert picture.named_edges() == {(EXCHANGE, QUEUE, 'k"|--> n3| ', "-->"), (QUEUE, DEAD, "dead-letter", "-.->")}
    assert picture.subgraphs == ["local", 'vhost v"] --> x end']
    assert "`" not in text and "\r" not in text  # no markdown string, no line but the picture's own
    texts = _svg_texts(_svg(_graph("t.topology.yaml", "--format", "dot", cwd=tmp_path)))
    for name in (EXCHANGE, QUEUE, DEAD, 'k"|--> n3| '):
        assert name in texts, (name, texts)


# --------------------------------------------------------------------------------------------------------
# A plan's changes


PRUNED = """version: 1
manage: {prune: true, include: ['*']}
rabbitmq:
  vhosts:
    shop:
      exchanges: {orders: {type: topic}}
      queues:
        billing: {bindings: [{exchange: orders, routing_key: "order.*"}]}
        keep: {bindings: [{exchange: orders, routing_key: k}]}
"""
GROWN = """version: 1
manage: {prune: true, include: ['*']}
rabbitmq:
  vhosts:
    shop:
      exchanges: {orders: {type: topic}}
      queues:
        billing:
          bindings: [{exchange: orders, routing_key: "order.*"}]
          dead_letter: {queue: billing.dlq}
        audit: {bindings: [{exchange: orders, routing_key: "#"}]}
        keep: {bindings: [{exchange: orders, routing_key: k}]}
"""


def _planned(folder: Path) -> Path:
    """A saved plan from PRUNED plus `legacy` (applied to a state file) to GROWN."""
    legacy = "        legacy: {bindings: [{exchange: orders, routing_key: old}]}\n"
    (folder / "t.topology.yaml").write_text(PRUNED + legacy)
    done = topology("apply", "t.topology.yaml", "--state", "s.json", "--auto-approve", cwd=folder)
    assert done.returncode == 0, done.stderr
    (folder / "t.topology.yaml").write_text(GROWN)
    done = topology("plan", "t.topology.yaml", "--offline", "--state", "s.json", "--out", "p.json", cwd=folder)
    assert done.returncode == 0, done.stderr
    return folder / "p.json"


def test_a_plan_colours_what_it_creates_updates_and_deletes(tmp_path: Path) -> None:
    _planned(tmp_path)
    picture = parse_mermaid(_graph("t.topology.yaml", "--plan", "p.json", cwd=tmp_path))
    action = {picture.nodes[node_id][0]: name for node_id, name in picture.classes.items() if node_id.startswith("n")}
    # audit and billing.dlq are new; billing gains its dead-letter argument (a replace: arguments are fixed);
    # legacy is no longer in the file and is drawn from the plan's `before`; orders and keep are unchanged.
    assert action == {"audit": "create", "billing.dlq": "create", "billing": "replace", "legacy": "delete"}
    assert picture.colours == {"create": "#1a7f37", "update": "#bf8700", "replace": "#d4691e", "delete": "#cf222e"}
    by_name = {(picture.nodes[s][0], picture.nodes[t][0]): index for index, (s, t, _, _) in enumerate(picture.edges)}
    assert picture.edge_colours[by_name[("orders", "legacy")]] == "#cf222e"  # its binding goes with it
    assert picture.edge_colours[by_name[("orders", "audit")]] == "#1a7f37"
    assert picture.edge_colours[by_name[("billing", "billing.dlq")]] == "#1a7f37"
    assert picture.edge_colours[by_name[("orders", "billing")]] == "#1a7f37"  # re-created with its queue
    assert by_name[("orders", "keep")] not in picture.edge_colours and picture.node("keep") not in picture.classes
    assert {picture.nodes[node_id][0] for node_id in picture.nodes if node_id.startswith("l")} == {
        "+ create", "~ update", "-/+ replace", "- delete"}  # the legend


def test_a_plan_in_dot_renders_through_graphviz(tmp_path: Path) -> None:
    _planned(tmp_path)
    text = _graph("t.topology.yaml", "--plan", "p.json", "--format", "dot", cwd=tmp_path)
    assert re.search(r'\[label="legacy\\nrabbitmq queue", shape=box, style="filled,dashed", fillcolor="#ffebe9", '
                     r'color="#cf222e"', text), text
    assert re.search(r'\[label="audit\\nrabbitmq queue", shape=box, style="filled", fillcolor="#dafbe1"', text), text
    texts = _svg_texts(_svg(text))
    assert {"legacy", "audit", "billing.dlq", "+ create", "- delete"} <= set(texts)


def test_a_plan_of_other_files_or_another_environment_is_refused(tmp_path: Path) -> None:
    _planned(tmp_path)
    (tmp_path / "t.topology.yaml").write_text(GROWN + "        more: {}\n")  # changed since the plan
    done = topology("graph", "t.topology.yaml", "--plan", "p.json", cwd=tmp_path)
    assert done.returncode == 1 and done.stdout == ""
    assert "p.json was not made from these files as they are now without --env" in done.stderr
    (tmp_path / "t.topology.yaml").write_text(GROWN)
    assert topology("graph", "t.topology.yaml", "--plan", "p.json", cwd=tmp_path).returncode == 0


def test_a_terminal_without_unicode_gets_escapes_not_a_crash(tmp_path: Path) -> None:
    name = "orders-\u2713-" + "x" * 90  # beyond latin-1, and long enough to be clipped with an ellipsis
    (tmp_path / "t.topology.yaml").write_text(f"version: 1\nredis:\n  streams:\n    {name}: {{}}\n")
    commands = {("graph", "--format", "dot"): "\\u2713", ("graph",): "#10003;",  # mermaid has its own escape
                ("plan", "--state", "s.json"): "\\u2713", ("render",): "\\u2713"}
    for command, written in commands.items():
        done = topology(command[0], "t.topology.yaml", *command[1:], cwd=tmp_path, env={"PYTHONIOENCODING": "latin-1"})
        assert done.returncode == 0, done.stderr
        assert "unexpectedly" not in done.stderr and written in done.stdout


def test_a_bad_format_is_one_sentence_and_exit_1() -> None:
    done = topology("graph", *_example("rabbitmq-retry"), "--format", "png")
    assert done.returncode == 1
    assert "'png' is not one of 'mermaid', 'dot'" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert done.stdout == ""


def test_a_missing_plan_file_is_one_sentence_and_exit_1(tmp_path: Path) -> None:
    done = topology("graph", *_example("rabbitmq-retry"), "--plan", str(tmp_path / "nope.json"))
    assert done.returncode == 1 and "nope.json: file not found" in done.stderr and "Traceback" not in done.stderr


# --------------------------------------------------------------------------------------------------------
# The markdown plan's picture


def _mermaid_block(comment: str) -> str | None:
    found = re.search(r"^```mermaid\n(.*?)^```$", comment, re.S | re.M)
    return found.group(1) if found else None


def test_the_markdown_plan_pictures_what_changes(tmp_path: Path) -> None:
    plan = _planned(tmp_path)
    done = topology("show", str(plan), "--format", "markdown")
    assert done.returncode == 0, done.stderr
    block = _mermaid_block(done.stdout)
    assert block is not None, done.stdout
    picture = parse_mermaid(block)
    action = {picture.nodes[node_id][0]: name for node_id, name in picture.classes.items() if node_id.startswith("n")}
    assert action == {"audit": "create", "billing.dlq": "create", "billing": "replace", "legacy": "delete"}
    # orders does not change: it is drawn, plain, as the end of the changed bindings
    assert "orders" in {name for name, _ in picture.nodes.values()} and picture.node("orders") not in picture.classes
    assert ("billing", "billing.dlq", "dead-letter", "-.->") in picture.named_edges()
    assert done.stdout.index("```mermaid") < done.stdout.index("#### Destructive changes")


def _creates(count: int, name: str = "q") -> Plan:
    changes = tuple(Change(address=f"rabbitmq/shop/queue/{name}{i:04d}", kind="rabbitmq.queue", target="local",
                           name=f"{name}{i:04d}", scope="shop", action="create",
                           after={"type": "classic", "arguments": {}}) for i in range(count))
    return Plan(source_digest="sha256:0", live_digests={}, changes=changes)


def test_a_large_plan_gets_a_note_instead_of_a_picture() -> None:
    comment = render_markdown(_creates(PICTURED + 1))
    assert _mermaid_block(comment) is None
    assert f"_No picture of the changes: the plan makes {PICTURED + 1} (over {PICTURED})" in comment
    assert "`topology graph FILE... --plan PLANFILE`" in comment and len(comment) <= LIMIT


def test_a_picture_too_long_for_the_comment_gets_a_note() -> None:
    comment = render_markdown(_creates(150, "q" * 120))  # 150 boxes of long names: over PICTURE_LIMIT
    assert _mermaid_block(comment) is None
    assert "_No picture of the changes: it would take" in comment
    small = render_markdown(_creates(60))
    block = _mermaid_block(small)
    assert block is not None and len(block) < PICTURE_LIMIT and len(parse_mermaid(block).nodes) == 60 + 4


def test_a_plan_of_nothing_drawn_has_no_picture() -> None:
    plan = Plan(source_digest="sha256:0", live_digests={}, changes=(
        Change(address="rabbitmq/user/u", kind="rabbitmq.user", target="local", name="u", action="create",
               after={"tags": []}),))
    comment = render_markdown(plan)
    assert "mermaid" not in comment and "picture" not in comment
