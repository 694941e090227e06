"""From a Document (the user's vocabulary) to primitive Resources (the broker's objects).

Each broker expands its own sections (`brokers/<name>/expand.py`) through an `Expansion`, which
records resources and located problems and renders `naming:` templates. There, `dead_letter` and
`retry` become queues, topics and streams of their own, in each broker's own names and units.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jinja2

from topology.brokers.registry import brokers
from topology.core.problems import Location, PathPart, Problem, dotted
from topology.core.resource import Resource
from topology.core.secrets import Secret
from topology.format.common import Spec
from topology.format.load import LoadedFile
from topology.format.monitoring import declared
from topology.format.templating import SafeTemplate

__all__ = ["Expansion", "expand_file"]

@dataclass
class Expansion:
    loaded: LoadedFile
    document: Any
    resources: list[Resource] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    _templates: dict[str, Callable[..., str]] = field(default_factory=dict)

    def where(self, path: tuple[PathPart, ...]) -> Location | None:
        return self.loaded.positions.at(path, key=True)

    def add(self, kind: str, address: str, target: str | None, attributes: dict[str, Any],
            path: tuple[PathPart, ...], *, name: str, scope: str = "", depends_on: tuple[str, ...] = (),
            protect: bool = False, generated_by: str | None = None, secrets: dict[str, Secret] | None = None,
            role: str | None = None, monitor: Spec | None = None) -> None:
        """Record a resource; `role` and `monitor` (its `monitor:` limits, at `path` + monitor) say how it is
        watched."""
        self.resources.append(Resource(
            kind=kind, address=address, name=name, scope=scope, target=target, attributes=attributes,
            depends_on=depends_on,
            protect=protect, generated_by=generated_by, origin=self.where(path), path=path,
            secrets=secrets or {}, role=role,
            monitor=declared(monitor, self.loaded.positions, (*path, "monitor"))))

    def problem(self, message: str, path: tuple[PathPart, ...], hint: str | None = None,
                severity: str = "error") -> None:
        self.problems.append(Problem(message, self.where(path), dotted(path), hint,
                                     "warning" if severity == "warning" else "error"))

    def name(self, template_field: str, path: tuple[PathPart, ...], **values: str) -> str:
        source = getattr(self.document.naming, template_field)
        template = self._templates.get(source)
        try:
            if template is None:
                template = self._templates[source] = _compile_name_template(source)
            return template(**values).strip()
        except jinja2.TemplateError as exc:
            self.problem(f"naming.{template_field} cannot be rendered: {exc}", ("naming", template_field),
                         f"it may use {', '.join('{{ ' + k + ' }}' for k in values)}")
            return ".".join(values.values())


_PLACEHOLDER = re.compile(r"\{\{\s*(queue|topic|stream|delay)\s*\}\}")


def _compile_name_template(source: str) -> Callable[..., str]:
    """A `naming:` template as a function; plain `{{ name }}` templates skip jinja2 (thousands of names)."""
    if "{%" not in source and "{#" not in source and _PLACEHOLDER.sub("", source).count("{{") == 0:
        pattern = _PLACEHOLDER.sub(lambda m: "\0" + m.group(1) + "\0", source).split("\0")

        def fill(**values: str) -> str:
            return "".join(values[part] if index % 2 else part for index, part in enumerate(pattern))
        return fill
    return SafeTemplate(source).render  # sandboxed and bounded, its budget shared by every name it makes


def expand_file(loaded: LoadedFile) -> tuple[list[Resource], list[Problem]]:
    """The primitive resources one loaded file declares, and the problems found expanding it."""
    assert loaded.document is not None
    context = Expansion(loaded, loaded.document)
    for each in brokers():
        for section in each.sections:
            value = loaded.document.section(section.key)
            if value:
                section.expand(context, value)
    return context.resources, context.problems
