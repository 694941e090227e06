"""Redis: streams and their consumer groups, in pipelines and Lua scripts (atomic re-checks), and ACL users."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from topology.brokers.base import Broker, NamingTemplate, Section
from topology.brokers.redis import check, expand, export, kinds, spec
from topology.core.secrets import parse_url

if TYPE_CHECKING:
    from topology.brokers.base import Driver

__all__ = ["BROKER"]


def _open(target: Any, name: str, parallelism: int) -> Driver:
    from topology.brokers.redis.driver import RedisDriver

    what = f"the url of target `{name}`" if name else "the url of the target"
    return RedisDriver(parse_url(target.url, what=what, schemes=("redis", "rediss", "unix")),
                       **target.timeouts())


BROKER = Broker(
    name="redis",
    target=spec.RedisTarget,
    address_field="url",
    open=_open,
    sections=(Section("redis", spec.Redis, "Redis streams, their consumer groups, and ACL users.",
                      expand.expand_redis),),
    naming=(NamingTemplate("redis_retry_stream", "{{ stream }}:retry:{{ delay }}"),
            NamingTemplate("redis_dead_letter_stream", "{{ stream }}:dlq")),
    kinds=kinds.KINDS,
    checks=check.CHECKS,
    check_all=check.check_all,
    export=export.export_redis,
    export_target=export.export_target,
    target_from_url=lambda url: spec.RedisTarget(kind="redis", url=url),
    url_schemes=("redis://", "rediss://", "unix://"),
)
