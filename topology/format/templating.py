"""Templates in topology files: data, never code, and bounded.

A file and its `naming:` templates are rendered by jinja2's ImmutableSandboxedEnvironment: no
attribute starting with `_`, no method that changes a list or dict, no `include`, `import` or
`extends`, and only plain text methods on strings. Everything a template does is bounded: the size
of every value it builds and of its output (OUTPUT_LIMIT), its work (STEP_LIMIT steps and
CPU_SECONDS), how deep macros call each other (CALL_DEPTH_LIMIT) and how deeply its source nests.
Going past a bound raises TemplateLimitError, which names the template line; Python's own
recursion limit and memory are never what stops a template.
"""

from __future__ import annotations

import re
import time
import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from functools import update_wrapper
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedEscapeFormatter, SandboxedFormatter
from jinja2.utils import Cycler, Joiner, Namespace
from markupsafe import Markup

__all__ = ["CPU_SECONDS", "OUTPUT_LIMIT", "STEP_LIMIT", "Neutralised", "SafeTemplate", "TemplateLimitError",
           "neutralise", "size_of"]

MIB = 1024 * 1024
OUTPUT_LIMIT = 4 * MIB  # characters a template may produce; also the most any one value may hold
STEP_LIMIT = 1_000_000  # calls, filters, operators, loop iterations, and one per 64 characters handled
CPU_SECONDS = 0.5  # CPU time a template may use, for a file or summed over every name a naming template makes
CALL_DEPTH_LIMIT = 32  # macros (and recursive loops) calling each other
EXPRESSION_NESTING_LIMIT = 20  # brackets, `not`, inline `if` and unary signs in one {{ }} or {% %}
BLOCK_NESTING_LIMIT = 24  # {% for %}, {% if %}, {% macro %}... inside each other
TREE_DEPTH_LIMIT = 48  # the parsed template, e.g. `1+1+1+...` is a chain this deep
VALUE_DEPTH_LIMIT = 32  # lists and mappings inside each other in a value
INT_BITS_LIMIT = 16_384  # about 4,900 digits
_ITEM_WEIGHT = 8  # what an item of a list or mapping counts for beyond its text
_HINT_SIZE = (f"a template may build at most {OUTPUT_LIMIT // MIB} MiB; generate less, or split the file")
_HINT_WORK = "loops, filters and macros are bounded; simplify the template or split the file"


class TemplateLimitError(SecurityError):
    """A template went past one of the bounds; `line` is its template line when known."""

    def __init__(self, message: str, hint: str, line: int | None = None) -> None:
        super().__init__(message)
        self.hint = hint
        self.line = line


@dataclass
class _Budget:
    """The work a template has done: shared by every render of one compiled template."""

    steps: int = 0
    cpu: float = 0.0
    depth: int = 0
    _started: float = 0.0
    _deadline: float = 0.0
    _next_check: int = 0

    def start(self) -> None:
        self._started = time.process_time()
        self._deadline = self._started + CPU_SECONDS - self.cpu
        self._next_check = self.steps
        self.charge(0)

    def stop(self) -> None:
        self.cpu += time.process_time() - self._started

    def charge(self, steps: int = 1) -> None:
        self.steps += steps
        if self.steps > STEP_LIMIT:
            raise TemplateLimitError(f"the template does more than {STEP_LIMIT:,} steps of work", _HINT_WORK)
        if self.steps >= self._next_check:
            self._next_check = self.steps + 2048
            if time.process_time() > self._deadline:
                raise TemplateLimitError(f"the template takes more than {CPU_SECONDS:g} s to render", _HINT_WORK)


_ACTIVE: ContextVar[_Budget | None] = ContextVar("topology_template_budget", default=None)


def _budget() -> _Budget:
    budget = _ACTIVE.get()
    if budget is None:  # a value used outside a render (jinja2 does not fold constants here): bound it alone
        budget = _Budget()
        budget.start()
        _ACTIVE.set(budget)
    return budget


def _too_big(what: str) -> TemplateLimitError:
    return TemplateLimitError(f"{what} would be larger than {OUTPUT_LIMIT // MIB} MiB", _HINT_SIZE)


def _within(size: int, what: str) -> None:
    if size > OUTPUT_LIMIT:
        raise _too_big(what)


# ----------------------------------------------------------------------------------- value sizes


def size_of(value: Any, limit: int = OUTPUT_LIMIT) -> int:
    """About how many characters `value` renders to (and so what it holds); stops counting past `limit`.

    Walks lists and mappings without recursion, counting a repeated item each time it appears
    (it is printed each time); values nested more than VALUE_DEPTH_LIMIT deep are refused."""
    total = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    visited = 0
    while stack:
        item, depth = stack.pop()
        visited += 1
        if isinstance(item, str | bytes):
            total += len(item) * (1 if isinstance(item, str) else 4) + (2 if depth else 0)
        elif isinstance(item, bool) or item is None:
            total += 5
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 2
        elif isinstance(item, float | complex):
            total += 24
        elif isinstance(item, list | tuple | set | frozenset | dict | Namespace):
            if depth >= VALUE_DEPTH_LIMIT:
                raise TemplateLimitError(f"a value nests lists or mappings more than {VALUE_DEPTH_LIMIT} deep",
                                         "flatten the structure")
            if isinstance(item, Namespace):
                item = object.__getattribute__(item, "_Namespace__attrs")
            total += 2 + len(item) * _ITEM_WEIGHT
            if total > limit:
                break
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
        else:
            total += 16
        if total > limit:
            break
    if visited > 64:
        _budget().charge(visited // 8)
    return total


def _text_len(value: Any) -> int:
    return len(value) if isinstance(value, str | bytes | list | tuple | dict) else 0


def _work(value: Any) -> int:
    """Steps a filter is charged for its input: one per 16 characters of text, one per item."""
    if isinstance(value, str | bytes):
        return 1 + len(value) // 16
    return 1 + (len(value) if isinstance(value, list | tuple | dict | set) else 0)


# --------------------------------------------------------------------------------- the operators


_PERCENT = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?(.)", re.S)
_SPEC_NUMBER = re.compile(r"\d+")


def _width(text: str | None) -> int:
    if text is None:
        return 0
    if text == "*":
        raise TemplateLimitError("a `*` width in a % format is not allowed in a template", "write the width itself")
    if len(text) > 9 or int(text) > OUTPUT_LIMIT:
        raise _too_big("a formatted value")
    return int(text)


def _check_percent(fmt: str, args: Any) -> None:
    """`fmt % args` may not produce more than OUTPUT_LIMIT: widths and repeated arguments bounded."""
    fields = widest = 0
    for match in _PERCENT.finditer(fmt):
        if match.group(3) == "%":
            continue
        fields += 1
        widest = max(widest, _width(match.group(1)), _width(match.group(2)))
    values = list(args.values()) if isinstance(args, Mapping) else list(args) if isinstance(args, tuple) else [args]
    largest = max((size_of(v) for v in values), default=0)
    _within(len(fmt) + fields * (4 * largest + widest), "the % format")


def _repeat(sequence: Any, times: Any) -> None:
    if isinstance(times, int) and isinstance(sequence, str | bytes | list | tuple):
        _within(size_of(sequence) * max(times, 0), "the repeated value")


def _check_binop(operator: str, left: Any, right: Any) -> None:
    if operator == "*":
        _repeat(left, right)
        _repeat(right, left)
        if isinstance(left, int) and isinstance(right, int) and left.bit_length() + right.bit_length() > INT_BITS_LIMIT:
            raise _number_too_big()
    elif operator == "**":
        if isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1 and \
                (right > INT_BITS_LIMIT or left.bit_length() * right > INT_BITS_LIMIT):
            raise _number_too_big()
    elif operator == "+":
        if isinstance(left, str | bytes | list | tuple) and isinstance(right, str | bytes | list | tuple):
            _within(size_of(left) + size_of(right), "the sum")
    elif operator == "%" and isinstance(left, str):
        _check_percent(left, right)


def _number_too_big() -> TemplateLimitError:
    return TemplateLimitError(f"a number in the template would have more than {INT_BITS_LIMIT:,} bits",
                              "use smaller numbers")


# ------------------------------------------------------------------------------- method calls

_STR_METHODS = frozenset({
    "capitalize", "casefold", "center", "count", "endswith", "expandtabs", "find", "index", "isalnum",
    "isalpha", "isascii", "isdecimal", "isdigit", "isidentifier", "islower", "isnumeric", "isprintable",
    "isspace", "istitle", "isupper", "join", "ljust", "lower", "lstrip", "partition", "removeprefix",
    "removesuffix", "replace", "rfind", "rindex", "rjust", "rpartition", "rsplit", "rstrip", "split",
    "splitlines", "startswith", "strip", "swapcase", "title", "upper", "zfill"})
_PLAIN_METHODS: dict[type, frozenset[str]] = {
    str: _STR_METHODS,
    dict: frozenset({"get", "items", "keys", "values", "copy"}),
    list: frozenset({"index", "count", "copy"}),
    tuple: frozenset({"index", "count"}),
    int: frozenset({"bit_length"}),
    float: frozenset({"is_integer"}),
    range: frozenset({"index", "count"}),
}
_LINE_BREAKS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"


def _check_method(obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """A method of a plain value: allowed ones only, with their sizes checked before they run."""
    owner = obj.__self__
    if isinstance(owner, type | types.ModuleType):
        raise SecurityError(f"calling `{obj.__name__}()` is not allowed in a template")
    if _plain_kind(obj, owner) is not str:
        return args
    text: str = owner
    _budget().charge(1 + len(text) // 64)
    name = obj.__name__
    check = _STR_CHECKS.get(name)
    return args if check is None else check(name, text, args, kwargs)


def _plain_kind(obj: Any, owner: Any) -> type | None:
    """The plain type `obj` is a method of (None for any other object); a method not allowed is refused."""
    kind = next((k for k in _PLAIN_METHODS if isinstance(owner, k)), None)
    if kind is None:
        if isinstance(owner, str | bytes | bool | int | float | complex | list | tuple | dict | set | frozenset):
            raise SecurityError(f"calling `.{obj.__name__}()` on a {type(owner).__name__} is not allowed "
                                "in a template")
        return None
    name = obj.__name__
    if name not in _PLAIN_METHODS[kind]:
        raise SecurityError(f"calling `.{name}()` on a {kind.__name__} is not allowed in a template")
    return kind


def _first(args: tuple[Any, ...]) -> Any:
    return args[0] if args else None


def _str_padding(name: str, text: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """`.center()`, `.ljust()`, `.rjust()`, `.zfill()`: the width is the size of the result."""
    first = _first(args)
    if isinstance(first, int):
        _within(first, f"`.{name}()`")
    return args


def _str_expandtabs(name: str, text: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    first = _first(args)
    tab = first if isinstance(first, int) else kwargs.get("tabsize", 8)
    _within(len(text) + text.count("\t") * max(int(tab), 0), "`.expandtabs()`")
    return args


def _str_replace(name: str, text: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    if len(args) >= 2:
        _check_replace(text, args[0], args[1], args[2] if len(args) > 2 else kwargs.get("count", -1))
    return args


def _str_join(name: str, text: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """`.join()`: its items are gathered (one step each) and sized before they are joined."""
    if not args:
        return args
    items = list(_bounded(args[0]))
    _within(sum(size_of(i) for i in items) + len(text) * len(items), "`.join()`")
    return (items, *args[1:])


def _str_split(name: str, text: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """`.split()`, `.rsplit()`: every part is an item of the result."""
    first = _first(args)
    sep = first if isinstance(first, str) else kwargs.get("sep")
    parts = (text.count(sep) if sep else len(text) // 2) + 1
    _within(len(text) + parts * _ITEM_WEIGHT, f"`.{name}()`")
    return args


def _str_splitlines(name: str, text: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    parts = sum(text.count(c) for c in _LINE_BREAKS) + 1
    _within(len(text) + parts * _ITEM_WEIGHT, "`.splitlines()`")
    return args


# The str methods whose result can be far larger than the text: name, text, args, kwargs -> the args to call with.
_STR_CHECKS: dict[str, Callable[[str, str, tuple[Any, ...], dict[str, Any]], tuple[Any, ...]]] = {
    "center": _str_padding, "ljust": _str_padding, "rjust": _str_padding, "zfill": _str_padding,
    "expandtabs": _str_expandtabs,
    "replace": _str_replace,
    "join": _str_join,
    "split": _str_split, "rsplit": _str_split,
    "splitlines": _str_splitlines,
}


def _check_replace(text: Any, old: Any, new: Any, count: Any) -> None:
    if not (isinstance(text, str) and isinstance(old, str) and isinstance(new, str)):
        return
    found = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        found = min(found, count)
    _within(len(text) + found * max(len(new) - len(old), 0), "the replaced text")


# ------------------------------------------------------------------------------------ filters


def _bounded(values: Any) -> Iterator[Any]:
    """Iterate `values` charging one step per item."""
    budget = _budget()
    for item in values:
        budget.charge(1)
        yield item


def _arg(args: tuple[Any, ...], kwargs: Mapping[str, Any], index: int, name: str, default: Any) -> Any:
    return args[index] if len(args) > index else kwargs.get(name, default)


def _check_filter(name: str, value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Filters whose output can be far larger than their input, checked before they run."""
    check = _FILTER_CHECKS.get(name)
    if check is not None:
        check(value, args, kwargs)


def _filter_center(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    width = _arg(args, kwargs, 0, "width", 80)
    if isinstance(width, int):
        _within(width, "`center`")


def _filter_indent(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    if not isinstance(value, str):
        return
    width = _arg(args, kwargs, 0, "width", 4)
    pad = len(width) if isinstance(width, str) else int(width)
    _within(len(value) + (value.count("\n") + 1) * max(pad, 0), "`indent`")


def _filter_wordwrap(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    if not isinstance(value, str):
        return
    width = _arg(args, kwargs, 0, "width", 79)
    wrap = _arg(args, kwargs, 2, "wrapstring", None) or "\n"
    lines = len(value) // max(int(width), 1) + value.count("\n") + 1
    _within(len(value) + lines * len(str(wrap)), "`wordwrap`")
    _budget().charge(16 * (lines + value.count(" ")))  # textwrap works word by word, in Python


def _filter_format(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    if isinstance(value, str):
        _check_percent(value, kwargs or tuple(args))


def _filter_round(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """round(int, -10**9) computes 10**(10**9) in C, where no budget is charged."""
    precision = _arg(args, kwargs, 0, "precision", 0)
    if not isinstance(precision, int) or abs(precision) > 100:
        raise TemplateLimitError("`round` takes a precision of -100 to 100", "use a smaller precision")


def _filter_tojson(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    indent = _arg(args, kwargs, 0, "indent", None)
    if indent is not None and (not isinstance(indent, int) or not 0 <= indent <= 16):
        raise TemplateLimitError("`tojson` takes an indent of 0 to 16", "use a smaller indent")


def _filter_replace(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    _check_replace(value, _arg(args, kwargs, 0, "old", None), _arg(args, kwargs, 1, "new", None),
                   _arg(args, kwargs, 2, "count", None))


def _check_groups(name: str, keyword: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    count = _arg(args, kwargs, 0, keyword, 1)
    if isinstance(count, int) and count > 100_000:
        raise TemplateLimitError(f"`{name}` may make at most 100,000 groups", "use a smaller count")


def _filter_batch(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    _check_groups("batch", "linecount", args, kwargs)


def _filter_slice(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    _check_groups("slice", "slices", args, kwargs)


def _filter_join(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    if isinstance(value, list | tuple):
        joiner = _arg(args, kwargs, 0, "d", "")
        _within(size_of(value) + len(str(joiner)) * len(value), "`join`")


# The filters whose output can be far larger than their input: value, args, kwargs -> None, or raises.
_FILTER_CHECKS: dict[str, Callable[[Any, tuple[Any, ...], dict[str, Any]], None]] = {
    "center": _filter_center,
    "indent": _filter_indent,
    "wordwrap": _filter_wordwrap,
    "format": _filter_format,
    "round": _filter_round,
    "tojson": _filter_tojson,
    "replace": _filter_replace,
    "batch": _filter_batch,
    "slice": _filter_slice,
    "join": _filter_join,
}


def _guard_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    offset = 1 if hasattr(function, "jinja_pass_arg") else 0

    def guarded(*args: Any, **kwargs: Any) -> Any:
        value = args[offset] if len(args) > offset else None
        _budget().charge(_work(value))
        if isinstance(value, Iterator):
            value = list(_bounded(value)) if name == "join" else _bounded(value)
            args = (*args[:offset], value, *args[offset + 1:])
        args = tuple(_bounded(a) if isinstance(a, Iterator) else a for a in args)
        _check_filter(name, value, args[offset + 1:], kwargs)
        result = function(*args, **kwargs)
        if not isinstance(result, Iterator):
            _within(size_of(result), f"the result of `{name}`")
        return result

    return update_wrapper(guarded, function)


# -------------------------------------------------------------------------------- environment


class _BoundedNamespace(Namespace):
    """`namespace()`: what a template carries from one loop iteration to the next, bounded."""

    def __setitem__(self, name: str, value: Any) -> None:
        attributes = dict(object.__getattribute__(self, "_Namespace__attrs"))
        attributes[name] = value
        _within(size_of(attributes), "the namespace")
        super().__setitem__(name, value)


class _BoundedFormatter(SandboxedFormatter):
    """`'{}'.format(...)`: fields bounded in width and in total."""

    total = 0

    def format_field(self, value: Any, format_spec: str) -> Any:
        for number in _SPEC_NUMBER.findall(format_spec):
            if len(number) > 9 or int(number) > OUTPUT_LIMIT:
                raise _too_big("a formatted value")
        _budget().charge(1)
        text = super().format_field(value, format_spec)
        self.total += len(text)
        _within(self.total, "the formatted text")
        return text


class _BoundedEscapeFormatter(_BoundedFormatter, SandboxedEscapeFormatter):
    pass


class _CodeGenerator(CodeGenerator):
    """jinja2's code generator, with `~` joining through the environment's bounded join."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.bounded_join((")
        for argument in node.nodes:
            self.visit(argument, frame)
            self.write(", ")
        self.write("))")


_FORBIDDEN_TAGS = {"include": "include another file", "import": "import another file",
                   "from": "import from another file", "extends": "extend another file"}
_BLOCK_TAGS = frozenset({"for", "if", "macro", "call", "filter", "block", "with", "autoescape", "set"})
_OPEN, _CLOSE = frozenset("([{"), frozenset(")]}")
_NESTING_WORDS = frozenset({"not", "if"})
_BEFORE_UNARY = frozenset({"not", "and", "or", "in", "is", "if", "else"})


def _nesting_error(what: str, limit: int, line: int) -> TemplateLimitError:
    return TemplateLimitError(f"the template nests {what} more than {limit} deep", "flatten the template", line)


class _Sandbox(ImmutableSandboxedEnvironment):
    """The sandbox with every bound in place."""

    code_generator_class = _CodeGenerator
    intercepted_binops = frozenset({"+", "*", "**", "%"})

    def __init__(self) -> None:
        super().__init__(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False,
                         optimized=False, cache_size=0)
        self.globals = {"range": self.globals["range"], "dict": dict, "cycler": Cycler, "joiner": Joiner,
                        "namespace": _BoundedNamespace}
        self.filters = {name: _guard_filter(name, f) for name, f in self.filters.items()}
        self.filters["topology_loop"] = _bounded

    # -- source checks, before jinja2's parser and code generator recurse into it

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        self._check_source(source, name, filename)
        tree = super()._parse(source, name, filename)
        _check_tree(tree)
        return tree

    def _check_source(self, source: str, name: str | None, filename: str | None) -> None:
        blocks = 0
        tag: list[tuple[str, str]] = []
        nesting = brackets = 0
        for line, token, value in self.lexer.tokeniter(source, name, filename):
            if token in ("whitespace", "comment", "linecomment"):
                continue
            if token in ("block_begin", "variable_begin"):
                tag, nesting, brackets = [(token, "")], 0, 0
                continue
            if token in ("block_end", "variable_end"):
                blocks = _count_blocks(tag, blocks, line)
                tag = []
                continue
            if not tag:
                continue
            previous = tag[-1]
            if token == "operator" and value in _OPEN:
                brackets += 1
                nesting = max(nesting, brackets)
            elif token == "operator" and value in _CLOSE:
                brackets -= 1
            elif _deepens(token, value, previous):
                nesting += 1
            if nesting > EXPRESSION_NESTING_LIMIT:
                raise _nesting_error("brackets, `not` and inline `if`", EXPRESSION_NESTING_LIMIT, line)
            if token == "name" and previous[0] == "block_begin" and value in _FORBIDDEN_TAGS:
                raise TemplateLimitError(
                    f"`{{% {value} %}}` is not allowed in a topology file: a file cannot {_FORBIDDEN_TAGS[value]}",
                    "each file stands alone; pass values in with `vars:` or --var", line)
            tag.append((token, value))

    # -- the runtime hooks

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        budget = _budget()
        budget.charge(1)
        if isinstance(__obj, types.BuiltinMethodType | types.MethodType) and \
                getattr(__obj, "__self__", None) is not None:
            args = _check_method(__obj, args, kwargs)
        budget.depth += 1
        try:
            if budget.depth > CALL_DEPTH_LIMIT:
                raise TemplateLimitError(f"macros call each other more than {CALL_DEPTH_LIMIT} deep",
                                         "a macro may not call itself without end; flatten the template")
            result = super().call(__context, __obj, *args, **kwargs)
        finally:
            budget.depth -= 1
        if not isinstance(result, Iterator):
            _within(size_of(result), "the result of a call")
        return result

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _budget().charge(1 + (_text_len(left) + _text_len(right)) // 64)
        _check_binop(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def getattr(self, obj: Any, attribute: str) -> Any:
        _budget().charge(1)
        if isinstance(obj, type) and (attribute.startswith("_") or not hasattr(obj, attribute)):
            # jinja2 falls back to `obj[attribute]`, which on a type is a typing alias (`dict['x']`)
            return self.unsafe_undefined(obj, attribute)
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _budget().charge(1)
        if isinstance(obj, type):  # `dict['x']` would be a typing alias, not data
            return self.unsafe_undefined(obj, str(argument))
        return super().getitem(obj, argument)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        if not isinstance(value, types.MethodType | types.BuiltinMethodType) or \
                value.__name__ not in ("format", "format_map") or not isinstance(value.__self__, str):
            return None
        text: str = value.__self__
        escape = isinstance(text, Markup)
        is_map = value.__name__ == "format_map"

        def bounded_format(*args: Any, **kwargs: Any) -> str:
            formatter = _BoundedEscapeFormatter(self, escape=text.escape) if isinstance(text, Markup) \
                else _BoundedFormatter(self)
            if is_map:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one argument")
                return _finish(formatter.vformat(text, (), args[0]))
            return _finish(formatter.vformat(text, args, kwargs))

        def _finish(result: str) -> str:
            return Markup(result) if escape else str(result)

        return update_wrapper(bounded_format, value)

    def concat(self, parts: Iterable[str]) -> str:
        """Every buffer a template joins (macro bodies, {% set %} blocks, filter blocks), bounded."""
        if not isinstance(parts, list):
            parts = list(_bounded(parts))
        total = sum(len(part) for part in parts)
        _within(total, "the text")
        _budget().charge(1 + total // 64)
        return "".join(parts)

    def bounded_join(self, parts: tuple[Any, ...]) -> str:
        """`a ~ b ~ c`, refused before it is built when it would be too big."""
        _within(sum(size_of(part) for part in parts), "the joined text")
        return "".join(str(part) for part in parts)


def _deepens(token: str, value: str, previous: tuple[str, str]) -> bool:
    """Whether this token makes jinja2's parser recurse once more: `not`, an inline `if`, a unary sign."""
    if token == "name":
        return value in _NESTING_WORDS
    return token == "operator" and value in ("+", "-") and (
        previous[0] in ("block_begin", "variable_begin")
        or (previous[0] == "operator" and previous[1] not in _CLOSE)
        or (previous[0] == "name" and previous[1] in _BEFORE_UNARY))


def _count_blocks(tag: list[tuple[str, str]], blocks: int, line: int) -> int:
    if len(tag) < 2 or tag[0][0] != "block_begin" or tag[1][0] != "name":
        return blocks
    word = tag[1][1]
    if word.startswith("end"):
        return blocks - 1
    if word in _BLOCK_TAGS and not (word == "set" and any(t == ("operator", "=") for t in tag)):
        blocks += 1
        if blocks > BLOCK_NESTING_LIMIT:
            raise _nesting_error("blocks", BLOCK_NESTING_LIMIT, line)
    return blocks


def _check_tree(tree: nodes.Template) -> None:
    """The parsed template is at most TREE_DEPTH_LIMIT deep; every loop's items are charged as steps."""
    stack: list[tuple[nodes.Node, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > TREE_DEPTH_LIMIT:
            raise _nesting_error("expressions and blocks", TREE_DEPTH_LIMIT, getattr(node, "lineno", 1) or 1)
        if isinstance(node, nodes.For):
            node.iter = nodes.Filter(node.iter, "topology_loop", [], [], None, None, lineno=node.iter.lineno)
        stack.extend((child, depth + 1) for child in node.iter_child_nodes())


def _current_line(template: jinja2.Template, stream: Iterator[str]) -> int | None:
    """The template line a suspended render is at."""
    generator: Any = stream
    while getattr(generator, "gi_yieldfrom", None) is not None:
        generator = generator.gi_yieldfrom
    frame = getattr(generator, "gi_frame", None)
    return template.get_corresponding_lineno(frame.f_lineno) if frame is not None else None


class SafeTemplate:
    """One template, compiled in the sandbox; all its renders share one budget of work."""

    def __init__(self, source: str, filename: str | None = None) -> None:
        self._budget = _Budget()
        token = _ACTIVE.set(self._budget)
        self._budget.start()
        try:
            environment = _Sandbox()
            code = environment.compile(source, filename=filename)
            self._template = environment.template_class.from_code(
                environment, code, environment.make_globals(None), None)
        finally:
            self._budget.stop()
            _ACTIVE.reset(token)

    def render(self, **variables: Any) -> str:
        budget = self._budget
        token = _ACTIVE.set(budget)
        budget.start()
        try:
            if size_of(variables) > OUTPUT_LIMIT:
                raise TemplateLimitError(f"the variables are larger than {OUTPUT_LIMIT // MIB} MiB",
                                         "pass smaller values", 1)
            return self._output(budget, variables)
        finally:
            budget.stop()
            _ACTIVE.reset(token)

    def _output(self, budget: _Budget, variables: Mapping[str, Any]) -> str:
        chunks: list[str] = []
        total = 0
        stream = self._template.generate(**variables)
        for chunk in stream:  # an error inside the template comes with its template line
            total += len(chunk)
            try:
                budget.charge(1 + len(chunk) // 64)
                if total > OUTPUT_LIMIT:
                    raise TemplateLimitError(f"the template produces more than {OUTPUT_LIMIT // MIB} MiB",
                                             _HINT_SIZE)
            except TemplateLimitError as exc:
                exc.line = _current_line(self._template, stream)
                raise
            chunks.append(chunk)
        return "".join(chunks)


# ------------------------------------------------------------------------- templates blanked out


_OPENER = re.compile(r"\{[{%#]")
_CLOSER = {"{{": "}}", "{%": "%}", "{#": "#}"}


@dataclass(frozen=True)
class Neutralised:
    """A file's text with its templates blanked out, so that YAML can read what is around them.

    Every `{{ }}` becomes `placeholder` characters (it writes text there), every `{% %}` and `{# #}`
    becomes spaces (they write nothing themselves); line breaks stay, so the text keeps the file's
    length, lines and columns. `tags` are where the `{% %}` began."""

    text: str
    placeholder: str
    tags: tuple[int, ...]


def neutralise(text: str) -> Neutralised:
    """`text` with its templates blanked out; linear in its length. An opener without its closer is
    left as written (the render says what is wrong with it)."""
    placeholder = next((c for c in map(chr, range(0xE000, 0xF900)) if c not in text), " ")
    parts: list[str] = []
    tags: list[int] = []
    done = 0
    while (found := _OPENER.search(text, done)) is not None:
        start = found.start()
        end = text.find(_CLOSER[found.group()], found.end())
        if end < 0:
            break
        end += 2
        fill = placeholder if found.group() == "{{" else " "
        parts.append(text[done:start])
        parts.append("\n".join(fill * len(line) for line in text[start:end].split("\n")))
        if found.group() == "{%":
            tags.append(start)
        done = end
    parts.append(text[done:])
    return Neutralised("".join(parts), placeholder, tuple(tags))
