"""The plan as a pull-request comment, always under GitHub's 65,536 characters.

First what the plan is about (environment, targets, files) and its summary line; a mermaid picture of
what changes (when the plan is small enough for one to help); then every destructive change (delete,
replace, data loss) in full; then the rest folded away. Past the budget, changes are listed by address
only, and then left out with a note that says how many and where to see them all (`topology show
PLANFILE`, `topology plan --format text`)."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from topology.engine.plan import PARTIAL_NO_CHANGES, AttributeChange, Change, Plan
from topology.render.text import SYMBOLS
from topology.render.values import SENSITIVE, in_units, show

__all__ = ["GITHUB_LIMIT", "LIMIT", "PICTURED", "PICTURE_LIMIT", "render_markdown"]

GITHUB_LIMIT = 65_536  # characters GitHub accepts in one comment
LIMIT = 60_000  # what the comment takes at most: room is left for a workflow's own lines around it
_NOTE_ROOM = 600  # kept for the notes of what is not shown
_LISTED = 20  # files and targets named in the header; the rest are counted
_LONGEST = 200  # characters of a file, target or environment name in the header
_MARKS = {"create": "+", "delete": "-", "update": "!", "replace": "!"}
_UNSET = object()
PICTURED = 200  # changes a plan makes at most for the comment to picture them
PICTURE_LIMIT = 8_000  # characters the picture takes at most


def _code(text: str) -> str:
    """`text` as a markdown code span, fenced with more backticks than it holds."""
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _prose(text: str) -> str:
    """Text of topology's own (reasons, naming objects in code spans) in a paragraph: outside the code spans
    no HTML (a name may hold `</details>`), no line breaks."""
    parts = re.split(r"(`[^`]+`)", text.replace("\n", " "))
    return "".join(part if part.startswith("`") else html.escape(part, quote=False) for part in parts)


def _clip(text: str) -> str:
    """A name for the header, cut short if very long (the header is never folded or left out)."""
    return text if len(text) <= _LONGEST else text[:_LONGEST - 1] + "…"


def _names(items: Sequence[str]) -> str:
    shown = ", ".join(items[:_LISTED])
    return shown + (f" and {len(items) - _LISTED:,} more" if len(items) > _LISTED else "")


def _broker(kind: str) -> str:
    """The broker a resource kind belongs to (`sqs.queue`: aws), as far as this installation knows it."""
    from topology.brokers.registry import broker_of_kind

    try:
        return broker_of_kind(kind).name
    except KeyError:
        return kind.split(".", 1)[0]


def _targets(plan: Plan) -> list[str]:
    """Each target the plan changes: its name and the brokers whose objects it holds (never an address: a
    plan holds none)."""
    kinds: dict[str, set[str]] = {}
    for change in plan.changes:
        kinds.setdefault(change.target, set()).add(_broker(change.kind))
    return [f"{_code(_clip(name))} ({'state file: ' if name == 'local' else ''}{', '.join(sorted(brokers))})"
            for name, brokers in sorted(kinds.items())]


def _header(plan: Plan) -> list[str]:
    environment = _code(_clip(plan.environment)) if plan.environment else "none (no `--env`)"
    lines = ["### topology plan" + (f": {environment}" if plan.environment else ""), "",
             f"**Environment:** {environment}  "]
    if plan.changes:
        lines.append(f"**Targets:** {_names(_targets(plan))}  ")
    files = [_code(_clip(path)) for path in plan.files]
    lines += [f"**Files:** {_names(files) if files else 'none recorded'}", ""]
    if plan.partial:
        lines += ["> [!WARNING]", f"> {plan.partial_note(code=lambda option: _code(_clip(option)))}", ""]
    return lines


def _lines(change: Change) -> list[str]:
    """The diff lines of one change: one per attribute, one per changed key of a mapping that is updated."""
    mark = _MARKS[change.action]
    if change.action == "delete" and not change.attributes:
        return [f"- {name} = {in_units(change.kind, (name,), value)}" for name, value in (change.before or {}).items()]
    lines: list[str] = []
    for attribute in change.attributes:
        note = "  # forces replacement" if attribute.forces_replacement else ""
        lines += [f"{mark} {text}{note}" for text in _attribute(change, attribute)]
    return lines


def _attribute(change: Change, attribute: AttributeChange) -> list[str]:
    name, before, after = attribute.name, attribute.before, attribute.after
    if attribute.sensitive:
        return [f"{name} = {SENSITIVE}"]
    if change.action == "create":
        return [f"{name} = {in_units(change.kind, (name,), after)}"]
    if change.action == "delete":
        return [f"{name} = {in_units(change.kind, (name,), before)}"]
    if isinstance(before, dict) and isinstance(after, dict):
        changed = [key for key in sorted(set(before) | set(after)) if before.get(key, _UNSET) != after.get(key, _UNSET)]
        if changed:
            return [f"{name}[{show(key)}] = {_either(change.kind, (name, key), before, key)} -> "
                    f"{_either(change.kind, (name, key), after, key)}" for key in changed]
    return [f"{name} = {in_units(change.kind, (name,), before)} -> {in_units(change.kind, (name,), after)}"]


def _either(kind: str, path: tuple[str, ...], values: dict[str, Any], key: str) -> str:
    return in_units(kind, path, values[key]) if key in values else "(unset)"


def _title(change: Change) -> str:
    reasons = f" · {_prose('; '.join(change.reasons))}" if change.reasons else ""
    return (f"{_code(SYMBOLS[change.action])} **{_code(change.address)}** ({change.kind} on {_code(change.target)})"
            f"{reasons}")


def _full(change: Change) -> list[str]:
    """A change with its attributes; one without any (a vhost, a bare stream) is its title alone."""
    diff = _lines(change)
    if not diff:
        return [_title(change), ""]
    fence = "`" * max(3, max((len(run) + 1 for line in diff for run in re.findall(r"`+", line)), default=0))
    return [_title(change), "", f"{fence}diff", *diff, fence, ""]


def _brief(change: Change) -> list[str]:
    return [f"- {_code(SYMBOLS[change.action])} {_code(change.address)}"]


@dataclass
class _Budget:
    left: int
    brief: int = 0  # changes listed by address only
    hidden: int = 0  # changes not in the comment at all
    lines: list[str] = field(default_factory=list)

    def fill(self, changes: Sequence[Change]) -> None:
        """As many changes in full as leave room to list the rest by address; when even the addresses do not
        all fit, half the room in full and the rest by address while that fits."""
        fulls, briefs = [_full(c) for c in changes], [_brief(c) for c in changes]
        full_sizes, brief_sizes = [_size(f) for f in fulls], [_size(b) for b in briefs]
        intro = ["_The rest by address only:_", ""]
        fitting, full_so_far, briefs_after = [], 0, sum(brief_sizes)
        for k in range(len(changes) + 1):  # k changes in full, the rest by address
            if full_so_far + briefs_after + (_size(intro) + 1 if k < len(changes) else 0) <= self.left:
                fitting.append(k)
            if k < len(changes):
                full_so_far, briefs_after = full_so_far + full_sizes[k], briefs_after - brief_sizes[k]
        if fitting:
            detailed = max(fitting)
        else:
            detailed, used = 0, 0
            while detailed < len(changes) and used + full_sizes[detailed] <= self.left // 2:
                used += full_sizes[detailed]
                detailed += 1
        for text in fulls[:detailed]:
            self._add(text)
        if detailed == len(changes):
            return
        if brief_sizes[detailed] + _size(intro) + 1 > self.left:
            self.hidden += len(changes) - detailed
            return
        self._add(intro)
        for index in range(detailed, len(changes)):
            if brief_sizes[index] + 1 > self.left:
                self.hidden += len(changes) - index
                break
            self._add(briefs[index])
            self.brief += 1
        self._add([""])

    def _add(self, text: list[str]) -> None:
        self.lines += text
        self.left -= _size(text)


def _size(lines: list[str]) -> int:
    return sum(len(line) + 1 for line in lines)


def _counts(changes: Sequence[Change]) -> str:
    found = [(action, sum(1 for c in changes if c.action == action)) for action in SYMBOLS]
    return ", ".join(f"{count:,} to {action}" for action, count in found if count)


def render_markdown(plan: Plan, *, limit: int = LIMIT) -> str:
    """The comment; it is never longer than `limit` characters (at least a few thousand)."""
    lines = _header(plan)
    if plan.is_empty:
        whole = "**No changes.** The live brokers match the topology."
        nothing = f"**{PARTIAL_NO_CHANGES}**" if plan.partial else whole
        return "\n".join([*lines, nothing]) + "\n"
    lines += [f"**{plan.summary()}**", ""]
    if plan.loses_data:
        lines += ["> [!CAUTION]", "> This plan loses data; apply needs `--allow-data-loss`.", ""]
    if plan.count("delete"):
        lines += ["This plan deletes resources; apply needs `--allow-delete`.", ""]
    lines += _picture(plan, limit)
    destructive = [c for c in plan.changes if c.is_destructive or c.loses_data]
    rest = [c for c in plan.changes if not (c.is_destructive or c.loses_data)]
    budget = _Budget(limit - _size(lines) - _NOTE_ROOM)
    if destructive:
        budget.lines += [f"#### Destructive changes ({len(destructive):,})", ""]
        budget.left -= _size(budget.lines)
        budget.fill(destructive)
    if rest:
        opening = [f"<details><summary>{'Other changes' if destructive else 'Changes'}: {_counts(rest)}</summary>", ""]
        budget.lines += opening
        budget.left -= _size(opening) + len("</details>\n\n")
        budget.fill(rest)
        budget.lines += ["</details>", ""]
    lines += budget.lines
    if budget.brief or budget.hidden:
        lines += ["> [!NOTE]", f"> {_omitted(budget)} to keep this comment under GitHub's limit of "
                  f"{GITHUB_LIMIT:,} characters. See every change with `topology show PLANFILE` or "
                  "`topology plan --format text`.", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def _picture(plan: Plan, limit: int) -> list[str]:
    """The mermaid picture of what the plan changes (GitHub draws it), when it is small enough to help: at most
    PICTURED changes and a fifth of the comment's room (and never more than PICTURE_LIMIT characters)."""
    from topology.render.graph import mermaid, picture_of_changes

    where = "draw it with `topology graph FILE... --plan PLANFILE`"
    if len(plan.changes) > PICTURED:
        return [f"_No picture of the changes: the plan makes {len(plan.changes):,} (over {PICTURED}); {where}._", ""]
    drawn = picture_of_changes(plan.changes)
    if not drawn.nodes:
        return []  # nothing it changes is drawn: users, permissions, policies
    picture = mermaid(drawn)
    block = ["```mermaid", *picture.rstrip("\n").split("\n"), "```", ""]
    if _size(block) > min(PICTURE_LIMIT, limit // 5):
        return [f"_No picture of the changes: it would take {_size(block):,} characters; {where}._", ""]
    return block


def _omitted(budget: _Budget) -> str:
    parts = []
    if budget.brief:
        parts.append(f"{budget.brief:,} {'change is' if budget.brief == 1 else 'changes are'} listed by address only")
    if budget.hidden:
        parts.append(f"{budget.hidden:,} {'change is' if budget.hidden == 1 else 'changes are'} not shown")
    return " and ".join(parts).capitalize() if parts else ""
