"""Files -> one checked topology: load each file, expand it, merge the resources, run every check.

Several files merge into one topology. The same address declared twice is an error naming both
places; a vhost may be spread over several files; a generated object (a dead-letter queue, say)
gives way to one declared by hand with the same address.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from topology.brokers.registry import brokers, rules_for
from topology.core.collecting import cycles_collected_later
from topology.core.monitor import BUILT_IN_DEFAULTS, Declared, Watch
from topology.core.problems import Problem, dotted
from topology.core.resource import Resource
from topology.errors import ProblemsError
from topology.format.check import check
from topology.format.common import TargetSpec
from topology.format.document import Expectation, Manage
from topology.format.expand import expand_file
from topology.format.load import InMemoryDocument, LoadedFile, load_document, load_file
from topology.format.monitoring import declared

__all__ = ["Topology", "compile_topology"]


@dataclass
class Topology:
    files: list[LoadedFile]
    resources: dict[str, Resource] = field(default_factory=dict)  # by address, sorted
    targets: dict[str, TargetSpec] = field(default_factory=dict)
    manage: Manage = field(default_factory=lambda: Manage())
    manage_declared: bool = False
    expectations: list[Expectation] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    # `monitoring.defaults` by role, over the built-in ones (a role the files set replaces its built-in limits)
    defaults: dict[str, dict[str, Declared]] = field(
        default_factory=lambda: {role: {k: Declared(v, None, role) for k, v in limits.items()}
                                 for role, limits in BUILT_IN_DEFAULTS.items()})
    _defaults_declared: dict[str, str] = field(default_factory=dict)  # role -> the file that set it

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    def raise_for_errors(self) -> None:
        if self.errors:
            raise ProblemsError(self.problems)

    def watches(self) -> list[Watch]:
        """Every watched object with its limits: its role's defaults (those its kind takes), then its own."""
        found: list[Watch] = []
        for resource in self.resources.values():
            takes = rules_for(resource.kind).limits
            if resource.role is None or not takes:
                continue
            limits = {name: value for name, value in self.defaults.get(resource.role, {}).items() if name in takes}
            limits.update(resource.monitor)
            topics = tuple(resource.attributes.get("topics", ())) if resource.kind == "kafka.group" else ()
            found.append(Watch(resource.address, resource.kind, resource.name, resource.scope, resource.target,
                               resource.role, limits, resource.origin, topics))
        return found


def compile_topology(paths: Sequence[str], *, document: InMemoryDocument | None = None, env: str | None = None,
                     cli_vars: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Topology:
    """Read, expand, merge and check `paths` and an in-memory `document` (read after them, as the file
    `<document>`). Problems are collected in the result, not raised."""
    with cycles_collected_later():
        return _compiled(paths, document, env, cli_vars, environ)


def _compiled(paths: Sequence[str], document: InMemoryDocument | None, env: str | None,
              cli_vars: Mapping[str, Any] | None, environ: Mapping[str, str] | None) -> Topology:
    files = [load_file(path, env=env, cli_vars=cli_vars, environ=environ) for path in paths]
    if document is not None:
        files.append(load_document(document, env=env, cli_vars=cli_vars, environ=environ))
    topology = Topology(files)
    for loaded in files:
        topology.problems.extend(loaded.problems)
    if env is not None:
        _check_environment(topology, env)
    merged = _merged(topology)
    found: list[list[Watch]] = []

    def watches() -> list[Watch]:  # made once, and only for a broker whose files ask (SQS alarms)
        if not found:
            found.append(Topology(files, merged, defaults=topology.defaults).watches())
        return found[0]

    for each in brokers():
        if each.watched is not None:
            for made in each.watched(watches, files):
                _merge(topology, merged, made)
    topology.resources = {address: merged[address] for address in sorted(merged)}
    if not topology.errors:
        topology.problems.extend(check(files, topology.resources))
    topology.problems.sort(key=_problem_order)
    return topology


def _check_environment(topology: Topology, env: str) -> None:
    """`--env NAME` must name an environment some file defines (once every file could be read)."""
    files = topology.files
    if not all(loaded.document is not None for loaded in files):
        return
    if any(loaded.document is not None and env in loaded.document.environments for loaded in files):
        return
    known = sorted({name for f in files if f.document for name in f.document.environments})
    topology.problems.append(Problem(
        f"environment `{env}` is not defined in {', '.join(f.path for f in files)}", None, "--env",
        f"defined: {', '.join(known)}" if known else "add it under `environments:`"))


def _merged(topology: Topology) -> dict[str, Resource]:
    """Every file's resources, expanded and merged (each broker then links its own), and the files'
    targets, `manage` and expectations."""
    declared: dict[str, Resource] = {}
    generated: dict[str, Resource] = {}
    for loaded in topology.files:
        if loaded.document is None:
            continue
        resources, problems = expand_file(loaded)
        topology.problems.extend(problems)
        for resource in resources:
            _merge(topology, declared if resource.generated_by is None else generated, resource)
        _merge_settings(topology, loaded)
    merged = dict(generated)
    for address, resource in declared.items():  # declared by hand wins over generated, in the role it was
        made = generated.get(address)  # generated for: a queue, Kafka topic or Redis group declared by hand
        if (made is not None and made.role in ("dead_letter", "retry")  # under a dead-letter or retry name is
                and rules_for(resource.kind).limits):  # watched as one
            resource = replace(resource, role=made.role)
        merged[address] = resource
    for each in brokers():
        if each.link is not None:
            merged = each.link(merged)
    return merged


def _problem_order(problem: Problem) -> tuple[str, int, int, str]:
    location = problem.location
    return (location.file, location.line, location.column, problem.message) if location else ("", 0, 0, problem.message)


def _merge(topology: Topology, table: dict[str, Resource], resource: Resource) -> None:
    existing = table.get(resource.address)
    if existing is None:
        table[resource.address] = resource
        return
    same_generated = resource.generated_by is not None and existing.attributes == resource.attributes
    if rules_for(resource.kind).is_container or same_generated:
        table[resource.address] = replace(existing, protect=existing.protect or resource.protect)
        return
    first = f"{existing.origin}" if existing.origin else "another file"
    what = "generates" if resource.generated_by else "declares"
    topology.problems.append(Problem(
        f"`{resource.address}` is declared twice: here and at {first}", resource.origin, dotted(resource.path),
        f"this {what} the same {resource.kind.split('.', 1)[1].replace('_', ' ')} again; keep one of them"))


def _merge_settings(topology: Topology, loaded: LoadedFile) -> None:
    document = loaded.document
    assert document is not None
    for name, target in document.targets.items():
        if name == "local" and target.kind != "local":  # the name of the embedded target: it would be read instead
            topology.problems.append(Problem(
                f"a {target.kind} target cannot be called `local`: that name is the embedded local target's",
                loaded.positions.at(("targets", name), key=True), f"targets.{name}", "give it another name"))
        known = topology.targets.setdefault(name, target)
        if known != target:
            where = loaded.positions.at(("targets", name), key=True)
            topology.problems.append(Problem(f"target `{name}` is declared differently in another file", where,
                                             f"targets.{name}", "declare each target once"))
    if "manage" in document.model_fields_set:
        if topology.manage_declared and topology.manage != document.manage:
            topology.problems.append(Problem(
                "`manage` is declared differently in another file", loaded.positions.at(("manage",), key=True),
                "manage", "declare it in one file"))
        topology.manage = document.manage
        topology.manage_declared = True
    topology.expectations.extend(document.expectations)
    for role in document.monitoring.defaults.model_fields_set:
        path = ("monitoring", "defaults", role)
        limits = declared(getattr(document.monitoring.defaults, role), loaded.positions, path, role)
        if role in topology._defaults_declared:
            if {k: v.value for k, v in topology.defaults[role].items()} != {k: v.value for k, v in limits.items()}:
                topology.problems.append(Problem(
                    f"`monitoring.defaults.{role}` is declared differently in {topology._defaults_declared[role]}",
                    loaded.positions.at(path, key=True), dotted(path), "declare each role's defaults in one file"))
            continue
        topology.defaults[role] = limits
        topology._defaults_declared[role] = loaded.path
