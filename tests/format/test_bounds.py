"""A topology file is data, never code, and bounded: every attack in the corpus is refused with one
located problem, quickly and in bounded memory; templates never reach outside the sandbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import types
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import jinja2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.cli import topology
from topology.core.problems import Problem
from topology.format import templating
from topology.format.load import FILE_LIMIT, VAR_LIMIT, _render_jinja, load_file, parse_var

CORPUS = Path(__file__).parent / "corpus"
ATTACKS = sorted(p.name for p in CORPUS.glob("*.topology.yaml")
                 if p.name.startswith(("jinja-", "naming-template-", "yaml-", "not-utf8")))
MEMORY_BOUND = 64 * 1024 * 1024  # allocated at the peak of one attack: 19 MiB measured (the alias bomb took 4 GB)
TIME_BOUND = 20.0  # seconds of wall clock for one attack: generous, only a hang breaks it

_MEASURE = textwrap.dedent("""
    import json, resource, sys, time, tracemalloc
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))  # a runaway attack fails instead of swapping
    from topology.format.compile import compile_topology
    tracemalloc.start()
    for path in sys.argv[1:]:
        tracemalloc.reset_peak()
        started = time.perf_counter()
        topology = compile_topology([path], environ={})
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
        print(json.dumps({"path": path, "seconds": elapsed, "peak": peak,
                          "errors": [str(p) for p in topology.errors]}), flush=True)
""")


def test_the_corpus_holds_the_attacks() -> None:
    assert len(ATTACKS) >= 40


def test_every_attack_is_one_located_problem_fast_in_bounded_memory() -> None:
    result = subprocess.run([sys.executable, "-c", _MEASURE, *(str(CORPUS / name) for name in ATTACKS)],
                            capture_output=True, text=True, timeout=TIME_BOUND * len(ATTACKS))
    assert result.returncode == 0, result.stderr[-3000:]
    reports = [json.loads(line) for line in result.stdout.splitlines()]
    assert [Path(r["path"]).name for r in reports] == ATTACKS
    for report in reports:
        name = Path(report["path"]).name
        [error] = report["errors"]
        assert error.startswith(f"{report['path']}:"), error
        assert report["peak"] < MEMORY_BOUND, f"{name}: {report['peak'] / 2**20:.0f} MiB at the peak"
        assert report["seconds"] < TIME_BOUND, f"{name}: {report['seconds']:.1f} s"


def test_command_line_reports_an_attack_in_one_sentence_without_a_traceback() -> None:
    path = CORPUS / "jinja-sandbox-popen.topology.yaml"
    result = topology("validate", str(path))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "RecursionError" not in result.stderr
    assert f"{path}:4:1 template error: access to attribute '__init__' of 'type' object is unsafe." in result.stderr
    assert "uid=" not in result.stdout + result.stderr


def test_a_file_that_is_not_utf8_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "t.topology.yaml"
    path.write_bytes("version: 1\n# café\nvars:\n  x: ab".encode() + b"\xff\n")
    [problem] = load_file(str(path)).problems
    assert (problem.location.line, problem.location.column) == (4, 8) if problem.location else False
    assert problem.message == "the file is not UTF-8: byte 0xff cannot be read"


def test_a_file_larger_than_the_limit_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "t.topology.yaml"
    path.write_text("version: 1\n" + "#" * FILE_LIMIT + "\n")
    [problem] = load_file(str(path)).problems
    assert "larger than 8 MiB" in problem.message


def test_var_values_are_bounded() -> None:
    bomb = "[" + ", ".join(f"&a{n} [" + ", ".join([f"*a{n - 1}"] * 9) + "]" for n in range(1, 9)) + "]"
    try:
        parse_var("x=[&a0 [1, 1, 1, 1, 1, 1, 1, 1, 1], " + bomb[1:])
    except ValueError as exc:
        assert "more than 500,000 values" in str(exc)
    else:
        raise AssertionError("an alias bomb in --var was accepted")
    try:
        parse_var("x=" + "a" * (VAR_LIMIT + 1))
    except ValueError as exc:
        assert "over the 64 KiB limit" in str(exc)
    else:
        raise AssertionError("a --var longer than the limit was accepted")
    assert parse_var("partitions=12") == ("partitions", 12)
    assert parse_var("name=a: b") == ("name", {"a": "b"})


def test_yaml_merge_keys_keep_their_meaning(tmp_path: Path) -> None:
    """`<<` merges: the mapping's own keys win over merged ones, which are not "declared twice"."""
    path = tmp_path / "t.topology.yaml"
    path.write_text("version: 1\nvars:\n  base: &base {a: 1, b: 2}\n  more: {<<: *base, b: 3}\n"
                    "  again: {<<: *base, c: 4}\n")
    loaded = load_file(str(path))
    assert loaded.problems == []
    assert loaded.document is not None
    assert loaded.document.vars["more"] == {"a": 1, "b": 3}
    assert loaded.document.vars["again"] == {"a": 1, "b": 2, "c": 4}


def test_templates_that_stay_within_bounds_still_render() -> None:
    source = ("{% set ns = namespace(n=0) %}{% for i in range(1000) %}{% set ns.n = ns.n + i %}{% endfor %}"
              "{{ ns.n }} {{ '%s-%d' % ('a', 1) }} {{ '{}/{}'.format('x', 2) }} {{ 'a,b'.split(',')|join('+') }}"
              "{% macro m(n) %}{{ m(n - 1) if n else 'end' }}{% endmacro %} {{ m(10) }}"
              " {{ vars.q|upper }}{{ ('x' * 1000)|length }}")
    assert templating.SafeTemplate(source).render(vars={"q": "billing"}) == "499500 a-1 x/2 a+b end BILLING1000"


def test_a_naming_template_shares_one_budget_over_every_name() -> None:
    render = templating.SafeTemplate("{% for i in range(50000) %}{% endfor %}{{ queue }}").render
    assert render(queue="a") == "a"
    names = 0
    try:
        for _ in range(100):
            render(queue="a")
            names += 1
    except templating.TemplateLimitError as exc:
        assert "steps of work" in str(exc)
    assert names < 100


# ------------------------------------------------------------------------------ the sandbox


_ATOMS = ["vars", "cycler", "joiner", "namespace", "range", "dict", "''", "'x'", "[]", "{}", "1", "0.5",
          "namespace(a=1)", "cycler(1, 2)", "joiner()", "range(3)", "vars.q", "lipsum", "self", "caller"]
_NAMES = ["__class__", "__globals__", "__init__", "__mro__", "__subclasses__", "__builtins__", "__dict__",
          "__code__", "__self__", "__func__", "__module__", "__getitem__", "__reduce_ex__", "__import__",
          "_Namespace__attrs", "_TemplateReference__context", "mro", "os", "popen", "system", "open", "eval",
          "func_globals", "gi_frame", "f_globals", "format", "format_map", "items", "keys", "get", "next",
          "current", "environment", "_module", "module", "blocks", "parent", "vars", "q", "__call__"]
_FORMATS = ["'{0.__class__}'", "'{0[__class__]}'", "'{0.__init__.__globals__}'", "'{.__class__.__mro__}'",
            "'%s'", "'%(q)s'", "'{q}'"]


def _expression() -> st.SearchStrategy[str]:
    name = st.sampled_from(_NAMES)
    step = st.one_of(
        name.map(lambda n: f".{n}"),
        name.map(lambda n: f"[{n!r}]"),
        name.map(lambda n: f"|attr({n!r})"),
        name.map(lambda n: f"|map(attribute={n!r})|list"),
        st.just("()"),
        st.sampled_from(_ATOMS).map(lambda a: f"({a})"),
        st.sampled_from(["|string", "|list", "|first", "|items|list", "|pprint", "|tojson", "|dictsort"]),
    )
    call = st.tuples(st.sampled_from(_FORMATS), st.sampled_from(_ATOMS)).map(
        lambda pair: f"{pair[0]}.format({pair[1]})" if "{" in pair[0] else f"{pair[0]} % {pair[1]}")
    chain = st.tuples(st.sampled_from(_ATOMS), st.lists(step, max_size=6)).map(lambda t: t[0] + "".join(t[1]))
    return st.one_of(chain, call)


@contextmanager
def _recorded_access() -> Iterator[list[tuple[str, Any]]]:
    """Every attribute and item the sandbox hands a template, with what it handed over."""
    seen: list[tuple[str, Any]] = []
    sandbox: Any = templating._Sandbox
    original_getattr, original_getitem = sandbox.getattr, sandbox.getitem

    def getattr_(self: Any, obj: Any, attribute: str) -> Any:
        value = original_getattr(self, obj, attribute)
        seen.append((attribute, value))
        return value

    def getitem_(self: Any, obj: Any, argument: Any) -> Any:
        value = original_getitem(self, obj, argument)
        seen.append((str(argument), value))
        return value

    sandbox.getattr, sandbox.getitem = getattr_, getitem_
    try:
        yield seen
    finally:
        sandbox.getattr, sandbox.getitem = original_getattr, original_getitem


_OUT_OF_REACH = {id(f) for f in (os.popen, os.system, open, eval, exec, __import__, getattr, setattr, compile)}
_AUDITED: list[str] = []
_WATCHED = ("os.system", "os.exec", "os.posix_spawn", "os.spawn", "subprocess.Popen", "open", "os.listdir",
            "shutil", "socket.", "ctypes", "import")


def _audit(event: str, _: tuple[Any, ...]) -> None:
    if event.startswith(_WATCHED):
        _AUDITED.append(event)


for _warm_up in ("{{ ''.__class__ }}", "{{ cycler() }}", "{{ 'x'|int(base=99) }}", "{{ '\\x'|e }}"):
    _render_jinja(_warm_up, "t.topology.yaml", {}, None, [])  # jinja2 imports its traceback helpers once
sys.addaudithook(_audit)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expression=_expression())
def test_generated_expressions_never_reach_outside_the_sandbox(expression: str) -> None:
    source = "{{ " + expression + " }}"
    try:
        templating.SafeTemplate(source)  # a syntax error ends it here; jinja2 runs `compile`, so before the watch
    except jinja2.TemplateSyntaxError:
        return
    _AUDITED.clear()
    with _recorded_access() as seen:
        problems: list[Problem] = []
        output = _render_jinja(source, "t.topology.yaml", {"q": "billing"}, None, problems) or ""
    assert _AUDITED == [], f"{expression} made Python do {_AUDITED}"
    for attribute, value in seen:
        if attribute.startswith("_"):
            assert isinstance(value, jinja2.Undefined), f"{expression} reached {attribute}: {value!r}"
        assert not isinstance(value, types.ModuleType), f"{expression} reached {value!r}"
        assert id(value) not in _OUT_OF_REACH, f"{expression} reached {value!r}"
    assert "<module " not in output and "__builtins__" not in output, f"{expression} printed {output[:200]!r}"
