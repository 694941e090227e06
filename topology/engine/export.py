"""`topology export`: a target's live state as a topology file (adoption) or a state file.

A topology file of the live objects, planned against the same broker, gives no changes; a state
file lets CI plan offline (`plan --offline --state FILE`). Secrets are never exported.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from topology.brokers.base import Driver, Selection
from topology.brokers.registry import BROKERS, broker, brokers, open_driver, open_state
from topology.core.notes import Noted, comment_text, dump_with_notes
from topology.core.resource import Live
from topology.engine.targets import selection_for
from topology.errors import InputError, ProblemsError
from topology.format.common import DEFAULT_STATE, STATE_FORMAT, TargetSpec
from topology.format.compile import compile_topology
from topology.format.document import Manage, target_variable
from topology.format.load import unset_in_target

__all__ = ["export_text"]

def export_text(target: str, files: list[str], *, state: str | None, format: str, kind: str | None,
                include: Sequence[str] = (), exclude: Sequence[str] = ()) -> str:
    """The text to write for `topology export --target TARGET [FILES] --format FORMAT`: every live object,
    or those whose address an `include` glob matches and no `exclude` glob does."""
    if format not in ("yaml", "state"):
        raise InputError(f"--format {format}: choose yaml or state")
    name, driver, kind = _export_target(target, files or [], state, kind)
    exporter = broker(kind)
    if format == "yaml" and (exporter.export is None or exporter.export_target is None):
        driver.close()
        raise InputError(f"--format yaml is not available for a {kind} target; use --format state")
    selection = Selection(frozenset(), prune=True, include=tuple(include) or ("*",), exclude=tuple(exclude))
    with driver:
        live = {address: item for address, item in driver.inspect(selection).items() if selection.wants(address)}
        pulled = _with_dependencies(driver, live, kind, name) if format == "yaml" and (include or exclude) else []
    if format == "state":
        resources = {address: {"kind": item.kind, "name": item.name, "scope": item.scope,
                               "attributes": item.attributes, "depends_on": list(item.depends_on),
                               **({"messages": item.messages} if item.messages is not None else {})}
                     for address, item in sorted(live.items())}
        return json.dumps({"format_version": STATE_FORMAT, "resources": resources}, indent=1, sort_keys=True) + "\n"
    assert exporter.export is not None and exporter.export_target is not None
    declared = exporter.export_target(driver, f"${{{target_variable(name)}}}")
    document = {"version": 1, "targets": {name: declared}, **exporter.export(live, name)}
    return _rendered_as_is(f"# Exported from target `{name}` by `topology export`; secrets are not exported.\n"
                           + _scope_comment(include, exclude, pulled)
                           + _dump(document))


_SUBSTITUTED = re.compile(r"\$(?=[${])")  # what `${VAR}` substitution would read: `$$` and `${`
_PLACEHOLDER = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")


def _as_written(value: Any) -> Any:
    """A broker's names and values as a file must write them to be read back the same: a `$` that
    substitution would take (`$$`, `${`) doubled, in keys and values alike. A secret's `${VAR}` placeholder
    (a noted value that is exactly one) is meant to be substituted and stays as it is."""
    if isinstance(value, Noted):
        return value if _PLACEHOLDER.fullmatch(value) else Noted(_SUBSTITUTED.sub("$$", value), value.note)
    if isinstance(value, str):
        return _SUBSTITUTED.sub("$$", value)
    if isinstance(value, dict):
        return {_as_written(key): _as_written(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_written(item) for item in value]
    return value


_TEMPLATE_MARK = re.compile(r"\{(?=[{%#])")  # what opens a jinja2 tag: `{{`, `{%`, `{#`


def _rendered_as_is(text: str) -> str:
    """`text` as a file must write it for jinja2 (which renders a file before YAML reads it) to give it back:
    each `{` that would open a tag (a live name `a{{b}}`, a consumer `{#1` in a comment) written as a
    template that prints it."""
    return _TEMPLATE_MARK.sub("{{ '{' }}", text)


def _dump(document: dict[str, Any]) -> str:
    """The document as YAML, each `Noted` value followed by its note as a comment; the broker sections'
    text as written (`_as_written`), the targets' `${TOPOLOGY_TARGET_...}` references as they are."""
    document = {key: value if key == "targets" else _as_written(value) for key, value in document.items()}
    return dump_with_notes(document)


_NAMED = 10  # the header names this many of the objects pulled in, then counts the rest


def _with_dependencies(driver: Driver, live: dict[str, Live], kind: str, name: str) -> list[str]:
    """Add to `live` the objects the selected ones need to be declared in the same file (a binding's
    exchange, a subscription's queue, a group's topics), as the broker's own expansion of the exported
    file and the driver's `Live.depends_on` say, and the live form of what the file declares by nesting (a
    user its permission sits under); returns their addresses. What is gone or built in is left out."""
    exporter = broker(kind)
    assert exporter.export is not None
    pulled: list[str] = []
    while True:  # each round adds what is not yet there, of a broker's finitely many objects: it ends
        # read as the exported file will be read: names holding `${` or `{{` are not substituted or rendered
        document = _rendered_as_is(_dump({"version": 1, **exporter.export(live, name)}))
        resources = compile_topology([], document=document).resources
        # What the file declares without its live attributes (a user its permission nests under), what
        # it refers to, and what the driver says an object needs (export leaves a group out without its topics).
        referred = [*resources, *(d for resource in resources.values() for d in resource.depends_on),
                    *(d for item in live.values() for d in item.depends_on)]
        needed = frozenset(d for d in referred if d not in live)
        containers = selection_for(resources, Manage()).containers
        found = driver.inspect(Selection(needed, containers=containers)) if needed else {}
        found = {address: item for address, item in found.items() if address in needed}
        if not found:
            return pulled
        live.update(found)
        pulled.extend(sorted(found))


def _scope_comment(include: Sequence[str], exclude: Sequence[str], pulled: list[str]) -> str:
    """The header lines saying what part of the target this file is."""
    if not include and not exclude:
        return ""
    lines = [f"# Scope: {', '.join(include) or '*'}" + (f", except {', '.join(exclude)}" if exclude else "")
             + " (addresses)."]
    if pulled:
        shown = ", ".join(pulled[:_NAMED]) + (f" and {len(pulled) - _NAMED} more" if len(pulled) > _NAMED else "")
        lines.append(f"# Added because the objects in scope need them to be declared: {shown}.")
    return "".join(f"{comment_text(line)}\n" for line in lines)


def _export_target(target: str, files: list[str], state: str | None, kind: str | None) -> tuple[str, Driver, str]:
    """The driver to read: `local`, NAME=URL, a target the files declare, or TOPOLOGY_TARGET_<NAME>."""
    name, _, url = target.partition("=")
    if name == "local":
        return name, open_state(Path(state or DEFAULT_STATE)), "local"
    declared: TargetSpec | None = None
    if not url and files:
        topology = compile_topology(files)
        topology.raise_for_errors()
        declared = topology.targets.get(name)
        unset = unset_in_target(topology.files, name)
        if unset:  # its connection values need a variable not set: said where it is written
            raise ProblemsError(unset)
    if declared is None:
        url = url or os.environ.get(target_variable(name), "")
        if not url:
            raise InputError(f"target `{name}` has no URL: pass --target {name}=URL, set "
                             f"{target_variable(name)}, or name a file that declares it")
        declared = _target_from_url(name, url, kind)
    return name, open_driver(declared, name=name), declared.kind


def _target_from_url(name: str, url: str, kind: str | None) -> TargetSpec:
    """A target of `kind`, or of the broker whose URL scheme `url` has, at `url`."""
    if kind is None:
        kind = next((b.name for b in brokers() if b.url_schemes and url.startswith(b.url_schemes)), None)
    chosen = broker(kind) if kind in BROKERS and kind != "local" else None
    if chosen is None or chosen.target_from_url is None:
        kinds = [b.name for b in brokers() if b.target_from_url is not None]
        raise InputError(f"target `{name}`: say what it is with --kind {', '.join(kinds[:-1])} or {kinds[-1]}")
    return chosen.target_from_url(url)
