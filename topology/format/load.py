"""Reading topology files: vars -> jinja2 -> YAML with positions -> ${VAR} -> environment overlay -> models.

Every problem found on the way is collected with its file, line and column, so `validate` can
report all of them at once. Nothing here contacts a broker, so a `${VAR}` not set in a target's
connection values (`targets.<name>.url`, `.config`, ...) is no error here: the value is kept as
written and the problem kept in `LoadedFile.unset`, said when the target is contacted (unset_in_target).
"""

from __future__ import annotations

import os
import re
import sys
import traceback
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

import jinja2
import yaml
from jinja2.exceptions import SecurityError
from pydantic import BaseModel, ValidationError

from topology.core.collecting import cycles_collected_later
from topology.core.problems import Location, PathPart, Problem, did_you_mean, dotted
from topology.format.document import Document, document_model
from topology.format.templating import Neutralised, SafeTemplate, TemplateLimitError, neutralise

__all__ = ["DOCUMENT", "FILE_LIMIT", "VAR_LIMIT", "YAML_DEPTH_LIMIT", "YAML_VALUE_LIMIT", "InMemoryDocument",
           "LoadedFile", "Positions", "Unset", "load_document", "load_file", "parse_var", "unset_in_target"]

FILE_LIMIT = 8 * 1024 * 1024  # bytes in one topology file
VAR_LIMIT = 64 * 1024  # characters in one --var value
YAML_VALUE_LIMIT = 500_000  # values (scalars, lists, mappings) a file holds, each alias counting what it repeats
YAML_DEPTH_LIMIT = 64  # lists and mappings inside each other
DOCUMENT = "<document>"  # what problems in an in-memory document name as their file

InMemoryDocument = str | Mapping[str, Any]  # YAML text, or the mapping it would hold

Path_ = tuple[PathPart, ...]
_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_TOP_LEVEL_KEY = re.compile(r"^([A-Za-z_][A-Za-z0-9_-]*)\s*:")


@dataclass
class Positions:
    """Where each node of a file's data came from: path -> (line, column) of its key and of its value.

    Kept as plain 1-based tuples; a Location is made only when a problem asks for one."""

    file: str
    values: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path_, tuple[int, int]] = field(default_factory=dict)

    def rename(self, keys: Mapping[Path_, PathPart]) -> None:
        """Say that the keys at these paths (as read) are now named otherwise, with all that is under them."""
        if not keys:
            return
        renamed: dict[Path_, Path_] = {(): ()}  # each path's new form, made from its parent's: linear in the paths

        def new(path: Path_) -> Path_:
            found = renamed.get(path)
            if found is None:
                found = renamed[path] = (*new(path[:-1]), keys.get(path, path[-1]))
            return found

        for name in ("values", "keys"):
            table: dict[Path_, tuple[int, int]] = getattr(self, name)
            setattr(self, name, {new(path): at for path, at in table.items()})

    def at(self, path: Path_, *, key: bool = False) -> Location | None:
        """The location of `path`, or of its nearest ancestor that has one."""
        table = self.keys if key else self.values
        for end in range(len(path), -1, -1):
            found = table.get(path[:end]) or (self.values.get(path[:end]) if key else None)
            if found is not None:
                return Location(self.file, *found)
        return None


@dataclass
class LoadedFile:
    path: str
    document: Document | None  # None when the file has errors that stop it being read further
    positions: Positions
    problems: list[Problem]
    unset: list[Unset] = field(default_factory=list)  # variables a target needs only when it is contacted


def parse_var(assignment: str) -> tuple[str, Any]:
    """`KEY=VALUE` from --var, the value read as a YAML scalar (so 12 is a number, true a bool)."""
    key, sep, raw = assignment.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"--var {_shown(assignment)!r} is not KEY=VALUE")
    key = key.strip()
    if len(raw) > VAR_LIMIT:
        raise ValueError(f"--var {key} is {len(raw):,} characters long, over the {VAR_LIMIT // 1024} KiB limit")
    if not raw.strip():
        return key, ""
    problems: list[Problem] = []
    value = _parse_yaml(raw, "--var", Positions("--var"), problems)
    bounded = [p for p in problems if p.hint in _BOUND_HINTS]
    if bounded:
        raise ValueError(f"--var {key}: {bounded[0].message}")
    return key, raw if problems else value


# ---------------------------------------------------------------------------------- YAML + marks


def _mark(file: str, mark: yaml.Mark) -> Location:
    return Location(file, mark.line + 1, mark.column + 1)


_STR_TAG = "tag:yaml.org,2002:str"


def _point(mark: yaml.Mark) -> tuple[int, int]:
    return mark.line + 1, mark.column + 1


class _Builder:
    """Turns a composed YAML node tree into plain data, recording every node's position."""

    def __init__(self, loader: Any, positions: Positions, problems: list[Problem]) -> None:
        self.loader = loader
        self.positions = positions
        self.problems = problems
        self.merged: dict[int, int] = {}

    def build(self, node: yaml.Node, path: Path_) -> Any:
        self.positions.values[path] = _point(node.start_mark)
        if isinstance(node, yaml.MappingNode):
            merged = self._merge(node)
            data: dict[Any, Any] = {}
            from_merge: set[str] = set()
            for index, (key_node, value_node) in enumerate(node.value):
                key = self._scalar(key_node) if isinstance(key_node, yaml.ScalarNode) else None
                if not isinstance(key, str | int | float | bool) or key is None:
                    if key is not _UNREADABLE:
                        self.problems.append(Problem(
                            "a mapping key must be a plain word or number",
                            _mark(self.positions.file, key_node.start_mark), dotted(path)))
                    continue
                key = str(key) if not isinstance(key, str) else key
                child = (*path, key)
                if key in from_merge:  # `<<` merges: a later merged value, or the node's own, wins
                    from_merge.discard(key)
                    del data[key]
                elif key in data:
                    self.problems.append(Problem(
                        f"`{key}` is declared twice in the same mapping (first at line "
                        f"{self.positions.keys[child][0]})", _mark(self.positions.file, key_node.start_mark),
                        dotted(child), "remove or rename one of them"))
                self.positions.keys[child] = _point(key_node.start_mark)
                data[key] = self.build(value_node, child)
                if index < merged:
                    from_merge.add(key)
            return data
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, index)) for index, item in enumerate(node.value)]
        return self._scalar(node)

    def _merge(self, node: yaml.MappingNode) -> int:
        """Apply `<<` merge keys (once per node, however many aliases repeat it): how many pairs they added."""
        merged = self.merged.get(id(node))
        if merged is None:
            own = sum(1 for key, _ in node.value if key.tag != "tag:yaml.org,2002:merge")
            self.loader.flatten_mapping(node)
            merged = self.merged[id(node)] = len(node.value) - own
        return merged

    def _scalar(self, node: yaml.Node) -> Any:
        if node.tag == _STR_TAG:  # the common case, without PyYAML's constructor machinery
            return node.value
        try:
            return self.loader.construct_object(node, deep=True)
        except _UNREADABLE_ERRORS as exc:
            self.problems.append(_unreadable(node.tag, exc, _mark(self.positions.file, node.start_mark)))
            return _UNREADABLE


# what a scalar's constructor raises for text it cannot read; PyYAML's for `!!timestamp x` (an AttributeError)
# and `!!bool x` (a KeyError) say nothing worth repeating
_UNREADABLE_ERRORS = (ValueError, OverflowError, AttributeError, KeyError)


def _unreadable(tag: str, exc: Exception, at: Location) -> Problem:
    """A scalar its tag's constructor cannot read (a number too long, a date that does not exist, ...)."""
    kind = tag.rsplit(":", 1)[-1]
    message = (f"this number has more than {sys.get_int_max_str_digits()} digits"
               if kind == "int" and "digits" in str(exc) else
               f"this is not a valid {kind}" if isinstance(exc, AttributeError | KeyError) else
               f"this is not a valid {kind}: {exc}")
    return Problem(message, at, "", "quote it to keep it as text")


_UNREADABLE = object()  # a scalar already reported as unreadable
_COUNT_HINT = "an alias counts every value it repeats, each time; repeat less, or split the file"
_DEPTH_HINT = "flatten the structure"
_SELF_HINT = "an alias can only repeat a value whose anchor is complete"
_BOUND_HINTS = (_COUNT_HINT, _DEPTH_HINT, _SELF_HINT)


class _YamlBound(Exception):
    def __init__(self, message: str, mark: yaml.Mark, hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.mark = mark
        self.hint = hint


class _Composer:
    """PyYAML's composer over the parser's events, bounded: counts values as they are built (an alias
    counts every value it repeats), refuses an alias inside its own anchor and nesting past the limit.

    Keeps no recursion deeper than YAML_DEPTH_LIMIT levels, so an alias bomb, a recursive alias or
    `[[[[...` stops with the line of the alias or bracket, in bounded time and memory."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader
        self.anchors: dict[str, yaml.Node] = {}
        self.open: set[str] = set()
        self.sizes: dict[int, tuple[int, int]] = {}  # id(anchored node) -> (values it holds, its height)
        self.total = 0

    def single_node(self) -> yaml.Node | None:
        loader = self.loader
        loader.get_event()  # stream start
        node = None
        if not loader.check_event(yaml.StreamEndEvent):
            loader.get_event()  # document start
            node, _ = self.node(1)
            loader.get_event()  # document end
            if not loader.check_event(yaml.StreamEndEvent):
                event = loader.get_event()
                raise yaml.composer.ComposerError("expected a single document in the stream", node.start_mark,
                                                  "but found another document", event.start_mark)
        loader.get_event()  # stream end
        return node

    def count(self, values: int, mark: yaml.Mark, alias: str | None = None) -> None:
        self.total += values
        if self.total > YAML_VALUE_LIMIT:
            what = f"the alias `*{alias}` makes the file hold" if alias else "the file holds"
            raise _YamlBound(f"{what} more than {YAML_VALUE_LIMIT:,} values", mark, _COUNT_HINT)

    def node(self, depth: int) -> tuple[yaml.Node, int]:
        """The next node and its height, composed `depth` levels down."""
        loader = self.loader
        if loader.check_event(yaml.AliasEvent):
            return self.alias(loader.get_event(), depth)
        event = loader.peek_event()
        anchor = event.anchor
        if anchor is not None and anchor in self.anchors:
            raise yaml.composer.ComposerError(f"found duplicate anchor {anchor!r}; first occurrence",
                                              self.anchors[anchor].start_mark, "second occurrence", event.start_mark)
        if depth > YAML_DEPTH_LIMIT:
            raise _YamlBound(f"lists and mappings nest more than {YAML_DEPTH_LIMIT} deep here", event.start_mark,
                             _DEPTH_HINT)
        before = self.total
        self.count(1, event.start_mark)
        if loader.check_event(yaml.ScalarEvent):
            event = loader.get_event()
            tag = event.tag if event.tag not in (None, "!") else loader.resolve(yaml.ScalarNode, event.value,
                                                                                event.implicit)
            node: yaml.Node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, style=event.style)
            height = 1
            if anchor is not None:
                self.anchors[anchor] = node
        else:
            node, height = self.collection(loader.get_event(), anchor, depth)
        if anchor is not None:
            self.sizes[id(node)] = (self.total - before, height)
        return node, height

    def collection(self, start: Any, anchor: str | None, depth: int) -> tuple[yaml.Node, int]:
        loader = self.loader
        mapping = isinstance(start, yaml.MappingStartEvent)
        kind = yaml.MappingNode if mapping else yaml.SequenceNode
        tag = start.tag if start.tag not in (None, "!") else loader.resolve(kind, None, start.implicit)
        node = kind(tag, [], start.start_mark, None, flow_style=start.flow_style)
        if anchor is not None:
            self.anchors[anchor] = node
            self.open.add(anchor)
        end = yaml.MappingEndEvent if mapping else yaml.SequenceEndEvent
        height = 0
        while not loader.check_event(end):
            child, child_height = self.node(depth + 1)
            if mapping:
                value, value_height = self.node(depth + 1)
                node.value.append((child, value))
                child_height = max(child_height, value_height)
            else:
                node.value.append(child)
            height = max(height, child_height)
        node.end_mark = loader.get_event().end_mark
        if anchor is not None:
            self.open.discard(anchor)
        return node, height + 1

    def alias(self, event: Any, depth: int) -> tuple[yaml.Node, int]:
        name = event.anchor
        target = self.anchors.get(name)
        if target is None:
            raise yaml.composer.ComposerError(None, None, f"found undefined alias {name!r}", event.start_mark)
        if name in self.open:
            raise _YamlBound(f"the alias `*{name}` is inside the value it repeats", event.start_mark, _SELF_HINT)
        values, height = self.sizes[id(target)]
        if depth + height - 1 > YAML_DEPTH_LIMIT:
            raise _YamlBound(f"the alias `*{name}` nests lists and mappings more than {YAML_DEPTH_LIMIT} deep",
                             event.start_mark, _DEPTH_HINT)
        self.count(values, event.start_mark, name)
        return target, height


class _Fallback(Exception):
    """The file holds an anchor, an alias or a merge key: it is read through _Composer and _Builder instead."""


_MERGE_TAG = "tag:yaml.org,2002:merge"
_VALUE_TAG = "tag:yaml.org,2002:value"  # `=`: a plain key where PyYAML's merging reads mapping keys
_KEPT_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null", "tag:yaml.org,2002:float")
_CONSTRUCTED: dict[tuple[str, str], Any] = {}  # (tag, plain scalar) -> its value, for the tags in _KEPT_TAGS
_ITEM = object()  # the state of a list: the next event is an item
_SKIP = object()  # the state of a mapping whose key cannot be used: its value is composed, not built
_FAILED = object()  # a scalar whose constructor raised what ends the reading (kept in _Reader.failure)
_Frame = tuple[Any, Path_, int, Any]  # a collection being read: its data, path, depth and state


class _Reader:
    """The data and positions of a file straight from the parser's events, without yaml Nodes: what
    _Composer then _Builder make of a file without anchors, aliases or merge keys (those raise _Fallback).

    The same bounds, in the same order (the nesting checked before each value is counted); problems the
    building finds are kept aside and said only if the whole file composes, as the two stages do (a
    composing error is then the only problem). A constructor's failure stops the building where the
    builder stopped; the rest is only composed, and the failure raised at the end."""

    def __init__(self, loader: Any, file: str) -> None:
        self.loader = loader
        self.file = file
        self.values: dict[Path_, tuple[int, int]] = {}
        self.keys: dict[Path_, tuple[int, int]] = {}
        self.problems: list[Problem] = []
        self.failure: Exception | None = None
        self.total = 0

    def into(self, positions: Positions, problems: list[Problem]) -> Any:
        """The file's data, its positions and problems added to these; raises as _parse_yaml expects."""
        data = self.document()
        for name, table in (("values", self.values), ("keys", self.keys)):
            if getattr(positions, name):
                getattr(positions, name).update(table)
            else:
                setattr(positions, name, table)
        problems.extend(self.problems)
        failure, self.failure = self.failure, None  # no cycle left between the reader and the traceback
        if failure is not None:
            raise failure
        return data

    def document(self) -> Any:
        loader = self.loader
        get = loader.get_event
        get()  # stream start
        if get().__class__ is yaml.StreamEndEvent:
            return None
        root_mark = loader.peek_event().start_mark
        data = self.body(get)
        event = get()
        if event.__class__ is not yaml.StreamEndEvent:
            raise yaml.composer.ComposerError("expected a single document in the stream", root_mark,
                                              "but found another document", event.start_mark)
        return data

    def body(self, get: Any) -> Any:  # one loop over every event, kept flat for speed
        """The document's value, from its first event to its end."""
        values, keys, problems, file = self.values, self.keys, self.problems, self.file
        resolve, resolved, scalar, skip = self.loader.resolve, _RESOLVED.get, self.scalar, self.skip
        scalar_event, mapping_start, sequence_start = yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent
        mapping_end, sequence_end, scalar_node = yaml.MappingEndEvent, yaml.SequenceEndEvent, yaml.ScalarNode
        deepest, most, total = YAML_DEPTH_LIMIT, YAML_VALUE_LIMIT, self.total
        holder: dict[str, Any] = {}
        stack: list[_Frame] = []
        data: Any = holder
        path: Path_ = ()
        child: Path_ = ()
        depth = 0
        state: Any = ""  # None: a mapping's next event is a key; _ITEM: a list's item; else the key of the value
        while True:
            event = get()
            kind = event.__class__
            if kind is scalar_event or kind is mapping_start or kind is sequence_start:
                if event.anchor is not None:
                    raise _Fallback
                mark = event.start_mark
                if depth >= deepest:
                    raise _YamlBound(f"lists and mappings nest more than {YAML_DEPTH_LIMIT} deep here", mark,
                                     _DEPTH_HINT)
                total += 1
                if total > most:
                    raise _YamlBound(f"the file holds more than {YAML_VALUE_LIMIT:,} values", mark, _COUNT_HINT)
                if kind is scalar_event:
                    tag = event.tag
                    text = event.value
                    if tag is None:
                        implicit = event.implicit
                        tag = (resolved(text) if implicit[0] else _STR_TAG) or resolve(scalar_node, text, implicit)
                    elif tag == "!":
                        tag = resolve(scalar_node, text, event.implicit)
                    if state is None:  # a key
                        if tag != _STR_TAG and tag != _VALUE_TAG:
                            if tag == _MERGE_TAG:
                                raise _Fallback
                            text = scalar(tag, event)
                            if text is _FAILED:
                                self.total = total
                                return skip(get, depth, -1)
                            if not isinstance(text, str | int | float | bool):
                                if text is not _UNREADABLE:
                                    problems.append(Problem("a mapping key must be a plain word or number",
                                                            _mark(file, mark), dotted(path)))
                                state = _SKIP
                                continue
                            text = str(text)
                        child = (*path, text)
                        if text in data:
                            problems.append(Problem(
                                f"`{text}` is declared twice in the same mapping (first at line {keys[child][0]})",
                                _mark(file, mark), dotted(child), "remove or rename one of them"))
                        keys[child] = (mark.line + 1, mark.column + 1)
                        state = text
                        continue
                    if state is _SKIP:
                        state = None
                        continue
                    if state is _ITEM:
                        child = (*path, len(data))
                    values[child] = (mark.line + 1, mark.column + 1)
                    value = text if tag == _STR_TAG else scalar(tag, event)
                    if value is _FAILED:
                        self.total = total
                        return skip(get, depth, -1)
                    if state is _ITEM:
                        data.append(value)
                    else:
                        data[state] = value
                        state = None
                    continue
                if state is None or state is _SKIP:  # a list or mapping as a key, or the value of an unusable key
                    if state is None:
                        problems.append(Problem("a mapping key must be a plain word or number", _mark(file, mark),
                                                dotted(path)))
                    self.total = total
                    skip(get, depth + 1, depth)
                    total = self.total
                    state = _SKIP if state is None else None
                    continue
                new: Any = {} if kind is mapping_start else []
                if state is _ITEM:
                    child = (*path, len(data))
                    data.append(new)
                    stack.append((data, path, depth, _ITEM))
                else:
                    data[state] = new
                    stack.append((data, path, depth, None))
                values[child] = (mark.line + 1, mark.column + 1)
                data, path, depth, state = new, child, depth + 1, None if kind is mapping_start else _ITEM
            elif kind is mapping_end or kind is sequence_end:
                data, path, depth, state = stack.pop()
            elif kind is yaml.DocumentEndEvent:
                return holder.get("")
            else:  # an alias
                raise _Fallback

    def skip(self, get: Any, depth: int, until: int) -> Any:
        """Compose without building: the events up to the end of the collection `depth` deep (`until` is one
        less), or to the end of the document (`until` is -1). Counts values and bounds the nesting."""
        while depth > until:
            event = get()
            kind = event.__class__
            if kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                depth -= 1
                continue
            if kind is yaml.DocumentEndEvent:
                break
            if kind is yaml.AliasEvent or event.anchor is not None:
                raise _Fallback
            if depth >= YAML_DEPTH_LIMIT:
                raise _YamlBound(f"lists and mappings nest more than {YAML_DEPTH_LIMIT} deep here", event.start_mark,
                                 _DEPTH_HINT)
            self.total += 1
            if self.total > YAML_VALUE_LIMIT:
                raise _YamlBound(f"the file holds more than {YAML_VALUE_LIMIT:,} values", event.start_mark,
                                 _COUNT_HINT)
            if kind is not yaml.ScalarEvent:
                depth += 1
        return None

    def scalar(self, tag: str, event: Any) -> Any:
        """A scalar of another tag than text, as _Builder._scalar reads it."""
        kept = tag in _KEPT_TAGS
        if kept:
            value = _CONSTRUCTED.get((tag, event.value), _CONSTRUCTED)  # the table itself: not there
            if value is not _CONSTRUCTED:
                return value
        node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, style=event.style)
        try:
            value = self.loader.construct_object(node, deep=True)
        except _UNREADABLE_ERRORS as exc:
            self.problems.append(_unreadable(tag, exc, _mark(self.file, event.start_mark)))
            return _UNREADABLE
        except Exception as exc:  # raised as the builder raised it, once the whole file is composed
            self.failure = exc
            return _FAILED
        if kept:
            if len(_CONSTRUCTED) > 100_000:
                _CONSTRUCTED.clear()
            _CONSTRUCTED[(tag, event.value)] = value
        return value


_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_RESOLVED: dict[str, str] = {}  # plain scalar -> its implicit tag; topology files repeat most words


class _Loader(_BaseLoader):  # type: ignore[misc]
    """PyYAML's safe loader (libyaml where available), with implicit tags of plain scalars cached."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is yaml.ScalarNode and implicit[0] and isinstance(value, str):
            tag = _RESOLVED.get(value)
            if tag is None:
                if len(_RESOLVED) > 200_000:
                    _RESOLVED.clear()
                tag = _RESOLVED[value] = super().resolve(kind, value, implicit)
            return tag
        return super().resolve(kind, value, implicit)


def _parse_yaml(text: str, file: str, positions: Positions, problems: list[Problem]) -> Any:
    """The data of a YAML text, its positions and problems added to these: read from the parser's events
    (_Reader), or, when the text holds anchors, aliases or merge keys, composed then built."""
    with cycles_collected_later():  # reading makes no cycles, only values, paths and positions that live on
        try:
            return _parsed(text, file, positions, problems, fast=True)
        except _Fallback:
            pass  # read again below, once the traceback (and what the first reading built) is gone
        return _parsed(text, file, positions, problems, fast=False)


def _parsed(text: str, file: str, positions: Positions, problems: list[Problem], *, fast: bool) -> Any:
    loader = _Loader(text)
    try:
        if fast:
            return _Reader(loader, file).into(positions, problems)
        node = _Composer(loader).single_node()
        if node is None:
            return None
        return _Builder(loader, positions, problems).build(node, ())
    except _YamlBound as exc:
        problems.append(Problem(exc.message, _mark(file, exc.mark), "", exc.hint))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        if exc.context_mark is not None and mark is not None and not text[mark.index:].strip():
            mark = exc.context_mark  # the file ended inside a construct: point at where it began
        location = _mark(file, mark) if mark is not None else Location(file, 1, 1)
        what = " ".join(part for part in (exc.context, exc.problem) if part)
        problems.append(Problem(f"this is not valid YAML: {what}", location, "",
                                "check the indentation and quoting on this line and the one before"))
    except yaml.YAMLError as exc:
        problems.append(Problem(f"this is not valid YAML: {exc}", Location(file, 1, 1)))
    finally:
        loader.dispose()
    return None


# ------------------------------------------------------------------------------- vars and jinja2


_READ_FIRST = ("vars", "environments")  # top-level blocks read from the file's text before any substitution
_TEMPLATE_MARKERS = ("{{", "{%", "{#")
_HINT_PLAIN = "write the value itself"
_HINT_TAG = "write the values themselves; values that differ by environment go under `environments:`"


@dataclass
class _FirstRead:
    """What is read of a templated file before it is rendered: `vars` and `environments` (None when the file
    has none), and where the value of `naming:` lies in the text (start, end), if it has one."""

    blocks: dict[str, Any] = field(default_factory=dict)
    naming: tuple[int, int] | None = None


def _has_markers(text: str) -> bool:
    return any(marker in text for marker in _TEMPLATE_MARKERS)


def _read_first(text: str, file: str, problems: list[Problem]) -> _FirstRead:
    """`vars` and `environments` of a templated file, read by the YAML parser before the file is rendered.

    The rule: the file is read with its templates blanked out (templating.neutralise: the same lines and
    columns, `{{ }}` as placeholder text, `{% %}` as spaces), in any YAML style (block or flow, comments,
    anchors). Neither block may hold a template: a placeholder in a value or a `{% %}` inside the block is
    an error. A file that is not YAML even then (a template writes whole lines, say) has its top-level
    `vars:` and `environments:` read from the lines under the key, as a block."""
    neutral = neutralise(text)
    first = _compose_first(neutral, file, problems)
    if first is None:
        first = _FirstRead({key: _read_plain_block(text, key, file, problems) for key in _READ_FIRST})
    return first


_FIRST_KEYS = (*_READ_FIRST, "naming")


def _compose_first(neutral: Neutralised, file: str, problems: list[Problem], *,
                   whole: bool = False) -> _FirstRead | None:
    """None when the blanked-out text is not a YAML mapping. Only the top-level values read here are composed
    (the others are only parsed), unless one repeats an anchor of another: then the `whole` text is."""
    loader = _Loader(neutral.text)
    try:
        nodes = _top_level_nodes(loader, whole)
        if nodes is None:
            return None
        positions = Positions(file)
        local: list[Problem] = []
        first = _FirstRead()
        for key in _READ_FIRST:
            node = nodes.get(key)
            if node is not None:
                first.blocks[key] = _Builder(loader, positions, local).build(node, (key,))
                local.extend(_templated(key, node, first.blocks[key], neutral, positions))
        naming = nodes.get("naming")
        if naming is not None:
            first.naming = (naming.start_mark.index, _span_end(naming))
    except _SkippedAnchor:
        return None if whole else _compose_first(neutral, file, problems, whole=True)
    except (_YamlBound, yaml.YAMLError):
        return None
    finally:
        loader.dispose()
    problems.extend(local)
    if not local:
        for key, value in first.blocks.items():
            first.blocks[key] = _plain_block(key, value, positions, problems)
    return first


class _SkippedAnchor(Exception):
    """A value read first repeats an anchor of a value that was only parsed."""


def _top_level_nodes(loader: Any, whole: bool) -> dict[str, yaml.Node] | None:
    """The values of the top-level keys read before rendering, by key; None when the text is not a mapping."""
    composer = _Composer(loader)
    nodes: dict[str, yaml.Node] = {}
    if whole:
        root = composer.single_node()
        if not isinstance(root, yaml.MappingNode):
            return None
        for key_node, value_node in root.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag == _STR_TAG and key_node.value not in nodes:
                nodes[key_node.value] = value_node
        return nodes
    loader.get_event()  # stream start
    if not loader.check_event(yaml.DocumentStartEvent):
        return None
    loader.get_event()
    if not loader.check_event(yaml.MappingStartEvent):
        return None
    loader.get_event()
    skipped: set[str] = set()  # anchors in the values only parsed
    while not loader.check_event(yaml.MappingEndEvent):
        key = _skip(loader, skipped)
        name = key.value if isinstance(key, yaml.ScalarEvent) else None
        if name in _FIRST_KEYS and name not in nodes:
            try:
                nodes[name], _ = composer.node(2)
            except yaml.composer.ComposerError:
                if skipped:
                    raise _SkippedAnchor from None
                raise
        else:
            _skip(loader, skipped)
    return nodes


def _skip(loader: Any, anchors: set[str]) -> Any:
    """Parse one value without composing it, noting its anchors; returns its first event."""
    first = event = loader.get_event()
    depth = 0
    while True:
        if getattr(event, "anchor", None) is not None and not isinstance(event, yaml.AliasEvent):
            anchors.add(event.anchor)
        if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            depth += 1
        elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            depth -= 1
        if depth == 0:
            return first
        event = loader.get_event()


def _templated(key: str, node: yaml.Node, value: Any, neutral: Neutralised, positions: Positions) -> list[Problem]:
    """A block read before rendering holds plain values: where a template is inside it, said once."""
    start, end = node.start_mark.index, _span_end(node)
    tag = next((at for at in neutral.tags if start <= at < end), None)
    if tag is not None:
        line = neutral.text.count("\n", 0, tag) + 1
        column = tag - neutral.text.rfind("\n", 0, tag)
        return [Problem(f"`{key}` holds plain values; a `{{% %}}` block cannot choose them",
                        Location(positions.file, line, column), key, _HINT_TAG)]
    path = _placeholder_path(value, (key,), neutral.placeholder)
    if path is None:
        return []
    return [Problem(f"`{key}` holds plain values; templates are not expanded there", positions.at(path),
                    dotted(path), _HINT_PLAIN)]


def _placeholder_path(value: Any, path: Path_, placeholder: str) -> Path_ | None:
    """The path of the first key or text in `value` that holds the placeholder (a template was there)."""
    stack: list[tuple[Any, Path_]] = [(value, path)]
    while stack:
        item, at = stack.pop()
        if isinstance(item, str) and placeholder in item:
            return at
        if isinstance(item, dict):
            for key, child in reversed(item.items()):
                if isinstance(key, str) and placeholder in key:
                    return (*at, key)
                stack.append((child, (*at, key)))
        elif isinstance(item, list):
            stack.extend((child, (*at, index)) for index, child in reversed(list(enumerate(item))))
    return None


def _span_end(node: yaml.Node) -> int:
    """Where the text of `node` ends: a block collection ends with its last value (not at the next key)."""
    start = node.start_mark.index
    last = node
    while isinstance(last, yaml.MappingNode | yaml.SequenceNode) and not last.flow_style and last.value:
        item = last.value[-1]
        last = item[1] if isinstance(last, yaml.MappingNode) else item
    end: int = last.end_mark.index
    return end if end > start else node.end_mark.index


def _plain_block(key: str, value: Any, positions: Positions, problems: list[Problem]) -> dict[str, Any] | None:
    """`vars` or `environments` as read: a mapping, or nothing."""
    if value is not None and not isinstance(value, dict):
        problems.append(Problem(f"`{key}` must be a mapping", positions.at((key,)), key))
        return None
    return value or {}


def _top_level_block(text: str, key: str) -> tuple[str, int] | None:
    """The raw text of a top-level `key:` block (before any templating), and its first line index."""
    lines = text.splitlines()
    for start, line in enumerate(lines):
        match = _TOP_LEVEL_KEY.match(line)
        if match and match.group(1) == key:
            end = start + 1
            while end < len(lines) and (not lines[end].strip() or lines[end][0] in " \t#-"):
                end += 1
            return "\n".join(lines[start:end]), start
    return None


def _read_plain_block(text: str, key: str, file: str, problems: list[Problem]) -> Any:
    block = _top_level_block(text, key)
    if block is None:
        return None
    raw, first_line = block
    positions = Positions(file)
    local: list[Problem] = []
    # Pad with empty lines so that marks keep the file's line numbers.
    data = _parse_yaml("\n" * first_line + raw, file, positions, local)
    if local:
        problems.extend(local)
        return None
    if not isinstance(data, dict) or key not in data:
        return None
    value = data[key]
    if isinstance(value, dict) and _has_template(value):
        problems.append(Problem(f"`{key}` holds plain values; templates are not expanded there",
                                positions.at((key,)), key, _HINT_PLAIN))
    return _plain_block(key, value, positions, problems)


def _has_template(value: Any) -> bool:
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, dict):
        return any(_has_template(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_template(v) for v in value)
    return False


def deep_merge(base: Any, overlay: Any) -> Any:
    """Mappings merge key by key, recursively; anything else in `overlay` replaces what `base` has."""
    if isinstance(base, dict) and isinstance(overlay, dict):
        merged = dict(base)
        for key, value in overlay.items():
            merged[key] = deep_merge(base[key], value) if key in base else value
        return merged
    return overlay


def _scrubbed(problems: list[Problem], cli_vars: Mapping[str, Any] | None, text: str) -> list[Problem]:
    """Problems in the rendered text quote what a template put there: a --var value (a password, say)
    is shown as `***` (values also written in the file itself are not secret and stay)."""
    hidden = [str(v) for v in (cli_vars or {}).values()
              if isinstance(v, str | int | float) and not isinstance(v, bool) and len(str(v)) >= 4
              and str(v) not in text]
    if not hidden:
        return problems
    hidden.sort(key=len, reverse=True)

    def scrub(message: str | None) -> str | None:
        """Hide every run of 4 or more characters that is part of a hidden value (YAML errors quote
        tokens, which may be a piece of a value)."""
        if not message:
            return message
        out, i = [], 0
        while i < len(message):
            j = i
            while j < len(message) and any(message[i:j + 1] in value for value in hidden):
                j += 1
            if j - i >= 4:
                out.append("***")
                i = j
            else:
                out.append(message[i])
                i += 1
        return "".join(out)

    return [Problem(scrub(p.message) or "", p.location, scrub(p.path) or "", scrub(p.hint), p.severity)
            for p in problems]


def _render_jinja(text: str, file: str, variables: Mapping[str, Any], environment: str | None,
                  problems: list[Problem], *, naming: tuple[int, int] | None = None) -> str | None:
    """`naming`: where the value of `naming:` lies, when the YAML parser found it (else its lines are looked for)."""
    if not _has_markers(text):
        return text
    text = _keep_naming_raw(text) if naming is None else \
        f"{text[:naming[0]]}{{% raw %}}{text[naming[0]:naming[1]]}{{% endraw %}}{text[naming[1]:]}"
    try:
        return SafeTemplate(text, file).render(vars=dict(variables), environment=environment)
    except TemplateLimitError as exc:
        problems.append(Problem(exc.message or "", Location(file, exc.line or _template_line(exc, file), 1), "",
                                exc.hint))
    except jinja2.TemplateSyntaxError as exc:
        problems.append(Problem(f"template error: {exc.message}", Location(file, exc.lineno or 1, 1), "",
                                "check the {{ }} and {% %} on this line"))
    except jinja2.UndefinedError as exc:
        line = _template_line(exc, file)
        known = ", ".join(sorted(variables)) or "none"
        missing = re.match(r"'dict object' has no attribute '([^']+)'", exc.message or "")
        message = f"`vars.{missing.group(1)}` is undefined" if missing else f"template error: {exc.message}"
        problems.append(Problem(
            message, Location(file, line, 1), "",
            f"define it under `vars:` or pass --var NAME=VALUE; variables here: {known}"))
    except SecurityError as exc:
        problems.append(Problem(f"template error: {exc}", Location(file, _template_line(exc, file), 1), "",
                                "a template reads `vars` and uses filters; Python internals are out of reach"))
    except jinja2.TemplateError as exc:
        problems.append(Problem(f"template error: {exc}", Location(file, _template_line(exc, file), 1)))
    except (RecursionError, MemoryError) as exc:  # every bound above should come first; never a traceback
        problems.append(Problem("the template nests too deeply or needs too much memory",
                                Location(file, _template_line(exc, file), 1), "", "simplify the template"))
    except Exception as exc:  # what a filter or method raises on the values it is given
        problems.append(Problem(f"template error: {_shown(str(exc) or type(exc).__name__, 200)}",
                                Location(file, _template_line(exc, file), 1)))
    return None


def _shown(text: str, limit: int = 60) -> str:
    """`text` cut to `limit` characters for a message."""
    return text if len(text) <= limit else text[:limit] + f"... ({len(text):,} characters)"


def _keep_naming_raw(text: str) -> str:
    """`naming:` holds templates for expansion (`{{ queue }}`): the file-level pass leaves them alone.

    The markers go on the block's own first and last lines, so line numbers do not move."""
    block = _top_level_block(text, "naming")
    if block is None:
        return text
    raw, first = block
    lines = text.split("\n")
    last = first + len(raw.split("\n")) - 1
    while last > first and not lines[last].strip():
        last -= 1
    lines[first] = "{% raw %}" + lines[first]
    lines[last] = lines[last] + "{% endraw %}"
    return "\n".join(lines)


def _template_line(exc: BaseException, file: str) -> int:
    line = 1
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if frame.f_code.co_filename == file:
            line = lineno
    return line


# --------------------------------------------------------------------------------- ${VAR} values


@dataclass(frozen=True)
class Unset:
    """A `${VAR}` not set in a connection value of target `target` (its `field`): the value is kept as
    written, and `problem` is said only when the target is contacted (plan, apply, status, export...)."""

    target: str
    field: str
    problem: Problem


@dataclass(frozen=True)
class _Deferred:
    path: Path_  # as read
    text: str  # the value, kept as written
    problem: Problem


def _connection_value(path: Path_) -> bool:
    """A value inside a target's entry, `targets.<name>.<field>...` (or an environment's overlay of one):
    how topology reaches a broker, needed only when it does."""
    return (len(path) >= 3 and path[0] == "targets") or (
        len(path) >= 5 and path[0] == "environments" and path[2] == "targets")


def _substitute(data: Any, path: Path_, positions: Positions, environ: Mapping[str, str],
                problems: list[Problem], renamed: dict[Path_, PathPart], deferred: list[_Deferred]) -> Any:
    """`data` with `${VAR}` substituted in its values and keys; `renamed` gets the paths (as read) of the keys
    that changed, whose positions the caller renames once all is done. A variable not set in a target's
    connection value leaves the value as written and goes to `deferred`, not `problems`."""
    if isinstance(data, dict):
        return _substitute_mapping(data, path, positions, environ, problems, renamed, deferred)
    if isinstance(data, list):
        return [value if _unchanged(value) else _substitute(value, (*path, index), positions, environ, problems,
                                                        renamed, deferred)
                for index, value in enumerate(data)]
    if not isinstance(data, str) or "$" not in data:
        return data
    if not _connection_value(path):
        return _substitute_text(data, path, positions.at(path), environ, problems)
    unset: list[Problem] = []
    text = _substitute_text(data, path, positions.at(path), environ, unset)
    if not unset:
        return text
    deferred.extend(_Deferred(path, data, problem) for problem in unset)
    return data


def _unchanged(value: Any) -> bool:
    """A value no substitution changes (most of a file), told without making its path."""
    kind = type(value)
    return ("$" not in value) if kind is str else kind in (int, float, bool, type(None))


def _substitute_text(text: str, path: Path_, where: Location | None, environ: Mapping[str, str],
                     problems: list[Problem]) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        problems.append(Problem(
            f"environment variable {name} is not set", where, dotted(path),
            f"export {name}, or write ${{{name}:-default}} to give a default"))
        return ""

    return _VAR.sub(replace, text)


def _substitute_mapping(data: dict[Any, Any], path: Path_, positions: Positions, environ: Mapping[str, str],
                        problems: list[Problem], renamed: dict[Path_, PathPart],
                        deferred: list[_Deferred]) -> dict[Any, Any]:
    """A key is substituted like a value (a vhost or topic named from the environment); it is never created
    as the literal text, and never becomes empty or the name of another key beside it (two keys clash only
    when their final names do: `$${A}` is the name `${A}`, no clash with a key `${A}`)."""
    if not any(isinstance(key, str) and "$" in key for key in data):  # the common case: values only
        return {key: value if _unchanged(value) else _substitute(value, (*path, key), positions, environ, problems,
                                                             renamed, deferred)
                for key, value in data.items()}
    names: dict[Any, Any] = {}  # key as written -> its name; a key whose variable is not set is left out
    for key in data:
        if isinstance(key, str) and "$" in key:
            known = len(problems)
            name = _substitute_text(key, (*path, key), positions.at((*path, key), key=True), environ, problems)
            if len(problems) == known:  # a variable not set: said; the entry is left out, never named ""
                names[key] = name
        else:
            names[key] = key
    written = {key for key, name in names.items() if name == key}  # names no substitution made
    result: dict[Any, Any] = {}
    for key, name in names.items():
        if name != key:
            clash = _key_clash(name, path, written, result)
            if clash:
                problems.append(Problem(f"the key `{key}` becomes `{name}`, which is {clash}",
                                        positions.at((*path, key), key=True), dotted((*path, key)),
                                        "give each key a distinct, non-empty value"))
                continue
            renamed[(*path, key)] = name
        result[name] = _substitute(data[key], (*path, key), positions, environ, problems, renamed, deferred)
    return result


def _key_clash(name: Any, path: Path_, written: set[Any], taken: Mapping[Any, Any]) -> str:
    """Why a key substituted into `name` cannot be one (empty, another key's name, a block read before
    substitution); "" when it can."""
    if not name:
        return "empty"
    if name in written or name in taken:
        return "declared beside it as well"
    if not path and name in _READ_FIRST:
        return "read before variables are substituted"
    return ""


# ------------------------------------------------------------------------------------ the models


def _model_problems(exc: ValidationError, data: Any, positions: Positions,
                    already: set[str]) -> Iterator[Problem]:
    """pydantic's errors as located problems: one per place, none where a problem is already reported."""
    by_path: dict[Path_, list[Any]] = {}
    for error in exc.errors(include_url=False):
        by_path.setdefault(_real_path(data, tuple(error["loc"]), error["type"] in _KEY_ERRORS), []).append(error)
    for loc, errors in by_path.items():
        if dotted(loc) in already:
            continue
        error = errors[0]
        if len(errors) > 1 and all(e["msg"].startswith("Input should be a valid ") for e in errors):
            kinds = [e["msg"].removeprefix("Input should be a valid ") for e in errors]
            yield Problem(f"expected a {', '.join(kinds[:-1])} or {kinds[-1]}", positions.at(loc), dotted(loc))
            continue
        kind = error["type"]
        if kind == "extra_forbidden":
            hint = did_you_mean(str(loc[-1]), _fields_at(loc[:-1], data))
            yield Problem(f"unknown key `{loc[-1]}`", positions.at(loc, key=True), dotted(loc),
                          hint or "remove it; `topology schema` lists the keys allowed here")
            continue
        if kind == "missing":
            yield Problem(f"`{loc[-1]}` is required", positions.at(loc[:-1], key=True), dotted(loc), "add it")
            continue
        message, hint = error["msg"], None
        ctx = error.get("ctx", {})
        if kind in ("literal_error", "enum"):
            expected = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
            hint = _did_you_mean(error["input"], expected) or f"use one of: {', '.join(expected)}"
            message = f"{_shown(repr(error['input']))} is not allowed here"
        elif kind == "not_one_of":  # a broker's choices (format/common.py not_one_of)
            hint = _did_you_mean(error["input"], list(ctx["choices"])) or str(ctx["hint"])
            message = f"{_shown(repr(error['input']))} is not {ctx['what']}"
        elif kind == "union_tag_invalid":
            tags = re.findall(r"'([^']*)'", str(ctx.get("expected_tags", "")))
            hint = did_you_mean(str(ctx.get("tag", "")), tags) or f"use one of: {', '.join(tags)}"
            message = f"unknown target kind {ctx.get('tag')!r}"
        elif message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
        yield Problem(message, positions.at(loc), dotted(loc), hint)


def _did_you_mean(value: Any, choices: list[str]) -> str | None:
    text = str(value)
    return did_you_mean(text, choices) if len(text) <= 100 else None


_KEY_ERRORS = ("extra_forbidden", "missing")  # errors whose path ends in a key the data does not hold


def _real_path(data: Any, loc: tuple[Any, ...], names_key: bool) -> Path_:
    """pydantic's error path without the union and tag names it inserts (`str`, `rabbitmq`,
    `list[function-before[...]]`, ...); `names_key`: its last part is a key, kept though the data lacks it
    (an unknown or a missing key)."""
    path: list[PathPart] = []
    for part in loc:
        if isinstance(data, dict):
            if part not in data:
                if names_key and path and len(path) == len(loc) - 1:
                    path.append(part)  # a missing or unknown key: keep the last part
                continue
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and part < len(data):
            data = data[part]
        elif isinstance(data, list | dict):
            continue
        else:
            continue
        path.append(part)
    if names_key and loc and (not path or path[-1] != loc[-1]) and isinstance(loc[-1], str) and loc[-1] not in (
            "str", "int", "float", "bool", "none"):
        path.append(loc[-1])
    return tuple(path)


def _fields_at(path: Path_, data: Any) -> list[str]:
    """The keys allowed at `path` of a document, for 'did you mean'."""
    annotation: Any = document_model()
    node = data
    for part in path:
        annotation = _unwrap(annotation, node)
        node = node.get(part) if isinstance(node, dict) else None
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field_info = annotation.model_fields.get(str(part))
            if field_info is None:
                return []
            annotation = field_info.annotation
        elif get_origin(annotation) in (dict, list):
            annotation = get_args(annotation)[-1]
        else:
            return []
    annotation = _unwrap(annotation, node)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return list(annotation.model_fields)
    return []


def _unwrap(annotation: Any, node: Any) -> Any:
    """`X | None` -> X; a union of models -> the one whose `kind` the data names."""
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if get_origin(annotation) in (Union, UnionType):
        options = [a for a in get_args(annotation) if a is not type(None)]
        models = [a for a in options if isinstance(a, type) and issubclass(a, BaseModel)]
        kind = node.get("kind") if isinstance(node, dict) else None
        for model in models:
            default = model.model_fields.get("kind")
            if default is not None and kind in get_args(default.annotation):
                return model
        return models[0] if len(models) == 1 else (options[0] if len(options) == 1 else annotation)
    return annotation


def load_file(path: str, *, env: str | None = None, cli_vars: Mapping[str, Any] | None = None,
              environ: Mapping[str, str] | None = None) -> LoadedFile:
    """Read one topology file through every stage; problems are collected, never raised."""
    try:
        with Path(path).open("rb") as stream:
            raw = stream.read(FILE_LIMIT + 1)
    except FileNotFoundError:
        return LoadedFile(path, None, Positions(path), [Problem("file not found", None, path, "check the path")])
    except OSError as exc:
        return LoadedFile(path, None, Positions(path), [Problem(f"cannot read the file: {exc}", None, path)])
    return _load(raw, path, env=env, cli_vars=cli_vars, environ=environ)


def load_document(document: InMemoryDocument, *, env: str | None = None,
                  cli_vars: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> LoadedFile:
    """Read an in-memory document through the same stages as a file, its problems located at
    `<document>:line:col`. YAML text is read as a file's text; a mapping as the YAML that
    `yaml.safe_dump(document, sort_keys=False)` writes for it (so its problems point at lines of that)."""
    if isinstance(document, str):
        return _load(document.encode("utf-8", "surrogatepass"), DOCUMENT, env=env, cli_vars=cli_vars, environ=environ)
    try:
        text = yaml.safe_dump(_plain(document), sort_keys=False, allow_unicode=True, width=2**16)
    except yaml.YAMLError as exc:
        return _unwritable(f"the document holds a value YAML cannot write: {_shown(str(exc), 200)}",
                           "use mappings, lists, text, numbers, booleans and None")
    except RecursionError:
        return _unwritable("the document nests too deeply, or holds itself", _DEPTH_HINT)
    return _load(text.encode(), DOCUMENT, env=env, cli_vars=cli_vars, environ=environ)


def _unwritable(message: str, hint: str) -> LoadedFile:
    return LoadedFile(DOCUMENT, None, Positions(DOCUMENT), [Problem(message, Location(DOCUMENT, 1, 1), "", hint)])


def _plain(data: Any) -> Any:
    """`data` with every mapping a dict and every sequence but text a list, as YAML writes them."""
    if isinstance(data, Mapping):
        return {key: _plain(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [_plain(value) for value in data]
    return data


def _load(raw: bytes, path: str, *, env: str | None, cli_vars: Mapping[str, Any] | None,
          environ: Mapping[str, str] | None) -> LoadedFile:
    """A file's bytes (at most FILE_LIMIT + 1 of them) through every stage."""
    environ = os.environ if environ is None else environ
    problems: list[Problem] = []
    positions = Positions(path)
    text = _decode(raw, path, problems)
    if text is None:
        return LoadedFile(path, None, positions, problems)

    templated = _has_markers(text)
    variables: dict[str, Any] = {}
    rendered = text
    if templated:  # vars and environments first: the templates read them
        first = _read_first(text, path, problems)
        variables = _variables(first.blocks, env, cli_vars)
        if problems:
            return LoadedFile(path, None, positions, problems)
        output = _render_jinja(text, path, variables, env, problems, naming=first.naming)
        if output is None:
            return LoadedFile(path, None, positions, problems)
        rendered = output
    data = _parse_yaml(rendered, path, positions, problems)
    if not templated and isinstance(data, dict) and not problems:  # a plain file: read once
        blocks = {key: _plain_block(key, data.get(key), positions, problems) for key in _READ_FIRST}
        variables = _variables(blocks, env, cli_vars)
    if problems:
        return LoadedFile(path, None, positions, _scrubbed(problems, cli_vars, text))
    if data is None:
        return LoadedFile(path, None, positions, [Problem(
            "the file is empty", Location(path, 1, 1), "", "start it with `version: 1`")])
    if not isinstance(data, dict):
        return LoadedFile(path, None, positions, [Problem(
            "a topology file is a mapping of sections", Location(path, 1, 1), "", "start it with `version: 1`")])

    renamed: dict[Path_, PathPart] = {}
    deferred: list[_Deferred] = []
    if "$" in rendered or "\\" in rendered:  # without either, no value or key can hold a `$` (`\\x24` writes one)
        data = _substitute(data, (), positions, environ, problems, renamed, deferred)
        positions.rename(renamed)
    if env is not None:
        data = _overlay_environment(data, env, positions, problems)
    data["vars"] = variables
    unset = _still_unset(deferred, data, env, renamed)
    try:
        document = document_model().model_validate(data)
    except ValidationError as exc:
        # a value kept as written that its field cannot take (a number, a boolean): its variable is what to fix
        at = {dotted(("targets", u.target, u.field)): u.problem for u in unset}
        problems.extend(at.get(p.path, p) for p in _model_problems(exc, data, positions, {p.path for p in problems}))
        return LoadedFile(path, None, positions, _scrubbed(problems, cli_vars, text), unset)
    return LoadedFile(path, document, positions, _scrubbed(problems, cli_vars, text), unset)


def _still_unset(deferred: list[_Deferred], data: Mapping[str, Any], env: str | None,
                 renamed: Mapping[Path_, PathPart]) -> list[Unset]:
    """The deferred variables whose value is still in the target once the environment's overlay is on
    (an overlay of another environment, or a value the overlay replaced, needs nothing)."""
    found: dict[tuple[Path_, str], Unset] = {}
    for item in deferred:
        path = tuple(renamed.get(item.path[:end + 1], part) for end, part in enumerate(item.path))
        if path[0] == "environments":
            if path[1] != env:
                continue
            path = path[2:]
        value: Any = data
        for part in path:
            value = value.get(part) if isinstance(value, dict) else \
                value[part] if isinstance(value, list) and isinstance(part, int) and part < len(value) else None
        if value == item.text and isinstance(path[1], str) and isinstance(path[2], str):
            found[(path, item.problem.message)] = Unset(path[1], path[2], item.problem)
    return list(found.values())


def unset_in_target(files: Iterable[LoadedFile], name: str, *, replaced: str | None = None) -> list[Problem]:
    """What keeps target `name` from being contacted: each `${VAR}` not set in its connection values, said
    once (`replaced`: a field given another way, by --target NAME=URL or TOPOLOGY_TARGET_<NAME>)."""
    said: dict[str, Problem] = {}
    for loaded in files:
        for unset in loaded.unset:
            if unset.target == name and unset.field != replaced:
                said.setdefault(unset.problem.message, unset.problem)
    return list(said.values())


def _variables(blocks: Mapping[str, Any], env: str | None, cli_vars: Mapping[str, Any] | None) -> dict[str, Any]:
    """What templates see as `vars`: the file's `vars`, then its environment's, then --var."""
    variables: dict[str, Any] = dict(blocks.get("vars") or {})
    environments = blocks.get("environments")
    if env is not None and environments and isinstance(environments.get(env), dict):
        env_vars = environments[env].get("vars")
        if isinstance(env_vars, dict):
            variables = deep_merge(variables, env_vars)
    variables.update(cli_vars or {})
    return variables


def _decode(data: bytes, path: str, problems: list[Problem]) -> str | None:
    """The file's text: UTF-8, at most FILE_LIMIT bytes; otherwise a problem at the place it goes wrong."""
    if len(data) > FILE_LIMIT:
        problems.append(Problem(f"the file is larger than {FILE_LIMIT // (1024 * 1024)} MiB", Location(path, 1, 1),
                                "", "split it into several files"))
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        line = data.count(b"\n", 0, exc.start) + 1
        column = len(data[line_start:exc.start].decode("utf-8", errors="replace")) + 1
        problems.append(Problem(
            f"the file is not UTF-8: byte 0x{data[exc.start]:02x} cannot be read", Location(path, line, column), "",
            "save it as UTF-8, e.g. with `iconv -f latin1 -t utf-8`"))
        return None


def _overlay_environment(data: dict[str, Any], env: str, positions: Positions,
                         problems: list[Problem]) -> dict[str, Any]:
    environments = data.get("environments")
    if not isinstance(environments, dict) or env not in environments:
        return data
    overlay = environments[env]
    if not isinstance(overlay, dict):
        problems.append(Problem(f"environment `{env}` must be a mapping", positions.at(("environments", env)),
                                f"environments.{env}"))
        return data
    overlay = {key: value for key, value in overlay.items() if key != "vars"}
    # Values that come from the overlay point at their lines inside `environments.<env>`.
    prefix: Path_ = ("environments", env)
    for table in (positions.values, positions.keys):
        for source in [p for p in table if p[:2] == prefix and len(p) > 2 and p[2] != "vars"]:
            table[source[2:]] = table[source]
    merged: dict[str, Any] = deep_merge(data, overlay)
    return merged
