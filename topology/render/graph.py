"""A picture of the topology: mermaid or Graphviz dot, a plan's changes coloured.

Exchanges, queues, topics, streams and groups are boxes; bindings, subscriptions, dead-letter and retry
paths are arrows (what each kind draws comes from its broker's kinds table: `drawn` and `links`). Each
target is a frame, a RabbitMQ vhost a frame inside it. With a plan, what it creates, updates, replaces
or deletes is coloured, and what it deletes (no longer in the files) is drawn from the plan, dashed.

The same picture is made from a plan's changes alone (the markdown plan embeds it): the changed objects
and the ends of their arrows. Names never reach the output raw: node ids are generated (n1, n2, ...) and
labels escaped, so a name holding quotes, newlines or `-->` is a label and nothing else. The output is
sorted, so the same input gives the same text.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from topology.core.kinds import Drawn, KindRules, Link

if TYPE_CHECKING:
    from topology.engine.plan import Change, Plan
    from topology.format.compile import Topology

__all__ = ["ACTIONS", "Picture", "mermaid", "picture_of_changes", "picture_of_topology", "render_graph"]

ACTIONS = ("create", "update", "replace", "delete")
_SYMBOLS = {"create": "+ create", "update": "~ update", "replace": "-/+ replace", "delete": "- delete"}
# fill, stroke, text
_COLOURS = {"create": ("#dafbe1", "#1a7f37", "#0f3d1e"), "update": ("#fff8c5", "#bf8700", "#4d2d00"),
            "replace": ("#ffe7d1", "#d4691e", "#5c2400"), "delete": ("#ffebe9", "#cf222e", "#67060c")}
_LONGEST_NAME = 80  # characters of a name in a box
_LONGEST_LABEL = 60  # characters of an arrow's label


@dataclass(frozen=True)
class _Node:
    address: str
    kind: str  # "" for an end of an arrow the picture has no object for
    name: str
    frame: tuple[str, str]  # (target, vhost or "")
    action: str | None = None


@dataclass(frozen=True)
class _Edge:
    source: str
    target: str
    label: str
    path: str
    action: str | None = None


@dataclass
class Picture:
    """What is drawn: boxes by address, arrows, and the frames (a vhost's) a plan changes."""

    nodes: dict[str, _Node] = field(default_factory=dict)
    edges: dict[tuple[str, str, str, str], _Edge] = field(default_factory=dict)
    frames: dict[tuple[str, str], str] = field(default_factory=dict)  # (target, vhost) -> the plan's action
    frame_kinds: dict[tuple[str, str], str] = field(default_factory=dict)  # (target, vhost) -> "vhost"
    planned: bool = False


@dataclass(frozen=True)
class _Item:
    """One object with what the picture needs of it: now (None once deleted) and before a change."""

    kind: str
    address: str
    name: str
    scope: str
    target: str
    now: Drawn | None
    was: Drawn | None = None
    action: str | None = None


def _rules(kind: str) -> KindRules:
    from topology.brokers.registry import rules_for

    return rules_for(kind)


def _container_word(kind: str) -> str:
    """What a broker's containers are called ("vhost"), from its kinds table."""
    from topology.brokers.registry import kind_rules

    broker = kind.split(".", 1)[0]
    for name, rules in sorted(kind_rules().items()):
        if rules.is_container and name.split(".", 1)[0] == broker:
            return name.split(".", 1)[1]
    return ""


def _links(drawn: Drawn | None, rules: KindRules) -> list[Link]:
    return rules.links(drawn) if drawn is not None and rules.links is not None else []


def _build(items: Iterable[_Item], planned: bool) -> Picture:
    picture = Picture(planned=planned)
    items = sorted(items, key=lambda item: item.address)
    ends: dict[str, _Node] = {}  # the ends of arrows, for those the picture has no object of
    for item in items:
        rules = _rules(item.kind)
        if rules.is_container:
            picture.frame_kinds[(item.target, item.name)] = item.kind.split(".", 1)[1]
            if item.action is not None:
                picture.frames[(item.target, item.name)] = item.action
    for item in items:
        rules = _rules(item.kind)
        if rules.drawn is None:
            continue
        frame = (item.target, item.scope if rules.in_container else "")
        if rules.in_container and frame not in picture.frame_kinds:
            picture.frame_kinds[frame] = _container_word(item.kind)
        if rules.drawn == "node":
            picture.nodes[item.address] = _Node(item.address, item.kind, item.name, frame, item.action)
        for link, action in _actions(item, rules):
            key = (link.source, link.target, link.label, link.path)
            if key not in picture.edges or picture.edges[key].action is None:
                picture.edges[key] = _Edge(link.source, link.target, link.label, link.path, action)
            for address, name in ((link.source, link.source_name), (link.target, link.target_name)):
                ends.setdefault(address, _Node(address, "", name or address, frame))
    for address, end in ends.items():
        picture.nodes.setdefault(address, end)
    return picture


def _actions(item: _Item, rules: KindRules) -> Sequence[tuple[Link, str | None]]:
    """The item's arrows, each with what the plan does to it: an arrow only before a change is deleted, one
    only after it is created; the arrows of a binding (drawn as its arrows) take the binding's action."""
    now, was = _links(item.now, rules), _links(item.was, rules)
    if item.action is None:
        return [(link, None) for link in now]
    if item.action in ("create", "delete"):
        return [(link, item.action) for link in (now if item.action == "create" else was)]
    if rules.drawn == "link":
        return [(link, item.action) for link in now] + [(link, "delete") for link in was if link not in now]
    same = "replace" if item.action == "replace" else None
    return ([(link, same if link in was else "create") for link in now]
            + [(link, "delete") for link in was if link not in now])


def _drawn(change: Change, attributes: dict[str, object] | None) -> Drawn | None:
    if attributes is None:
        return None
    return Drawn(change.address, change.name or change.address.rsplit("/", 1)[-1], change.scope, attributes)


def _item_of_change(change: Change) -> _Item:
    return _Item(change.kind, change.address, change.name or change.address.rsplit("/", 1)[-1], change.scope,
                 change.target, _drawn(change, change.after), _drawn(change, change.before), change.action)


def picture_of_topology(topology: Topology, plan: Plan | None) -> Picture:
    """The compiled topology, with `plan`'s changes coloured and its deletes drawn from the plan."""
    changes = {change.address: change for change in plan.changes} if plan is not None else {}
    items = []
    for resource in topology.resources.values():
        change = changes.get(resource.address)
        drawn = Drawn(resource.address, resource.name, resource.scope, resource.attributes, resource.role,
                      resource.generated_by, from_files=True)
        before = _drawn(change, change.before) if change is not None else None
        items.append(_Item(resource.kind, resource.address, resource.name, resource.scope, resource.target or "local",
                           drawn, before, change.action if change is not None else None))
    items += [_item_of_change(change) for change in changes.values()
              if change.action == "delete" and change.address not in topology.resources]
    return _build(items, planned=plan is not None)


def picture_of_changes(changes: Sequence[Change]) -> Picture:
    """What `changes` change: their objects and the ends of their arrows (drawn plain)."""
    return _build([_item_of_change(change) for change in changes], planned=True)


def render_graph(topology: Topology, plan: Plan | None, format: str) -> str:
    """The topology drawn in `format` ("mermaid" or "dot"), `plan`'s changes coloured."""
    picture = picture_of_topology(topology, plan)
    return dot(picture) if format == "dot" else mermaid(picture)


# ---------------------------------------------------------------------------------------------------------
# Text


def _clip(text: str, longest: int) -> str:
    return text if len(text) <= longest else text[:longest - 1] + "…"


def _printable(text: str) -> str:
    """Control characters (a newline in a name) as spaces: a label is one line of its own."""
    return "".join(" " if unicodedata.category(ch).startswith("C") else ch for ch in text)


def _mermaid_text(text: str) -> str:
    """Text for inside a quoted mermaid label: letters, digits and a few marks as they are, every other
    character as mermaid's entity code (`#34;`), so nothing can end the label or start a statement."""
    return "".join(ch if ch.isalnum() or ch in " ._-:/*,=@" else f"#{ord(ch)};" for ch in _printable(text))


def _dot_text(text: str) -> str:
    """Text for inside a quoted Graphviz string: backslashes and quotes escaped."""
    return _printable(text).replace("\\", "\\\\").replace('"', '\\"')


def _kind_words(kind: str) -> str:
    return kind.replace(".", " ").replace("_", " ")


def _ids(picture: Picture) -> dict[str, str]:
    order = sorted(picture.nodes.values(), key=lambda node: (node.frame, node.address))
    return {node.address: f"n{index}" for index, node in enumerate(order, 1)}


def _edges(picture: Picture, ids: dict[str, str]) -> list[_Edge]:
    return sorted(picture.edges.values(), key=lambda e: (int(ids[e.source][1:]), int(ids[e.target][1:]), e.label,
                                                         e.path))


def _frames(picture: Picture) -> dict[str, dict[str, list[_Node]]]:
    """Nodes by target, then by vhost ("" outside any)."""
    frames: dict[str, dict[str, list[_Node]]] = {}
    for node in sorted(picture.nodes.values(), key=lambda node: (node.frame, node.address)):
        frames.setdefault(node.frame[0], {}).setdefault(node.frame[1], []).append(node)
    return frames


def _frame_label(picture: Picture, target: str, vhost: str) -> str:
    word = picture.frame_kinds.get((target, vhost), "")
    return f"{word} {vhost}".strip()


_SHAPES = {"exchange": ('{{"', '"}}', "hexagon"), "topic": ('{{"', '"}}', "hexagon"),
           "group": ('(["', '"])', "ellipse"), "stream": ('[("', '")]', "cylinder"),
           "queue": ('["', '"]', "box")}


def _shape(kind: str) -> tuple[str, str, str]:
    return _SHAPES.get(kind.rsplit(".", 1)[-1], ('("', '")', "box")) if kind else ('("', '")', "box")


def _node_label(node: _Node, line: str) -> tuple[str, str]:
    """The name, and the kind (its second line) when the picture has the object."""
    return _clip(node.name, _LONGEST_NAME), _kind_words(node.kind) if node.kind else line


# ---------------------------------------------------------------------------------------------------------
# mermaid


def mermaid(picture: Picture) -> str:
    ids = _ids(picture)
    lines = ["flowchart LR"]
    frame_ids: dict[tuple[str, str], str] = {}

    def box(node: _Node, indent: str) -> str:
        name, kind = _node_label(node, "")
        opening, closing, _ = _shape(node.kind)
        text = _mermaid_text(name) + (f"<br/>{_mermaid_text(kind)}" if kind else "")
        return f"{indent}{ids[node.address]}{opening}{text}{closing}"

    for target, vhosts in _frames(picture).items():
        frame_ids[(target, "")] = f"c{len(frame_ids) + 1}"
        lines.append(f'  subgraph {frame_ids[(target, "")]}["{_mermaid_text(target)}"]')
        for vhost, nodes in vhosts.items():
            if vhost:
                frame_ids[(target, vhost)] = f"c{len(frame_ids) + 1}"
                lines.append(f'    subgraph {frame_ids[(target, vhost)]}'
                             f'["{_mermaid_text(_frame_label(picture, target, vhost))}"]')
            lines += [box(node, "      " if vhost else "    ") for node in nodes]
            if vhost:
                lines.append("    end")
        lines.append("  end")
    edges = _edges(picture, ids)
    for edge in edges:
        arrow = "-->" if edge.path == "flow" else "-.->"
        label = _clip(edge.label, _LONGEST_LABEL)
        lines.append(f'  {ids[edge.source]} {arrow}{f"|{chr(34)}{_mermaid_text(label)}{chr(34)}|" if label else ""} '
                     f"{ids[edge.target]}")
    if picture.planned:
        lines += _mermaid_plan(picture, ids, frame_ids, edges)
    return "\n".join(lines) + "\n"


def _mermaid_plan(picture: Picture, ids: dict[str, str], frame_ids: dict[tuple[str, str], str],
                  edges: list[_Edge]) -> list[str]:
    lines = ['  subgraph legend["plan"]']
    lines += [f'    l{index}["{_mermaid_text(_SYMBOLS[action])}"]' for index, action in enumerate(ACTIONS, 1)]
    lines.append("  end")
    for action in ACTIONS:
        fill, stroke, colour = _COLOURS[action]
        dashes = ",stroke-dasharray:5 5" if action == "delete" else ""
        lines.append(f"  classDef {action} fill:{fill},stroke:{stroke},color:{colour},stroke-width:2px{dashes}")
    for index, action in enumerate(ACTIONS, 1):
        members = [f"l{index}"] + [ids[n.address] for n in sorted(picture.nodes.values(), key=lambda n: ids[n.address])
                                   if n.action == action]
        lines.append(f"  class {','.join(sorted(members, key=_number))} {action}")
    for frame, action in sorted(picture.frames.items()):
        if frame in frame_ids:
            fill, stroke, _ = _COLOURS[action]
            dashes = ",stroke-dasharray:5 5" if action == "delete" else ""
            lines.append(f"  style {frame_ids[frame]} stroke:{stroke},stroke-width:2px{dashes}")
    for action in ACTIONS:
        numbers = [str(index) for index, edge in enumerate(edges) if edge.action == action]
        if numbers:
            dashes = ",stroke-dasharray:5 5" if action == "delete" else ""
            lines.append(f"  linkStyle {','.join(numbers)} stroke:{_COLOURS[action][1]},stroke-width:2px{dashes}")
    return lines


def _number(node_id: str) -> tuple[str, int]:
    return node_id[0], int(node_id[1:])


# ---------------------------------------------------------------------------------------------------------
# dot


def dot(picture: Picture) -> str:
    ids = _ids(picture)
    lines = ["digraph topology {", "  rankdir=LR;", '  node [fontname="Helvetica", fontsize=11, shape=box];',
             '  edge [fontname="Helvetica", fontsize=9];']
    cluster = 0
    for target, vhosts in _frames(picture).items():
        cluster += 1
        lines += [f"  subgraph cluster_{cluster} {{", f'    label="{_dot_text(target)}";']
        for vhost, nodes in vhosts.items():
            indent = "    "
            if vhost:
                cluster += 1
                indent = "      "
                lines += [f"    subgraph cluster_{cluster} {{",
                          f'      label="{_dot_text(_frame_label(picture, target, vhost))}";']
                action = picture.frames.get((target, vhost))
                if action is not None:
                    lines.append(f'      color="{_COLOURS[action][1]}"; penwidth=2;'
                                 + (' style="dashed";' if action == "delete" else ""))
            lines += [indent + _dot_node(node, ids) for node in nodes]
            if vhost:
                lines.append("    }")
        lines.append("  }")
    for edge in _edges(picture, ids):
        attributes = [f'label="{_dot_text(_clip(edge.label, _LONGEST_LABEL))}"'] if edge.label else []
        if edge.action == "delete" or edge.path != "flow":
            attributes.append('style="dashed"' if edge.action == "delete" else 'style="dotted"')
        if edge.action is not None:
            attributes += [f'color="{_COLOURS[edge.action][1]}"', "penwidth=2"]
        drawn = f" [{', '.join(attributes)}]" if attributes else ""
        lines.append(f"  {ids[edge.source]} -> {ids[edge.target]}{drawn};")
    if picture.planned:
        lines += ["  subgraph cluster_legend {", '    label="plan";']
        lines += [f'    l{index} [label="{_dot_text(_SYMBOLS[action])}", {_dot_colour(action)}];'
                  for index, action in enumerate(ACTIONS, 1)]
        lines.append("  }")
    return "\n".join(lines) + "\n}\n"


def _dot_colour(action: str) -> str:
    fill, stroke, colour = _COLOURS[action]
    style = "filled,dashed" if action == "delete" else "filled"
    return f'style="{style}", fillcolor="{fill}", color="{stroke}", fontcolor="{colour}", penwidth=2'


def _dot_node(node: _Node, ids: dict[str, str]) -> str:
    name, kind = _node_label(node, "")
    label = _dot_text(name) + (f"\\n{_dot_text(kind)}" if kind else "")
    attributes = [f'label="{label}"', f"shape={_shape(node.kind)[2]}"]
    if node.action is not None:
        attributes.append(_dot_colour(node.action))
    return f"{ids[node.address]} [{', '.join(attributes)}];"
