"""Checks that need the whole expanded topology, no broker: references, name rules, broker limits.

Each broker's rules are in `brokers/<name>/check.py`; this runs them, and checks what is common to
all: each section's target. A check reads the merged resources (declared and generated alike, so a
generated retry queue obeys the same rules as one written by hand) and reports a located Problem.
"""

from __future__ import annotations

from collections.abc import Mapping

from topology.brokers.registry import brokers
from topology.core.problems import PathPart, Problem, did_you_mean, dotted
from topology.core.resource import Resource
from topology.format.load import LoadedFile

__all__ = ["Checker", "check"]

class Checker:
    def __init__(self, files: list[LoadedFile], resources: Mapping[str, Resource]) -> None:
        self.files = {f.path: f for f in files}
        self.resources = resources
        self.problems: list[Problem] = []

    def report(self, resource: Resource, message: str, *sub: PathPart, hint: str | None = None,
               warning: bool = False) -> None:
        path = resource.path if resource.generated_by is not None else (*resource.path, *sub)
        loaded = self.files.get(resource.origin.file) if resource.origin else None
        location = loaded.positions.at(path, key=True) if loaded else resource.origin
        if resource.generated_by is not None:
            message = f"{message} (in `{resource.name}`, generated here)"
        self.problems.append(Problem(message, location, dotted(path), hint, "warning" if warning else "error"))

    def report_at(self, loaded: LoadedFile, path: tuple[PathPart, ...], message: str, hint: str | None = None) -> None:
        self.problems.append(Problem(message, loaded.positions.at(path, key=True), dotted(path), hint))

    def names(self, prefix: str) -> list[str]:
        return [a.removeprefix(prefix) for a in self.resources if a.startswith(prefix)]


def check(files: list[LoadedFile], resources: Mapping[str, Resource]) -> list[Problem]:
    """Every problem the merged topology has, in no particular order."""
    checker = Checker(files, resources)
    every = brokers()
    handlers = {kind: handler for each in every for kind, handler in each.checks.items()}
    for resource in resources.values():
        handler = handlers.get(resource.kind)
        if handler is not None:
            handler(checker, resource)
    for each in every:
        if each.check_all is not None:
            each.check_all(checker)
    for loaded in files:
        if loaded.document is not None:
            _check_targets(checker, loaded)
            _check_expectations(checker, loaded)
    return checker.problems


def _check_targets(checker: Checker, loaded: LoadedFile) -> None:
    """Each section names a declared target of its broker's kind (or the embedded local target)."""
    document = loaded.document
    assert document is not None
    for each in brokers():
        kind = each.name
        for declared in each.sections:
            section_name = declared.key
            section = document.section(section_name)
            if section is None or section.target is None:
                continue
            target = document.targets.get(section.target)
            if target is None:
                checker.report_at(loaded, (section_name, "target"), f"target `{section.target}` is not declared",
                                  did_you_mean(section.target, document.targets) or "declare it under `targets:`")
            elif target.kind not in (kind, "local"):
                checker.report_at(loaded, (section_name, "target"),
                                  f"target `{section.target}` is a {target.kind} target, not {kind}",
                                  f"point `{section_name}` at a target of kind {kind}")


def _check_expectations(checker: Checker, loaded: LoadedFile) -> None:
    """An expectation publishes to something declared, and names declared queues."""
    document = loaded.document
    assert document is not None
    for index, expectation in enumerate(document.expectations):
        path: tuple[PathPart, ...] = ("expectations", index)
        publish = expectation.publish
        owner = next(b for b in brokers() if b.publishes is not None and b.publishes(publish))
        assert owner.check_publish is not None
        prefix = owner.check_publish(checker, loaded, path, publish)
        for queue_index, queue in enumerate(expectation.delivered_to):
            if f"{prefix}{queue}" not in checker.resources:
                checker.report_at(loaded, (*path, "delivered_to", queue_index), f"queue `{queue}` is not declared",
                                  did_you_mean(queue, checker.names(prefix)))
