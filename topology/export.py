"""`topology export`: a target's live state as a topology file (adoption) or a state file.

A topology file of the live objects, planned against the same broker, gives no changes; a state
file lets CI plan offline (`plan --offline --state FILE`). Secrets are never exported.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml

from topology.compile import compile_topology
from topology.drivers import open_driver
from topology.drivers.base import Driver, Scope
from topology.drivers.local import STATE_FORMAT, LocalDriver
from topology.errors import InputError
from topology.spec.document import (
    DEFAULT_STATE,
    AwsTarget,
    KafkaTarget,
    RabbitMQTarget,
    RedisTarget,
    Target,
    target_variable,
)

__all__ = ["export_text"]


def export_text(target: str, files: list[str], *, state: str | None, format: str, kind: str | None) -> str:
    """The text to write for `topology export --target TARGET [FILES] --format FORMAT`."""
    if format not in ("yaml", "state"):
        raise InputError(f"--format {format}: choose yaml or state")
    name, driver, kind = _export_target(target, files or [], state, kind)
    with driver:
        live = driver.inspect(Scope(frozenset(), prune=True, include=("*",)))
    if format == "state":
        resources = {address: {"kind": item.kind, "name": item.name, "scope": item.scope,
                               "attributes": item.attributes, "depends_on": list(item.depends_on),
                               **({"messages": item.messages} if item.messages is not None else {})}
                     for address, item in sorted(live.items())}
        return json.dumps({"format_version": STATE_FORMAT, "resources": resources}, indent=1, sort_keys=True) + "\n"
    from topology import adopt

    reference = f"${{{target_variable(name)}}}"
    sections: dict[str, Any]
    if kind == "rabbitmq":
        declared: dict[str, Any] = {"kind": kind, "url": reference}
        sections = {"rabbitmq": adopt.rabbitmq_document(live, name)}
    elif kind == "kafka":
        declared = {"kind": kind, "bootstrap_servers": reference}
        sections = {"kafka": adopt.kafka_document(live, name)}
    elif kind == "redis":
        declared = {"kind": kind, "url": reference}
        sections = {"redis": adopt.redis_document(live, name)}
    elif kind == "aws":
        declared = {"kind": kind, "region": getattr(driver, "region", "us-east-1"),
                    "endpoint_url": reference.replace("}", ":-}")}
        sqs, sns = adopt.aws_documents(live, name)
        sections = {"sqs": sqs, "sns": sns}
    else:
        raise InputError(f"--format yaml is not available for a {kind} target; use --format state")
    document = {"version": 1, "targets": {name: declared}, **sections}
    return (f"# Exported from target `{name}` by `topology export`; secrets are not exported.\n"
            + yaml.safe_dump(document, sort_keys=False, allow_unicode=True))


def _export_target(target: str, files: list[str], state: str | None, kind: str | None) -> tuple[str, Driver, str]:
    """The driver to read: `local`, NAME=URL, a target the files declare, or TOPOLOGY_TARGET_<NAME>."""
    name, _, url = target.partition("=")
    if name == "local":
        return name, LocalDriver(Path(state or DEFAULT_STATE)), "local"
    declared: Target | None = None
    if not url and files:
        topology = compile_topology(files)
        topology.raise_for_errors()
        declared = topology.targets.get(name)
    if declared is None:
        url = url or os.environ.get(target_variable(name), "")
        if not url:
            raise InputError(f"target `{name}` has no URL: pass --target {name}=URL, set "
                             f"{target_variable(name)}, or name a file that declares it")
        declared = _target_from_url(name, url, kind)
    return name, open_driver(declared, name=name), declared.kind


def _target_from_url(name: str, url: str, kind: str | None) -> Target:
    if kind is None and url.startswith(("http://", "https://")):
        kind = "rabbitmq"
    elif kind is None and url.startswith(("redis://", "rediss://", "unix://")):
        kind = "redis"
    if kind == "rabbitmq":
        return RabbitMQTarget(kind="rabbitmq", url=url)
    if kind == "kafka":
        return KafkaTarget(kind="kafka", bootstrap_servers=url)
    if kind == "redis":
        return RedisTarget(kind="redis", url=url)
    if kind == "aws":
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        return AwsTarget(kind="aws", region=region, endpoint_url=url if url != "aws" else None)
    raise InputError(f"target `{name}`: say what it is with --kind rabbitmq, kafka, aws or redis")
