"""The `topology` command line: a thin typer layer over the library.

Kept cheap to import: `topology --help` must not load broker clients (boto3, confluent-kafka,
pika, redis, httpx); commands import what they need inside their own bodies.
"""

from __future__ import annotations

import io
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from topology import __version__
from topology.errors import InputError, TopologyError

if TYPE_CHECKING:
    from topology.brokers.base import ChangeResult
    from topology.engine.apply import ApplyReport
    from topology.engine.plan import Change, Plan
    from topology.engine.session import Engine
    from topology.format.compile import Topology
    from topology.render.progress import Display

__all__ = ["app", "main"]

app = typer.Typer(
    name="topology",
    help="Topology-as-code for message brokers: validate, plan and apply RabbitMQ, Kafka, "
    "SQS/SNS and Redis Streams topologies kept in YAML.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

_state: dict[str, Any] = {"debug": False, "colour": True, "verbosity": 0}


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"topology {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Print the version and exit."),
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show the Python traceback behind an error.")] = False,
    no_color: Annotated[bool, typer.Option("--no-color", help="No colour (as with NO_COLOR set).")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show each change as it is made, on a "
                                          "terminal too.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress: only results, warnings and "
                                        "failures.")] = False,
) -> None:
    """Topology-as-code for message brokers."""
    import os

    if verbose and quiet:
        raise InputError("--verbose and --quiet cannot go together; give one")
    if no_color:
        os.environ["NO_COLOR"] = "1"  # so the help typer draws with rich has none either
    _state.update(debug=debug, colour=not os.environ.get("NO_COLOR"),  # set and not empty, as no-color.org says
                  verbosity=1 if verbose else -1 if quiet else 0, interrupted=False)


Files = Annotated[list[str], typer.Argument(
    help="Topology files (*.topology.yaml), or directories: the topology files in them.", show_default=False)]
EnvOption = Annotated[str | None, typer.Option("--env", help="Environment overlay from `environments:`.")]
VarOption = Annotated[list[str] | None, typer.Option(
    "--var", help="KEY=VALUE for jinja2 (repeatable); the value is read as YAML; wins over --var-file.")]
VarFileOption = Annotated[list[str] | None, typer.Option(
    "--var-file", help="A YAML file of NAME: VALUE variables for jinja2 (repeatable; a later file wins).")]


class ReportFormat(StrEnum):
    text = "text"
    json = "json"


class PlanFormat(StrEnum):
    text = "text"
    json = "json"
    markdown = "markdown"


OnlyOption = Annotated[list[str] | None, typer.Option(
    "--only", help="Plan only the addresses this glob selects, and what they depend on (repeatable): a partial plan.")]
ExcludeOption = Annotated[list[str] | None, typer.Option(
    "--exclude", help="Leave out the addresses this glob selects, and what depends on them (repeatable).")]
StateOption = Annotated[str | None, typer.Option(
    "--state", help="State file of the embedded local target (default .topology/state.json).")]
TargetOption = Annotated[list[str] | None, typer.Option(
    "--target", help="NAME=URL: where target NAME lives, over the file (repeatable; or TOPOLOGY_TARGET_<NAME>).")]
OfflineOption = Annotated[bool, typer.Option(
    "--offline", help="Plan every target against the state file (e.g. one written by `topology export`).")]


def _variables(variables: list[str] | None, var_files: list[str] | None = None) -> dict[str, Any]:
    """The variables of --var-file files, in order, then of --var assignments, each over the ones before."""
    from topology.format.inputs import read_var_file
    from topology.format.load import parse_var

    cli_vars: dict[str, Any] = {}
    for path in var_files or []:
        cli_vars.update(read_var_file(path))
    for assignment in variables or []:
        try:
            key, value = parse_var(assignment)
        except ValueError as exc:
            raise InputError(f"{exc}; write --var NAME=VALUE") from None
        cli_vars[key] = value
    return cli_vars


def _files(paths: list[str]) -> list[str]:
    """The topology files `paths` name: a directory means the topology files in it."""
    from topology.format.inputs import expand_directories

    return expand_directories(paths)


def _compile(files: list[str], env: str | None, variables: list[str] | None, var_files: list[str] | None,
             ) -> Topology:
    from topology.core.collecting import kept_until_exit
    from topology.format.compile import compile_topology

    topology = compile_topology(_files(files), env=env, cli_vars=_variables(variables, var_files))
    kept_until_exit()
    return topology


def _print_problems(topology: Topology) -> None:
    for problem in topology.problems:
        typer.echo(str(problem), err=True)


@app.command()
def validate(files: Files, env: EnvOption = None, var: VarOption = None, var_file: VarFileOption = None,
             format: Annotated[ReportFormat, typer.Option("--format", help="text or json.")] = ReportFormat.text,
             whole_topology: Annotated[bool, typer.Option(
                 "--whole-topology", help="Check the whole topology each file belongs to: all topology files "
                 "of its directory (the pre-commit hook's mode); each directory is checked on its own.")] = False,
             ) -> None:
    """Check topology files, without contacting a broker.

    The schema, references, names and the brokers' own limits; every problem at once."""
    from topology.format.compile import compile_topology
    from topology.format.inputs import topologies_of

    variables = _variables(var, var_file)
    groups = topologies_of(files) if whole_topology else [(None, _files(files))]
    valid = True
    for directory, group in groups:
        topology = compile_topology(group, env=env, cli_vars=variables)
        valid = _validated(topology, format, f" in {directory}" if directory is not None else "") and valid
    if not valid:
        raise typer.Exit(1)


def _validated(topology: Topology, format: ReportFormat, where: str) -> bool:
    """Report one topology's problems; whether it is valid."""
    if format is ReportFormat.json:
        from topology.render.problems import problems_json

        typer.echo(problems_json(topology))
        return not topology.errors
    _print_problems(topology)
    errors, warnings, files = len(topology.errors), len(topology.warnings), _count(len(topology.files), 'file')
    if errors:
        typer.echo(f"{_count(errors, 'error')}, {_count(warnings, 'warning')} in {files}{where}.", err=True)
        return False
    generated = sum(1 for r in topology.resources.values() if r.generated_by)
    typer.echo(f"Valid: {files}{where}, {_count(len(topology.resources), 'resource')} "
               f"({generated} generated by dead_letter/retry), {_count(warnings, 'warning')}.")
    return True


@app.command()
def render(files: Files, env: EnvOption = None, var: VarOption = None, var_file: VarFileOption = None) -> None:
    """Print the fully expanded topology as YAML.

    Templates rendered, the environment overlaid, retry and dead-letter expanded."""
    topology = _compile(files, env, var, var_file)
    _print_problems(topology)
    if topology.errors:
        raise typer.Exit(1)
    from topology.render.topology import topology_yaml

    typer.echo(topology_yaml(topology, env=env), nl=False)


@app.command("test")
def test_(files: Files, env: EnvOption = None, var: VarOption = None, var_file: VarFileOption = None,
          live: Annotated[bool, typer.Option("--live", help="Publish probes through the real RabbitMQ.")] = False,
          ) -> None:
    """Check where messages are routed (`expectations:`).

    Statically, or with --live by publishing probes through the real broker."""
    from topology.engine.expectations import check_expectations

    topology = _compile(files, env, var, var_file)
    _print_problems(topology)
    if topology.errors:
        raise typer.Exit(1)
    outcomes = check_expectations(topology, live=live)
    for outcome in outcomes:
        typer.echo(outcome.describe())
    failed = sum(1 for o in outcomes if not o.holds)
    typer.echo(f"{len(outcomes) - failed} of {_count(len(outcomes), 'expectation')} hold.")
    if failed:
        raise typer.Exit(1)


@app.command()
def schema() -> None:
    """Print the JSON Schema of the topology format (draft-07)."""
    from topology.format.schema import schema_text

    typer.echo(schema_text(), nl=False)


def _colour() -> bool:
    return sys.stdout.isatty() and bool(_state["colour"])


def _display() -> Display:
    from topology.render.progress import Display

    return Display(verbosity=_state["verbosity"], colour=_state["colour"])


def _render_plan(plan: Plan, format: PlanFormat) -> str:
    from topology.render import render_markdown, render_text

    if format is PlanFormat.json:
        return plan.to_json()
    if format is PlanFormat.markdown:
        return render_markdown(plan)
    return render_text(plan, colour=_colour())


def _target_urls(targets: list[str] | None) -> dict[str, str]:
    urls = {}
    for assignment in targets or []:
        name, sep, url = assignment.partition("=")
        if not sep or not name or not url:
            raise InputError(f"--target {assignment!r} is not NAME=URL")
        urls[name] = url
    return urls


def _engine(files: list[str], env: str | None, variables: dict[str, Any], state: str | None, offline: bool,
            *, lock: bool = False, parallelism: int = 10, targets: list[str] | None = None,
            lock_wait: float = 0.0, only: Sequence[str] = (), exclude: Sequence[str] = ()) -> Engine:
    from pathlib import Path

    from topology.brokers.base import Subset
    from topology.core.collecting import kept_until_exit
    from topology.engine.session import Engine

    urls = _target_urls(targets)
    engine = Engine(_files(files), env=env, variables=variables, state=Path(state) if state else None,
                    offline=offline, lock=lock, parallelism=parallelism, target_urls=urls, lock_wait=lock_wait,
                    subset=Subset(tuple(only), tuple(exclude)))
    for warning in engine.topology.warnings:
        typer.echo(str(warning), err=True)
    kept_until_exit()
    return engine


def _inspected(engine: Engine, planning: Callable[[Callable[[str], None]], Plan]) -> Plan:
    """`planning` run with a bar on the terminal that counts the targets as their live state is read."""
    from topology.core.collecting import kept_until_exit
    from topology.render.progress import Work

    count = len(engine.targets)
    with Work(_display(), f"Inspecting {count} target{'' if count == 1 else 's'}", count, keep=False) as work:
        plan = planning(lambda name: work.done())
    kept_until_exit()
    return plan


def _said_partial(engine: Engine, plan: Plan, *, shown: bool) -> None:
    """Warn, on stderr, of each glob that selects nothing, and that the plan is partial unless the plan
    as `shown` says so itself."""
    for glob in engine.unmatched_globs():
        typer.echo(f"warning: {glob!r} selects no declared or live address; check its spelling "
                   "(addresses look like rabbitmq/VHOST/queue/NAME: see `topology render`)", err=True)
    if plan.partial and not shown:
        typer.echo(f"warning: {plan.partial_note()}", err=True)


@app.command()
def plan(files: Files, env: EnvOption = None, var: VarOption = None, var_file: VarFileOption = None,
         state: StateOption = None,
         offline: OfflineOption = False, target: TargetOption = None,
         out: Annotated[str | None, typer.Option("--out", help="Save the plan for `apply PLANFILE`.")] = None,
         format: Annotated[PlanFormat, typer.Option("--format", help="text, json or markdown.")] = PlanFormat.text,
         detailed_exitcode: Annotated[bool, typer.Option(
             "--detailed-exitcode", help="Exit 2 when there are changes, 0 when there are none.")] = False,
         only: OnlyOption = None, exclude: ExcludeOption = None,
         ) -> None:
    """Inspect the live targets and show what apply would change."""
    with _engine(files, env, _variables(var, var_file), state, offline, targets=target, only=only or (),
                 exclude=exclude or ()) as engine:
        result = _inspected(engine, engine.plan)
        _said_partial(engine, result, shown=format is not PlanFormat.json)
    if out:
        result = result.saved_at(out, [_content(path) for path in result.on_disk])
        _write_out(out, result.to_json())
        typer.echo(f"Saved the plan to {out}; apply it with `topology apply {out}`.", err=True)
    typer.echo(_render_plan(result, format), nl=False)
    if detailed_exitcode and not result.is_empty:
        raise typer.Exit(2)


class GraphFormat(StrEnum):
    mermaid = "mermaid"
    dot = "dot"


@app.command()
def graph(files: Files, env: EnvOption = None, var: VarOption = None, var_file: VarFileOption = None,
          format: Annotated[GraphFormat, typer.Option("--format", help="mermaid or dot.")] = GraphFormat.mermaid,
          plan: Annotated[str | None, typer.Option(
              "--plan", help="A plan saved with `plan --out`: its changes coloured.")] = None,
          ) -> None:
    """Draw the topology as a mermaid or Graphviz dot picture.

    Exchanges, queues and their dead-letter and retry paths, topics, groups, subscriptions, streams; with
    --plan, what a saved plan changes coloured."""
    topology = _compile(files, env, var, var_file)
    _print_problems(topology)
    if topology.errors:
        raise typer.Exit(1)
    from topology.engine.digest import source_digest
    from topology.render.graph import render_graph

    saved = _read_plan(plan) if plan else None
    if saved is not None and (saved.source_digest != source_digest(topology) or saved.environment != env):
        made = f" with --env {saved.environment}" if saved.environment else " without --env"
        raise InputError(f"{plan} was not made from these files as they are now{made}: its colours would not "
                         "match; draw it with the files (and --env) it was made from, or plan again")
    typer.echo(render_graph(topology, saved, format.value), nl=False)


@app.command()
def show(planfile: Annotated[str, typer.Argument(help="A plan saved with `plan --out`.")],
         format: Annotated[PlanFormat, typer.Option("--format", help="text, json or markdown.")] = PlanFormat.text,
         ) -> None:
    """Render a saved plan."""
    typer.echo(_render_plan(_read_plan(planfile), format), nl=False)


def _write_out(path: str, text: str) -> None:
    """Write a file the user named, or say in one sentence why it cannot be written."""
    import os
    from pathlib import Path

    target = Path(path)
    if target.is_dir():
        raise InputError(f"{path} is a directory; give a file name, e.g. {os.path.join(path, 'shop.plan.json')}")
    if not target.parent.is_dir():
        raise InputError(f"cannot write {path}: the directory {target.parent} does not exist; create it first")
    try:
        target.write_text(text)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None


def _content(path: str) -> bytes:
    """A topology file's content, for the digest a saved plan keeps of it."""
    from pathlib import Path

    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path} again to save the plan: {exc.strerror or exc}") from None


def _read_plan(path: str) -> Plan:
    import json

    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise InputError(f"{path} is a directory; give the plan file saved by `topology plan --out`") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):  # the last: nested past Python's limit
        raise InputError(f"{path} is not a plan saved by `topology plan --out`; plan again") from None
    return _plan_of(path, data)


def _plan_of(path: str, data: Any) -> Plan:
    """The plan in `data` (read from `path`), or one sentence on why this version cannot take it."""
    from pydantic import ValidationError

    from topology.engine.plan import READABLE_VERSIONS, Plan

    version = data.get("format_version") if isinstance(data, dict) else None
    if isinstance(version, int) and version not in READABLE_VERSIONS:
        readable = f"{', '.join(map(str, READABLE_VERSIONS[:-1]))} and {READABLE_VERSIONS[-1]}"
        raise InputError(f"{path} was saved by another version of topology (plan format {version}; this one reads "
                         f"{readable}); run `topology plan` again")
    try:
        return Plan.model_validate(data)
    except (ValidationError, RecursionError):
        raise InputError(f"{path} is not a plan saved by this version's `topology plan --out`; plan again") from None


def _saved_plan(files: list[str]) -> Plan | None:
    """The plan, when `files` is one file saved by `plan --out`; None for topology files."""
    import json

    if len(files) != 1:
        return None
    try:
        with open(files[0], encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None
    if not (isinstance(data, dict) and "source_digest" in data):
        return None
    return _plan_of(files[0], data)


@app.command()
def apply(files: Annotated[list[str], typer.Argument(help="Topology files, or one saved plan.", show_default=False)],
          env: EnvOption = None, var: VarOption = None, var_file: VarFileOption = None, state: StateOption = None,
          target: TargetOption = None,
          auto_approve: Annotated[bool, typer.Option(
              "--auto-approve", help="Apply without asking (a saved plan never asks: it is the approval).")] = False,
          allow_delete: Annotated[bool, typer.Option("--allow-delete", help="Allow deletes (manage.prune).")] = False,
          allow_data_loss: Annotated[bool, typer.Option(
              "--allow-data-loss", help="Allow replacing or deleting objects that hold messages.")] = False,
          parallelism: Annotated[int, typer.Option("--parallelism", help="Changes run at once, 1 to 64.")] = 10,
          lock_timeout: Annotated[str, typer.Option(
              "--lock-timeout", help="How long to wait for another apply's lock on a target (e.g. 30s, 5m).")] = "0s",
          only: OnlyOption = None, exclude: ExcludeOption = None,
          ) -> None:
    """Carry out the plan (computed now, or a saved one), safely.

    A saved plan is applied without asking (it is the approval), if the files (found relative to it) and the
    live state are still what it was made from."""
    if not 1 <= parallelism <= 64:
        raise InputError(f"--parallelism {parallelism} is out of range; give 1 to 64")
    lock_wait = _lock_wait(lock_timeout)
    saved = _saved_plan(files)
    variables = _variables(var, var_file)
    sources, only, exclude = files, only or [], exclude or []
    if saved is not None:
        from topology.engine.fresh import inputs_of

        if only or exclude:
            raise InputError(f"{files[0]} is a saved plan, which keeps its own --only/--exclude; apply it without "
                             "them, or plan again with the ones you want")
        sources, env = inputs_of(saved, env=env, variables=variables, plan_file=files[0])
        only, exclude = list(saved.only), list(saved.exclude)
    with _engine(sources, env, variables, state, False, lock=True, parallelism=parallelism,
                 targets=target, lock_wait=lock_wait, only=only, exclude=exclude) as engine:
        result = _inspected(engine, lambda inspected: engine.check_fresh(saved, inspected)) if saved is not None \
            else _inspected(engine, engine.plan)
        _said_partial(engine, result, shown=not auto_approve and saved is None)  # _confirm shows the plan
        if result.is_empty:
            from topology.engine.plan import PARTIAL_NO_CHANGES

            typer.echo(PARTIAL_NO_CHANGES if result.partial else "No changes. The live brokers match the topology.")
            return
        engine.check_gates(result, allow_delete=allow_delete, allow_data_loss=allow_data_loss)
        if not auto_approve and saved is None:  # a saved plan is the approval, as in Terraform
            _confirm(result)
        from topology.render.progress import Work

        with _interruptible() as stop, Work(_display(), "Applying", len(result.changes)) as work:
            def progress(change: Change, done: ChangeResult) -> None:
                work.done(_change_line(change, done), failure=not done.ok)

            report = engine.apply(result, progress=progress, allow_delete=allow_delete,
                                  allow_data_loss=allow_data_loss, stop=stop)
    _report(report)


@contextmanager
def _interruptible() -> Iterator[threading.Event]:
    """While applying: the first Ctrl-C (or SIGTERM, as CI runners send on cancel) starts nothing new and lets
    what runs finish, so the report can say what was done; a second Ctrl-C ends the process at once. A
    SIGTERM after the first signal changes nothing: a runner sends one after its Ctrl-C, and the finish
    goes on until it ends the process itself."""
    import os
    import signal

    stop = threading.Event()

    def interrupted(signum: int, frame: Any) -> None:  # writes with os.write: the main thread may be mid-line
        if stop.is_set() and signum == signal.SIGINT:
            os.write(2, b"\nAborted: changes that were running may be half done; run `topology plan` to see "
                        b"where the brokers are.\n" + (b"\x1b[?25h" if sys.stderr.isatty() else b""))  # the cursor
            os._exit(130)  # the apply locks are the brokers' own: they free themselves as this process ends
        if stop.is_set():
            return
        stop.set()
        _state["interrupted"] = True
        os.write(2, b"\nInterrupted: finishing the changes already running, starting no new one "
                    b"(press Ctrl-C again to abort at once).\n")

    previous = {number: signal.signal(number, interrupted) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _lock_wait(lock_timeout: str) -> float:
    """--lock-timeout in seconds."""
    from topology.core.units import parse_duration

    try:
        bare = lock_timeout.strip().replace(".", "", 1).isdigit()  # a bare number is seconds, as Terraform reads it
        return float(lock_timeout) if bare else parse_duration(lock_timeout) / 1000
    except ValueError:
        raise InputError(f"--lock-timeout {lock_timeout!r} is not a duration; write e.g. 30s or 5m") from None


def _confirm(plan: Plan) -> None:
    """Show the plan on the terminal and go on only on `yes`."""
    if not sys.stdin.isatty():
        raise InputError("apply needs --auto-approve when it is not run from a terminal")
    typer.echo(_render_plan(plan, PlanFormat.text), nl=False)
    if typer.prompt("Apply these changes? Only 'yes' is accepted", default="") != "yes":
        typer.echo("Apply cancelled; nothing was changed.")
        raise typer.Exit(1)


def _report(report: ApplyReport) -> None:
    """Count what apply did. Each failure was printed once as it happened (_change_line); with --debug, the
    traceback behind a failure a driver raised (a bug) follows."""
    stopped = bool(report.interrupted) or bool(_state.get("interrupted"))
    outcome = "interrupted" if stopped else "complete" if report.ok else "failed"
    typer.echo(f"Apply {outcome}: {len(report.applied)} applied, {len(report.failed)} failed, "
               f"{len(report.not_attempted) + len(report.interrupted)} not attempted.")
    for address in report.not_attempted:
        typer.echo(f"  not attempted (depends on a failed change): {address}", err=True)
    for address in report.interrupted:
        typer.echo(f"  not attempted (interrupted): {address}", err=True)
    if report.interrupted:
        typer.echo("Plan and apply again to carry out the rest.", err=True)
    if _state["debug"]:
        import traceback

        for address, exc in report.exceptions.items():
            typer.echo(f"Traceback behind the failure of {address}:", err=True)
            typer.echo("".join(traceback.format_exception(exc)).rstrip("\n"), err=True)
    if stopped:
        raise typer.Exit(130)
    if not report.ok:
        raise typer.Exit(1)


def _change_line(change: Change, result: ChangeResult) -> str:
    from topology.render.text import SYMBOLS

    status = "done" if result.ok else f"FAILED: {result.error}"
    return f"{SYMBOLS[change.action]:>3} {change.address}: {status}"


@app.command()
def export(target: Annotated[str, typer.Option(
               "--target", help="NAME (from the files' targets, TOPOLOGY_TARGET_<NAME>, or `local`) or NAME=URL.")],
           files: Annotated[list[str] | None, typer.Argument(help="Files whose `targets:` name the target.")] = None,
           to: Annotated[str | None, typer.Option("--to", help="Write here instead of stdout.")] = None,
           state: StateOption = None,
           format: Annotated[str, typer.Option("--format", help="yaml (a topology file) or state.")] = "yaml",
           kind: Annotated[str | None, typer.Option(
               "--kind", help="rabbitmq, kafka, aws or redis, when the URL does not say.")] = None,
           include: Annotated[list[str] | None, typer.Option(
               "--include", help="Export only addresses this glob matches (repeatable): 'rabbitmq/team-a/*', "
                                 "'kafka/topic/orders.*', '*/queue/*'.")] = None,
           exclude: Annotated[list[str] | None, typer.Option(
               "--exclude", help="Leave out addresses this glob matches (repeatable).")] = None,
           ) -> None:
    """Write a target's live state as a topology file.

    A topology file (adoption), or a state file (offline planning) with --format state.

    With --include/--exclude, a part of it: what the objects in scope need (a binding's exchange, a
    subscription's queue) comes too, named in the file's header."""
    from pathlib import Path

    from topology.engine.export import export_text

    text = export_text(target, _files(files or []), state=state, format=format, kind=kind,
                       include=include or (), exclude=exclude or ())
    if to:
        Path(to).write_text(text)
    else:
        typer.echo(text, nl=False)


class StatusFormat(StrEnum):
    text = "text"
    json = "json"
    markdown = "markdown"


class AlertsFormat(StrEnum):
    prometheus = "prometheus"
    promtool_test = "promtool-test"


def _watched(files: list[str], env: str | None, var: list[str] | None, var_file: list[str] | None) -> Topology:
    topology = _compile(files, env, var, var_file)
    topology.raise_for_errors()
    for warning in topology.warnings:
        typer.echo(str(warning), err=True)
    return topology


def _seconds(value: str, option: str) -> float:
    from topology.core.units import parse_duration

    try:
        return parse_duration(value) / 1000
    except ValueError as exc:
        raise InputError(f"{option} {value!r}: {exc}") from None


@app.command()
def status(files: Files, env: EnvOption = None, var: VarOption = None, var_file: VarFileOption = None,
           target: TargetOption = None,
           format: Annotated[StatusFormat, typer.Option(
               "--format", help="text, json or markdown.")] = StatusFormat.text,
           watch: Annotated[str | None, typer.Option(
               "--watch", help="Refresh every INTERVAL (10s) on a terminal until Ctrl-C.")] = None,
           ) -> None:
    """Live depth, lag and age against the declared limits.

    Every declared queue, group and stream, with its consumers.

    Exit 0 when every limit holds, 3 when one is breached, 1 on error (a target that cannot be read)."""
    from topology.monitor.read import Reader
    from topology.monitor.status import render_status, status_code

    topology = _watched(files, env, var, var_file)
    interval = _seconds(watch, "--watch") if watch is not None else None
    if interval is not None and interval < 1:
        raise InputError(f"--watch {watch!r} is shorter than a second; write 10s, say")
    with Reader(topology, target_urls=_target_urls(target)) as reader:
        if interval is None:
            health = reader.read()
            typer.echo(render_status(health, format.value, files=files), nl=False)
            raise typer.Exit(status_code(health))
        import time

        try:
            while True:  # until Ctrl-C; each frame replaces the last on a terminal; json: one document a line
                health = reader.read()
                if format is StatusFormat.json:
                    typer.echo(render_status(health, "jsonl", files=files), nl=False)
                else:
                    frame = render_status(health, format.value, files=files)
                    clear = "\x1b[H\x1b[2J" if sys.stdout.isatty() else ""
                    typer.echo(f"{clear}Every {watch}, {time.strftime('%H:%M:%S')}: topology status\n\n{frame}",
                               nl=False)
                time.sleep(interval)
        except KeyboardInterrupt:
            raise typer.Exit(130) from None


@app.command()
def alerts(files: Files, env: EnvOption = None, var: VarOption = None, var_file: VarFileOption = None,
           format: Annotated[AlertsFormat, typer.Option(
               "--format", help="prometheus (a rule file) or promtool-test (its unit tests).",
           )] = AlertsFormat.prometheus,
           out: Annotated[str | None, typer.Option("--out", help="Write here instead of stdout.")] = None,
           for_: Annotated[str, typer.Option("--for", help="How long a limit must be breached before the alert "
                                             "fires (Prometheus `for:`).")] = "1m",
           rules: Annotated[str, typer.Option("--rules", help="With promtool-test: the rule file the tests load, "
                                              "relative to the test file.")] = "topology.rules.yml",
           ) -> None:
    """Prometheus alert rules for the declared limits.

    One alert per object and limit, or (--format promtool-test) their promtool unit tests."""
    from topology.monitor.alerts import prometheus_rules, promtool_tests

    topology = _watched(files, env, var, var_file)
    hold = _seconds(for_, "--for")
    text = (prometheus_rules(topology, hold=hold) if format is AlertsFormat.prometheus
            else promtool_tests(topology, hold=hold, rules_file=rules))
    if out:
        _write_out(out, text)
    else:
        typer.echo(text, nl=False)


@app.command()
def exporter(files: Files, env: EnvOption = None, var: VarOption = None, var_file: VarFileOption = None,
             target: TargetOption = None,
             listen: Annotated[str, typer.Option(
                 "--listen", help="HOST:PORT to serve /metrics on.")] = "127.0.0.1:9464",
             cache: Annotated[str, typer.Option("--cache", help="Serve one read of the brokers to every scrape "
                                                "within this long.")] = "10s",
             ) -> None:
    """A Prometheus endpoint with gauges for the declared objects.

    Every declared queue, group and stream on every target, and their limits."""
    from topology.monitor.exporter import serve
    from topology.monitor.read import Reader

    topology = _watched(files, env, var, var_file)
    with Reader(topology, target_urls=_target_urls(target)) as reader:
        every = _seconds(cache, "--cache")
        if every < 1:
            raise InputError(f"--cache {cache!r} is shorter than a second: every scrape would read every broker; "
                             "write 10s, say")
        serve(reader, listen, cache_seconds=every)


def _count(number: int, word: str) -> str:
    return f"{number} {word}{'' if number == 1 else 's'}"


# click's exceptions, wherever this typer keeps them (its own copy of click, or click itself)
_CLICK = sys.modules[typer.BadParameter.__module__]


def _usage_error(exc: Any) -> str:
    """Click's own message about a mistyped command line, and where to read how it is written."""
    import re

    message = str(exc.format_message()).rstrip(".").replace(": Value error, ", ": ")
    message = re.sub(r"\. Did you mean (.*)\?$", r" (did you mean \1?)", message)
    command = exc.ctx.command_path if exc.ctx is not None else "topology"
    return f"{message}; see `{command} --help`."


def main() -> None:
    """Entry point of the `topology` console script: errors become one sentence and exit 1.

    Exit codes mean one thing each: 0 success, 1 any error (a mistyped command line included), 2 only
    `plan --detailed-exitcode` with changes, 3 only `status` with a limit breached, 130 interrupted."""
    import os
    import signal

    no_args = getattr(_CLICK, "NoArgsIsHelpError", ())
    signal.signal(signal.SIGTERM, _terminated)  # as Ctrl-C: what a CI runner or a service manager sends
    for stream in (sys.stdout, sys.stderr):  # a name the terminal's encoding lacks is written as its escape
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")
    try:
        code = app(prog_name="topology", standalone_mode=False)
    except no_args as exc:  # `topology` alone: the help (already shown when rich formats it), not a success
        if exc.format_message():
            typer.echo(exc.format_message(), err=True)
        sys.exit(1)
    except _CLICK.UsageError as exc:  # click exits 2 for these, which is "changes present" here
        typer.echo(f"Error: {_usage_error(exc)}", err=True)
        sys.exit(1)
    except _CLICK.ClickException as exc:
        typer.echo(f"Error: {exc.format_message()}", err=True)
        sys.exit(1)
    except typer.Abort:  # Ctrl-C or the end of input at a prompt
        typer.echo("\nInterrupted.", err=True)
        sys.exit(130)
    except TopologyError as exc:
        if _state["debug"]:
            raise
        typer.echo(f"Error: {exc}", err=True)
        sys.exit(1)
    except Exception as exc:  # a bug in topology: still one sentence, the traceback behind --debug
        if _state["debug"]:
            raise
        typer.echo(f"Error: topology failed unexpectedly ({type(exc).__name__}: {exc}); "
                   "re-run with --debug for the traceback and report it", err=True)
        sys.exit(1)
    if code == 130:
        if not _state.get("interrupted"):  # typer reads Ctrl-C as exit 130, silently
            typer.echo("\nInterrupted.", err=True)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)  # without joining reads still running (a slow broker's): nothing is left to wait for
    sys.exit(code if isinstance(code, int) else 0)


def _terminated(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt
