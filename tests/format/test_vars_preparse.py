"""`vars:` and `environments:` are read by the YAML parser before a file is rendered, in any YAML style."""

from __future__ import annotations

from pathlib import Path

from topology.format.compile import compile_topology
from topology.format.templating import neutralise


def _compile(tmp_path: Path, text: str, **options: object) -> tuple[str, object]:
    path = tmp_path / "t.topology.yaml"
    path.write_text(text)
    return str(path), compile_topology([str(path)], **options)  # type: ignore[arg-type]


def _errors(topology: object) -> list[str]:
    return [str(p) for p in topology.errors]  # type: ignore[attr-defined]


def _queues(topology: object) -> list[str]:
    return sorted(a for a in topology.resources if "/queue/" in a)  # type: ignore[attr-defined]


def test_a_flow_style_document_reads_its_vars(tmp_path: Path) -> None:
    _, topology = _compile(tmp_path, '{version: 1, vars: {vh: shop, q: billing}, '
                                     'rabbitmq: {vhosts: {"{{ vars.vh }}": {queues: {"{{ vars.q }}": {}}}}}}\n')
    assert _errors(topology) == []
    assert _queues(topology) == ["rabbitmq/shop/queue/billing"]


def test_a_flow_style_vars_block_may_close_at_the_margin(tmp_path: Path) -> None:
    _, topology = _compile(tmp_path, """vars: {
  vh: shop,
}
version: 1
rabbitmq: {vhosts: {"{{ vars.vh }}": {queues: {work: {}}}}}
""")
    assert _errors(topology) == []
    assert _queues(topology) == ["rabbitmq/shop/queue/work"]


def test_block_style_with_comments_and_an_environment(tmp_path: Path) -> None:
    _, topology = _compile(tmp_path, """# the shop's queues
version: 1
vars:   # plain values
  # the vhost
  vh: shop
  queues: [billing, emails]   # one queue each
environments:
  prod:
    vars: {vh: shop-prod}
rabbitmq:
  vhosts:
    "{{ vars.vh }}":
      queues:
{% for q in vars.queues %}
        {{ q }}: {}
{% endfor %}
""", env="prod")
    assert _errors(topology) == []
    assert _queues(topology) == ["rabbitmq/shop-prod/queue/billing", "rabbitmq/shop-prod/queue/emails"]


def test_vars_may_repeat_an_anchor_declared_before_them(tmp_path: Path) -> None:
    """The anchor is in `environments`, above `vars`: a block read alone could not see it."""
    _, topology = _compile(tmp_path, """version: 1
environments:
  prod:
    vars: &defaults {vh: shop, q: billing}
vars: *defaults
rabbitmq:
  vhosts:
    "{{ vars.vh }}":
      queues: {"{{ vars.q }}": {}, copy: {}}
""")
    assert _errors(topology) == []
    assert _queues(topology) == ["rabbitmq/shop/queue/billing", "rabbitmq/shop/queue/copy"]


def test_vars_may_repeat_an_anchor_from_another_section(tmp_path: Path) -> None:
    _, topology = _compile(tmp_path, """version: 1
rabbitmq:
  vhosts:
    shop:
      queues: {&q billing: {}}
vars: {name: *q}
sqs: {queues: {"{{ vars.name }}": {}}}
""")
    assert _errors(topology) == []
    assert _queues(topology) == ["rabbitmq/shop/queue/billing", "sqs/queue/billing"]


def test_anchors_inside_vars(tmp_path: Path) -> None:
    _, topology = _compile(tmp_path, """version: 1
vars:
  base: &name billing
  q: *name
  merged: {<<: {vh: shop}, extra: 1}
rabbitmq: {vhosts: {"{{ vars.merged.vh }}": {queues: {"{{ vars.q }}": {}}}}}
""")
    assert _errors(topology) == []
    assert _queues(topology) == ["rabbitmq/shop/queue/billing"]


def test_a_template_in_a_vars_value_is_one_located_sentence_in_either_style(tmp_path: Path) -> None:
    path, flow = _compile(tmp_path, '{version: 1, vars: {a: plain, greeting: "hello {{ name }}"}}\n')
    assert _errors(flow) == [f"{path}:1:41 vars.greeting: `vars` holds plain values; templates are not expanded "
                             "there (write the value itself)"]
    path, block = _compile(tmp_path, 'version: 1\nvars:\n  a: plain\n  greeting: "hello {{ name }}"\n')
    assert _errors(block) == [f"{path}:4:13 vars.greeting: `vars` holds plain values; templates are not expanded "
                              "there (write the value itself)"]


def test_a_block_tag_inside_vars_is_refused_where_it_is(tmp_path: Path) -> None:
    """`{% if %}` cannot choose vars: they are read before the file is rendered."""
    path, topology = _compile(tmp_path, """version: 1
vars:
  vh: shop
{% if true %}
  q: billing
{% endif %}
rabbitmq: {vhosts: {"{{ vars.vh }}": {queues: {"{{ vars.q }}": {}}}}}
""")
    assert _errors(topology) == [
        f"{path}:4:1 vars: `vars` holds plain values; a `{{% %}}` block cannot choose them (write the values "
        "themselves; values that differ by environment go under `environments:`)"]


def test_a_tag_after_the_vars_block_is_not_inside_it(tmp_path: Path) -> None:
    _, topology = _compile(tmp_path, """version: 1
vars:
  vh: shop
{% if vars.vh == "shop" %}
rabbitmq: {vhosts: {"{{ vars.vh }}": {queues: {work: {}}}}}
{% endif %}
""")
    assert _errors(topology) == []
    assert _queues(topology) == ["rabbitmq/shop/queue/work"]


def test_a_file_that_is_yaml_only_once_rendered_reads_its_vars_block(tmp_path: Path) -> None:
    """A template writing a whole key: the blanked-out text is not YAML, the `vars:` lines are read as before."""
    _, topology = _compile(tmp_path, """version: 1
vars:
  vh: shop
{{ "rabbitmq" }}:
  vhosts:
    "{{ vars.vh }}": {queues: {work: {}}}
""")
    assert _errors(topology) == []
    assert _queues(topology) == ["rabbitmq/shop/queue/work"]


def test_flow_style_naming_templates_are_kept_for_expansion(tmp_path: Path) -> None:
    _, topology = _compile(tmp_path, '{version: 1, vars: {vh: shop}, naming: {rabbitmq_retry_queue: '
                                     '"retry.{{ delay }}.{{ queue }}"}, rabbitmq: {vhosts: {"{{ vars.vh }}": '
                                     '{queues: {work: {retry: {delays: [1m]}}}}}}}\n')
    assert _errors(topology) == []
    assert "rabbitmq/shop/queue/retry.1m.work" in _queues(topology)


def test_vars_errors_keep_their_lines(tmp_path: Path) -> None:
    path, topology = _compile(tmp_path, "version: 1\nvars: [a, b]\nrabbitmq: {vhosts: {'{{ vars }}': {}}}\n")
    assert _errors(topology) == [f"{path}:2:7 vars: `vars` must be a mapping"]
    path, twice = _compile(tmp_path, "version: 1\nvars:\n  a: 1\n  a: 2\nx: '{{ vars.a }}'\n")
    assert [p.message for p in twice.errors] == ["`a` is declared twice in the same mapping (first at line 3)"]  # type: ignore[attr-defined]


def test_a_plain_file_reads_vars_from_its_one_parse(tmp_path: Path) -> None:
    """No template at all: `vars` is still checked, and a flow-style file is read as any other."""
    path, topology = _compile(tmp_path, "{version: 1, vars: 3}\n")
    assert _errors(topology) == [f"{path}:1:20 vars: `vars` must be a mapping"]
    _, fine = _compile(tmp_path, "{version: 1, vars: {a: 1}, rabbitmq: {vhosts: {shop: {queues: {q: {}}}}}}\n")
    assert _errors(fine) == [] and _queues(fine) == ["rabbitmq/shop/queue/q"]


def test_neutralise_keeps_lines_and_columns() -> None:
    text = 'a: "{{ x }}"\n{% if y %}\nb: {{ z\n}}\n{# note #}c: 1\n{{ unclosed'
    neutral = neutralise(text)
    assert len(neutral.text) == len(text)
    assert neutral.text.split("\n")[1:] == ["          ", "b: " + neutral.placeholder * 4, neutral.placeholder * 2,
                                             "          c: 1", "{{ unclosed"]
    assert neutral.tags == (text.index("{% if"),)
    assert neutral.placeholder not in text
