"""The `topology` command line: a thin typer layer over the library.

Kept cheap to import: `topology --help` must not load broker clients (boto3, confluent-kafka,
pika, redis, httpx); commands import what they need inside their own bodies.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from topology import __version__
from topology.errors import TopologyError

__all__ = ["app", "main"]

app = typer.Typer(
    name="topology",
    help="Topology-as-code for message brokers: validate, plan and apply RabbitMQ, Kafka, "
    "SQS/SNS and Redis Streams topologies kept in YAML.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_state = {"debug": False}


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
) -> None:
    """Topology-as-code for message brokers."""
    _state["debug"] = debug


def main() -> None:
    """Entry point of the `topology` console script: errors become one sentence and exit 1."""
    try:
        app()
    except TopologyError as exc:
        if _state["debug"]:
            raise
        typer.echo(f"Error: {exc}", err=True)
        sys.exit(1)
