"""RabbitMQ's runtime parameters: global parameters (`cluster_name`), federation upstreams and upstream sets,
dynamic shovels. Written in RabbitMQ's own keys (`max-hops`, `src-queue`, `ack-mode`), as definitions files
and `rabbitmqctl set_parameter` write them.

Each is one object the management API writes whole (`PUT /api/global-parameters/NAME`,
`PUT /api/parameters/COMPONENT/VHOST/NAME`), so a resource's one attribute is its whole `value`, compared
whole: a key the file leaves out is a key the next write removes, and the plan says so.

The URIs of upstreams and shovels (`uri`, `src-uri`, `dest-uri`) carry credentials: they are secrets. The
file gives them through `${VARIABLE}`; a resource keeps them in `secrets` (compared by the driver with what
the broker holds, never shown) and, in its value, only what may be shown of them: `amqp://user:***@host/vhost`,
or `***` whole for a URI that cannot be taken apart for sure. So the plan shows a new host, and says a new
password only as `(sensitive)`; export writes `${VARIABLE}` for every URI with a password, with a note naming
the variable. Error messages of the broker quote a refused URI: they are never shown as they are.

Global parameters whose name starts with `internal` (internal_cluster_id) are RabbitMQ's own
(rabbit_definitions:is_internal_parameter/1 leaves them out of its definitions export): they are never read,
so never planned, pruned or exported, and a file may not declare one.

What a change drops (checked on RabbitMQ 3.10 and in the plugins' sources): a federation upstream's links
restart when it, or a set naming it, changes, and stop when it goes; a stopping exchange-federation link
deletes its internal queue on the upstream (unless `resource-cleanup-mode: never`) with the messages it had
not yet moved (rabbit_federation_exchange_link:terminate/2; rabbitmq-federation#105). A dynamic shovel that
stops requeues what it holds unacknowledged at its source, except with `ack-mode: no-ack`, or when it reads
from `src-exchange` through a queue of its own, which goes with it. Those hold an unknown number of messages
in transit; the others hold none.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol
from urllib.parse import quote, unquote

from pydantic import BeforeValidator, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr, WithJsonSchema

from topology.core.kinds import Attributes, Discards, KindRules
from topology.core.notes import Noted
from topology.core.problems import PathPart, did_you_mean
from topology.core.resource import Live, Resource
from topology.core.secrets import MASK, Secret, scrub
from topology.core.units import parse_duration
from topology.errors import BrokerError
from topology.format.common import Arguments, Protectable, Spec

if TYPE_CHECKING:
    import httpx

    from topology.brokers.rabbitmq.spec import RabbitMQ
    from topology.engine.plan import Change
    from topology.format.expand import Expansion

__all__ = ["KINDS", "FederationUpstream", "FederationUpstreamSet", "FederationUpstreamSetMember", "GlobalParameter",
           "Shovel", "apply_change", "expand_parameters", "export_parameters", "live_globals",
           "live_vhost", "secrets_match", "shown"]

# ------------------------------------------------------------------------------------ value types


def _number(value: Any) -> Any:
    """RabbitMQ's `number` (rabbit_parameter_validation:number/2): an integer or a float, never a boolean."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{value!r} is not a number")
    return value


def _milliseconds(value: Any) -> Any:
    """A number of milliseconds, as RabbitMQ takes it (any number), or a duration such as 1h."""
    return parse_duration(value) if isinstance(value, str) else _number(value)


Number = Annotated[StrictInt | StrictFloat, BeforeValidator(_number)]
Milliseconds = Annotated[StrictInt | StrictFloat, BeforeValidator(_milliseconds), WithJsonSchema({
    "anyOf": [{"type": "number"}, {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*(ms|s|m|h|d|w)?\s*$"}],
    "description": "Milliseconds: a number, or a duration such as 30s, 5m, 1h."})]
Uris = Secret | list[Secret]
AckMode = Literal["on-confirm", "on-publish", "no-ack"]
_URI = "Read it from the environment (\"${VAR}\"): it carries credentials, and is never printed."


class _RabbitKeys(Spec):
    """RabbitMQ's own keys. A key the format does not know (a newer plugin's) is passed on as written, with
    a warning; RabbitMQ refuses keys it does not know."""

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)


class _UpstreamKeys(_RabbitKeys):
    """What an upstream and an upstream set's member may say (rabbit_federation_parameters:shared_validation/0)."""

    exchange: StrictStr | None = Field(None, description="The upstream exchange (default: the federated one's name).")
    queue: StrictStr | None = Field(None, description="The upstream queue (default: the federated one's name).")
    consumer_tag: StrictStr | None = Field(None, alias="consumer-tag", description="Consumer tag (queue federation).")
    prefetch_count: Number | None = Field(None, alias="prefetch-count", description="Unacknowledged deliveries "
                                          "per link (default 1000).")
    reconnect_delay: Number | None = Field(None, alias="reconnect-delay", description="Seconds before reconnecting "
                                           "(default 1).")
    max_hops: Number | None = Field(None, alias="max-hops", description="Links a message may cross (default 1).")
    expires: Milliseconds | None = Field(None, description="The upstream queue's expiry (exchange federation).")
    message_ttl: Milliseconds | None = Field(None, alias="message-ttl", description="The upstream queue's message "
                                             "TTL (exchange federation).")
    trust_user_id: StrictBool | None = Field(None, alias="trust-user-id", description="Pass validated user-ids on.")
    ack_mode: AckMode | None = Field(None, alias="ack-mode", description="on-confirm (default), on-publish, no-ack.")
    resource_cleanup_mode: Literal["default", "never"] | None = Field(
        None, alias="resource-cleanup-mode", description="`never` keeps the upstream's internal queue when a link "
        "stops.")
    ha_policy: StrictStr | None = Field(None, alias="ha-policy", description="The upstream queue's ha-policy.")
    bind_nowait: StrictBool | None = Field(None, alias="bind-nowait", description="Bind without waiting.")
    channel_use_mode: Literal["multiple", "single"] | None = Field(
        None, alias="channel-use-mode", description="One channel per link, or several.")
    queue_type: Literal["classic", "quorum"] | None = Field(
        None, alias="queue-type", description="The upstream's internal queue type (RabbitMQ 3.13.1 and later).")


class FederationUpstream(_UpstreamKeys):
    """A `federation-upstream` parameter."""

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)
    uri: Uris = Field(description=f"The upstream's AMQP URI, or a list of them. {_URI}",
                      json_schema_extra={"writeOnly": True})
    protect: bool = Field(False, description="Never delete this upstream, whatever the flags.")


class FederationUpstreamSetMember(_UpstreamKeys):
    upstream: StrictStr = Field(description="The name of an upstream; the other keys override its settings.")


class FederationUpstreamSet(Protectable):
    """A `federation-upstream-set` parameter: its value is the list of its upstreams."""

    upstreams: list[FederationUpstreamSetMember] = Field(description="The upstreams of the set, in order.")


class Shovel(_RabbitKeys):
    """A dynamic shovel (`shovel` parameter), in the keys of RabbitMQ's shovel plugin."""

    src_uri: Uris = Field(alias="src-uri", description=f"Source URI, or a list of them. {_URI}",
                          json_schema_extra={"writeOnly": True})
    src_protocol: Literal["amqp091", "amqp10", "local"] | None = Field(None, alias="src-protocol")
    src_queue: StrictStr | None = Field(None, alias="src-queue", description="Consume from this queue...")
    src_exchange: StrictStr | None = Field(None, alias="src-exchange", description="...or from this exchange.")
    src_exchange_key: StrictStr | None = Field(None, alias="src-exchange-key")
    src_address: StrictStr | None = Field(None, alias="src-address", description="AMQP 1.0 source address.")
    src_queue_args: Arguments | None = Field(None, alias="src-queue-args")
    src_consumer_args: Arguments | None = Field(None, alias="src-consumer-args")
    src_prefetch_count: Number | None = Field(None, alias="src-prefetch-count")
    prefetch_count: Number | None = Field(None, alias="prefetch-count", description="Before 3.7: src-prefetch-count.")
    src_delete_after: Literal["never", "queue-length"] | StrictInt | None = Field(None, alias="src-delete-after")
    delete_after: Literal["never", "queue-length"] | StrictInt | None = Field(
        None, alias="delete-after", description="Before 3.7: src-delete-after.")
    src_predeclared: StrictBool | None = Field(None, alias="src-predeclared")
    dest_uri: Uris = Field(alias="dest-uri", description=f"Destination URI, or a list of them. {_URI}",
                           json_schema_extra={"writeOnly": True})
    dest_protocol: Literal["amqp091", "amqp10", "local"] | None = Field(None, alias="dest-protocol")
    dest_queue: StrictStr | None = Field(None, alias="dest-queue", description="Publish to this queue...")
    dest_exchange: StrictStr | None = Field(None, alias="dest-exchange", description="...or to this exchange.")
    dest_exchange_key: StrictStr | None = Field(None, alias="dest-exchange-key")
    dest_address: StrictStr | None = Field(None, alias="dest-address", description="AMQP 1.0 target address.")
    dest_queue_args: Arguments | None = Field(None, alias="dest-queue-args")
    dest_add_forward_headers: StrictBool | None = Field(None, alias="dest-add-forward-headers")
    add_forward_headers: StrictBool | None = Field(None, alias="add-forward-headers")
    dest_add_timestamp_header: StrictBool | None = Field(None, alias="dest-add-timestamp-header")
    add_timestamp_header: StrictBool | None = Field(None, alias="add-timestamp-header")
    dest_publish_properties: Arguments | None = Field(None, alias="dest-publish-properties")
    publish_properties: Arguments | None = Field(None, alias="publish-properties")
    dest_properties: Arguments | None = Field(None, alias="dest-properties")
    dest_application_properties: Arguments | None = Field(None, alias="dest-application-properties")
    dest_message_annotations: Arguments | None = Field(None, alias="dest-message-annotations")
    dest_predeclared: StrictBool | None = Field(None, alias="dest-predeclared")
    ack_mode: AckMode | None = Field(None, alias="ack-mode", description="on-confirm (default), on-publish, no-ack.")
    reconnect_delay: Number | None = Field(None, alias="reconnect-delay", description="Seconds before reconnecting.")
    protect: bool = Field(False, description="Never delete this shovel, whatever the flags.")


class GlobalParameter(Protectable):
    value: Any = Field(description="Any JSON value; `cluster_name` takes the cluster's name.")


# ------------------------------------------------------------------------------------ the kinds

_FEDERATION, _SET, _SHOVEL, _GLOBAL = ("rabbitmq.federation_upstream", "rabbitmq.federation_upstream_set",
                                       "rabbitmq.shovel", "rabbitmq.global_parameter")
_COMPONENT = {_FEDERATION: "federation-upstream", _SET: "federation-upstream-set", _SHOVEL: "shovel"}
_BY_COMPONENT = {component: kind for kind, component in _COMPONENT.items()}
_FIELD = {_FEDERATION: "federation_upstreams", _SET: "federation_upstream_sets", _SHOVEL: "shovels"}
_SECRET_KEYS: dict[str, tuple[str, ...]] = {_FEDERATION: ("uri",), _SET: (), _SHOVEL: ("src-uri", "dest-uri")}
_MODEL = {_FEDERATION: FederationUpstream, _SET: FederationUpstreamSetMember, _SHOVEL: Shovel}
_WHAT = {_FEDERATION: "federation upstream", _SET: "federation upstream set member", _SHOVEL: "shovel"}


def _restarts(why: str) -> Discards:
    """An update restarts what the parameter runs; what that drops is the live object's `messages`."""

    def discards(before: Attributes | None, after: Attributes | None) -> list[str]:
        return [why] if before is not None and after is not None else []

    return discards


_LINKS_RESTART = _restarts("its links restart, and exchange federation deletes the internal queue it keeps on "
                           "the upstream with them")
KINDS: dict[str, KindRules] = {
    _GLOBAL: KindRules(),
    _FEDERATION: KindRules(holds_data=True, discards=_LINKS_RESTART, in_container=True),
    _SET: KindRules(holds_data=True, discards=_LINKS_RESTART, in_container=True),
    _SHOVEL: KindRules(holds_data=True, in_container=True, discards=_restarts(
        "the shovel restarts, and drops what it has taken but not passed on")),
}


def is_internal(name: str) -> bool:
    """RabbitMQ's own global parameters (rabbit_definitions:is_internal_parameter/1)."""
    return name.startswith("internal")


def _address(kind: str, vhost: str, name: str) -> str:
    return f"rabbitmq/global-parameter/{name}" if kind == _GLOBAL else f"rabbitmq/{vhost}/{_COMPONENT[kind]}/{name}"


# ------------------------------------------------------------------------------------ the URIs

_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~%!$&'()*+,;=-]*)(:[0-9]*)?$")
_USER = re.compile(r"^[A-Za-z0-9._~%!$&'()*+,;=-]*$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*$")
_SECRET_OPTION = re.compile(r"pass|secret|token|key", re.IGNORECASE)


def shown(uri: Any) -> str:
    """What may be shown of a URI: its password as ***, options that may be secret as ***; *** whole when it
    cannot be taken apart for sure (an unescaped `/`, `?`, `#` or `@` in a password would show part of it)."""
    if not isinstance(uri, str) or any(ord(c) < 33 or ord(c) == 127 or c in "#\\\"" for c in uri):
        return MASK
    scheme, separator, rest = uri.partition("://")
    if not separator or not _SCHEME.match(scheme):
        return MASK
    split = re.match(r"([^/?]*)(.*)", rest, re.DOTALL)
    assert split is not None
    authority, tail = split.groups()
    userinfo, at, host = authority.rpartition("@")
    if "@" in tail or not _HOST.match(host):
        return MASK
    user, colon, _ = userinfo.partition(":")
    if at and not _USER.match(user):
        return MASK
    path, question, query = tail.partition("?")
    options = "&".join(f"{key}={MASK}" if _SECRET_OPTION.search(key) and equals else f"{key}{equals}{value}"
                       for key, equals, value in (option.partition("=") for option in query.split("&")))
    credentials = f"{user}{':' + MASK if colon else ''}@" if at else ""
    return f"{scheme}://{credentials}{host}{path}{question}{options if question else ''}"


def _shown_field(value: Any) -> Any:
    return [shown(item) for item in value] if isinstance(value, list) else shown(value)


def _secret_entries(key: str, value: Secret | list[Secret]) -> tuple[Any, dict[str, Secret]]:
    """What may be shown of a URI key, and its secrets: `uri` for one URI; `uri[0]`, `uri[1]`... for a list."""
    if isinstance(value, list):
        return [shown(item.reveal()) for item in value], {f"{key}[{index}]": item for index, item in enumerate(value)}
    return shown(value.reveal()), {key: value}


def _revealed(kind: str, value: Mapping[str, Any], secrets: Mapping[str, Secret]) -> dict[str, Any]:
    """The URIs by key, as the broker takes them (a list for a key the value holds as a list)."""
    found: dict[str, Any] = {}
    for key in _SECRET_KEYS.get(kind, ()):
        if isinstance(value.get(key), list):
            found[key] = [secrets[f"{key}[{index}]"].reveal() for index in range(len(value[key]))
                          if f"{key}[{index}]" in secrets]
        elif key in secrets:
            found[key] = secrets[key].reveal()
    return found


def secrets_match(desired: Resource, stored: Mapping[str, Any] | None) -> bool:
    """Whether the broker holds the URIs the file gives (`stored`: what inspect read, never shown)."""
    if not desired.secrets:
        return True
    wanted = _revealed(desired.kind, desired.attributes.get("value") or {}, desired.secrets)
    return stored is not None and all(stored.get(key) == value for key, value in wanted.items())


# ------------------------------------------------------------------------------------ expansion


def _value(context: Expansion, kind: str, model: _RabbitKeys, path: tuple[PathPart, ...],
           secrets: dict[str, Secret]) -> dict[str, Any]:
    """The parameter's value in RabbitMQ's keys, URIs in their shown form (their secrets into `secrets`)."""
    value: dict[str, Any] = {}
    for name, info in type(model).model_fields.items():
        key, field_value = info.alias or name, getattr(model, name)
        if name == "protect" or field_value is None:
            continue
        if key in _SECRET_KEYS.get(kind, ()):
            value[key], found = _secret_entries(key, field_value)
            secrets.update(found)
        else:
            value[key] = field_value
    known = [info.alias or name for name, info in type(model).model_fields.items() if name != "protect"]
    for key, extra in (model.model_extra or {}).items():
        context.problem(f"`{key}` is not a key RabbitMQ documents for a {_WHAT[kind]}; it is sent as written",
                        (*path, key), did_you_mean(key, known) or "RabbitMQ refuses a key it does not know",
                        severity="warning")
        value[key] = extra
    return value


def expand_parameters(context: Expansion, section: RabbitMQ) -> None:
    """Global parameters, and each vhost's federation upstreams, upstream sets and shovels."""
    for name, parameter in section.global_parameters.items():
        path: tuple[PathPart, ...] = ("rabbitmq", "global_parameters", name)
        if is_internal(name):
            context.problem(f"global parameters named `internal...` are RabbitMQ's own (`{name}`); topology never "
                            "changes them", path, "remove it")
            continue
        # RabbitMQ keeps a global parameter's object as a property list (rabbitmq-management#528), so an empty
        # object reads back as an empty list: declared as the broker will hold it, the plan converges.
        value = [] if parameter.value == {} else parameter.value
        context.add(_GLOBAL, _address(_GLOBAL, "", name), section.target, {"value": value}, path, name=name,
                    protect=parameter.protect)
    for vhost_name, vhost in section.vhosts.items():
        vpath: tuple[PathPart, ...] = ("rabbitmq", "vhosts", vhost_name)
        for name, upstream in vhost.federation_upstreams.items():
            _add(context, section, _FEDERATION, vhost_name, name, upstream, (*vpath, "federation_upstreams", name))
        for name, upstream_set in vhost.federation_upstream_sets.items():
            spath = (*vpath, "federation_upstream_sets", name)
            members = [_value(context, _SET, member, (*spath, "upstreams", index), {})
                       for index, member in enumerate(upstream_set.upstreams)]
            _warn_unknown_upstreams(context, vhost_name, upstream_set, spath, set(vhost.federation_upstreams))
            depends = tuple(dict.fromkeys(_address(_FEDERATION, vhost_name, member.upstream)
                                          for member in upstream_set.upstreams
                                          if member.upstream in vhost.federation_upstreams))
            context.add(_SET, _address(_SET, vhost_name, name), section.target, {"value": members}, spath,
                        name=name, scope=vhost_name, depends_on=(f"rabbitmq/vhost/{vhost_name}", *depends),
                        protect=upstream_set.protect)
        for name, shovel in vhost.shovels.items():
            _add(context, section, _SHOVEL, vhost_name, name, shovel, (*vpath, "shovels", name))


def _add(context: Expansion, section: RabbitMQ, kind: str, vhost: str, name: str, model: FederationUpstream | Shovel,
         path: tuple[PathPart, ...]) -> None:
    secrets: dict[str, Secret] = {}
    value = _value(context, kind, model, path, secrets)
    depends = [f"rabbitmq/vhost/{vhost}"]
    if kind == _SHOVEL:  # a shovel declares a missing queue itself, with its own arguments: the file's first
        declared = section.vhosts[vhost]
        depends += [f"rabbitmq/{vhost}/queue/{value[key]}" for key in ("src-queue", "dest-queue")
                    if value.get(key) in declared.queues]
        depends += [f"rabbitmq/{vhost}/exchange/{value[key]}" for key in ("src-exchange", "dest-exchange")
                    if value.get(key) in declared.exchanges]
    context.add(kind, _address(kind, vhost, name), section.target, {"value": value}, path, name=name, scope=vhost,
                depends_on=tuple(dict.fromkeys(depends)), protect=model.protect, secrets=secrets)


def _warn_unknown_upstreams(context: Expansion, vhost: str, upstream_set: FederationUpstreamSet,
                            path: tuple[PathPart, ...], declared: set[str]) -> None:
    """RabbitMQ takes a set naming an upstream that does not exist (its links wait for it): a warning."""
    for index, member in enumerate(upstream_set.upstreams):
        if member.upstream not in declared:
            context.problem(f"upstream `{member.upstream}` is not declared in vhost `{vhost}`; the set's links to it "
                            "wait until it exists", (*path, "upstreams", index, "upstream"),
                            did_you_mean(member.upstream, declared), severity="warning")


# ------------------------------------------------------------------------------------ live state

Fetch = Callable[[str], Any]  # GET path -> its JSON, None when what it names is gone (or the API is missing)


def _q(name: str) -> str:
    return quote(name, safe="")


def _exchange_links(fetch: Fetch, vhost: str) -> set[str] | None:
    """The upstreams exchange federation links of `vhost` use; None when the federation management plugin,
    which lists them, is not there, or cannot say now (then any upstream may be in use). The plugin answers
    HTTP 500 while asked about a link whose process is restarting (one that cannot reach its upstream
    restarts every few seconds)."""
    try:
        links = fetch(f"/api/federation-links/{_q(vhost)}")
    except BrokerError as exc:
        if _status(exc) != 500:
            raise
        return None
    if not isinstance(links, list):
        return None
    return {str(link.get("upstream")) for link in links if link.get("type") == "exchange"}


def _status(exc: BrokerError) -> int | None:
    """The HTTP status behind a management API error, if it was one."""
    response = getattr(exc.__cause__, "response", None)
    return getattr(response, "status_code", None)


def in_transit(kind: str, value: Any, upstreams: Mapping[str, Any], links: set[str] | None) -> int | None:
    """What stopping or restarting the parameter drops: 0, or None (an unknown number of messages)."""
    if kind == _SHOVEL:
        value = value if isinstance(value, Mapping) else {}
        from_queue = any(key in value for key in ("src-queue", "src-address"))
        return 0 if from_queue and value.get("ack-mode") != "no-ack" else None
    if kind == _FEDERATION:
        members = [(value.get("name"), value)] if isinstance(value, Mapping) else []
    else:
        members = [(member.get("upstream"), {**(upstreams.get(str(member.get("upstream"))) or {}), **member})
                   for member in value or [] if isinstance(member, Mapping)]
    for name, settings in members:
        if settings.get("resource-cleanup-mode") != "never" and (links is None or name in links):
            return None
    return 0


def live_vhost(vhost: str, listing: Sequence[Mapping[str, Any]], fetch: Fetch,
               stored: dict[str, dict[str, Any]]) -> dict[str, Live]:
    """The vhost's upstreams, upstream sets and shovels from its definitions' `parameters`; their URIs go into
    `stored` (by address, for `secrets_match`), only their shown form into the live value."""
    mine = [p for p in listing if p.get("component") in _BY_COMPONENT]
    upstreams = {p["name"]: p["value"] for p in mine if p["component"] == "federation-upstream"}
    links = _exchange_links(fetch, vhost) if any(p["component"] != "shovel" for p in mine) else set()
    live: dict[str, Live] = {}
    for parameter in mine:
        kind, name, value = _BY_COMPONENT[parameter["component"]], parameter["name"], parameter["value"]
        address = _address(kind, vhost, name)
        depends: tuple[str, ...] = (f"rabbitmq/vhost/{vhost}",)
        if isinstance(value, dict):
            stored[address] = {key: value[key] for key in _SECRET_KEYS[kind] if key in value}
            value = {key: _shown_field(item) if key in _SECRET_KEYS[kind] else item for key, item in value.items()}
        elif kind == _SET and isinstance(value, list):
            depends += tuple(dict.fromkeys(_address(_FEDERATION, vhost, m["upstream"]) for m in value
                                           if isinstance(m, dict) and m.get("upstream") in upstreams))
        settings = {**value, "name": name} if kind == _FEDERATION and isinstance(value, dict) else value
        live[address] = Live(kind, {"value": value}, depends, in_transit(kind, settings, upstreams, links),
                             name=name, scope=vhost)
    return live


def live_globals(listing: Sequence[Mapping[str, Any]]) -> dict[str, Live]:
    """The global parameters a user may manage (not RabbitMQ's internal ones)."""
    return {_address(_GLOBAL, "", p["name"]): Live(_GLOBAL, {"value": p.get("value")}, name=p["name"])
            for p in listing if not is_internal(p["name"])}


# ------------------------------------------------------------------------------------ apply


class Request(Protocol):
    def __call__(self, method: str, path: str, *, expect: Any = ..., **kwargs: Any) -> httpx.Response: ...


def _path(kind: str, vhost: str, name: str) -> str:
    if kind == _GLOBAL:
        return f"/api/global-parameters/{_q(name)}"
    return f"/api/parameters/{_COMPONENT[kind]}/{_q(vhost)}/{_q(name)}"


def _still_in_transit(change: Change, fetch: Fetch) -> str | None:
    """For a change planned as dropping nothing: what it would drop now, or None. A shovel's depends on its
    value alone, which a saved plan's live digest keeps; a federation link's, on the links running now."""
    if change.kind not in (_FEDERATION, _SET) or change.before is None:
        return None
    listing = fetch(f"/api/parameters/federation-upstream/{_q(change.scope)}") or []
    upstreams = {p["name"]: p["value"] for p in listing if isinstance(p, dict)}
    value = change.before.get("value")
    settings = {**value, "name": change.name} if change.kind == _FEDERATION and isinstance(value, dict) else value
    if in_transit(change.kind, settings, upstreams, _exchange_links(fetch, change.scope)) == 0:
        return None
    return "messages in the internal queues its exchange federation links keep on the upstream (how many is unknown)"


def apply_change(change: Change, desired: Resource | None, request: Request, fetch: Fetch, where: str) -> str | None:
    """Carry out one change of a runtime parameter. Returns what it would drop when it was planned as dropping
    nothing and now would (then nothing is changed); raises BrokerError when the broker refuses it."""
    if change.needs_empty and (held := _still_in_transit(change, fetch)) is not None:
        return held
    path = _path(change.kind, change.scope, change.name)
    if change.action == "delete":
        _send(request, "DELETE", path, None, [], where)
        return None
    value = (change.after or {}).get("value")
    secrets = desired.secrets if desired is not None else {}
    if change.kind in _SECRET_KEYS and isinstance(value, dict):
        uris = _revealed(change.kind, value, secrets)
        missing = [key for key in _SECRET_KEYS[change.kind] if key in value and key not in uris]
        if missing:
            raise BrokerError(f"{change.address}: the file gives no {' or '.join(missing)}; nothing was changed")
        value = {**value, **uris}
    _send(request, "PUT", path, {"value": value}, [s.reveal() for s in secrets.values()], where)
    return None


def _send(request: Request, method: str, path: str, body: Any, secrets: list[str], where: str) -> None:
    """One write; a refusal is said in a sentence that never quotes a URI."""
    response = request(method, path, expect=range(400, 600), json=body)
    code = response.status_code
    if code < 400 or (method == "DELETE" and code == 404):
        return
    todo = ("grant the user the administrator or policymaker tag" if code in (401, 403) else
            "check the broker's log, then apply again" if code >= 500 else "check the value in the topology file")
    raise BrokerError(f"RabbitMQ at {where} refused {method} {path} with HTTP {code} ({_reason(response, secrets)}); "
                      f"{todo}")


def _reason(response: httpx.Response, secrets: list[str]) -> str:
    """The broker's reason, without any URI or password of `secrets` in any form it may quote them in."""
    try:
        body = response.json()
        text = str(body.get("reason") or body.get("error") or body) if isinstance(body, dict) else str(body)
    except ValueError:
        text = response.text
    text = html.unescape(text)
    if "not a valid URI" in text or ("uri" in text.lower() and "@" in text):
        return "a URI is not one RabbitMQ can read; its message quotes the URI, so it is not shown"
    forms = {form for secret in secrets for form in _forms(secret)}
    return " ".join(scrub(text, forms).split())[:300]


def _forms(uri: str) -> set[str]:
    """A URI and its password, as written, decoded, and as Erlang prints them inside quotes."""
    userinfo = uri.partition("://")[2].rpartition("@")[0]
    password = userinfo.partition(":")[2]
    found = {uri, unquote(uri), password, unquote(password)} - {""}
    return found | {form.replace("\\", "\\\\").replace('"', '\\"') for form in found}


# ------------------------------------------------------------------------------------ export


class _Vhosts(Protocol):
    def __call__(self, name: str) -> dict[str, Any]: ...


def _variable(item: Live, address: str, key: str) -> str:
    """The environment variable export names for a URI: readable (component, name, key), and unique by a
    digest of the address (`a-b` and `a_b` would read the same)."""
    words = re.sub(r"[^A-Z0-9]+", "_", f"{_COMPONENT[item.kind]}_{item.name}_{key}".upper()).strip("_")
    return f"{words}_{hashlib.sha256(address.encode()).hexdigest()[:6].upper()}"


def _uri_entries(item: Live, address: str, key: str, value: Any) -> Any:
    """A URI key as export writes it: the URI itself when it holds nothing secret, else `${VARIABLE}` with a
    note naming the variable and what may be shown of the URI."""
    uris = value if isinstance(value, list) else [value]
    written: list[str] = []
    for index, uri in enumerate(uris):
        if isinstance(uri, str) and MASK not in uri:
            written.append(uri)
            continue
        variable = _variable(item, address, key) + (f"_{index + 1}" if isinstance(value, list) else "")
        written.append(Noted(f"${{{variable}}}", f"set {variable} to the {key} of {address}; the broker holds {uri} "
                             "(credentials are never exported)"))
    return written if isinstance(value, list) else written[0]


def _exported(item: Live, address: str) -> dict[str, Any]:
    value: Any = item.attributes.get("value")
    if item.kind == _SET:
        return {"upstreams": value}
    entry = {key: _uri_entries(item, address, key, value[key]) for key in _SECRET_KEYS[item.kind] if key in value}
    secret = _SECRET_KEYS[item.kind]
    entry.update({key: setting for key, setting in value.items() if key not in secret})
    return entry


def export_parameters(live: Mapping[str, Live], vhost: _Vhosts) -> dict[str, Any]:
    """Write the live upstreams, sets and shovels under their vhost in the `rabbitmq:` section being exported
    (`vhost(name)` gives its mapping); returns the section's own keys (`global_parameters`)."""
    top: dict[str, Any] = {}
    for address, item in sorted(live.items()):
        if item.kind == _GLOBAL:
            top.setdefault("global_parameters", {})[item.name] = {"value": item.attributes.get("value")}
        elif item.kind in _FIELD:
            vhost(item.scope).setdefault(_FIELD[item.kind], {})[item.name] = _exported(item, address)
    first = next((p for p in top.get("global_parameters", {}).values() if isinstance(p["value"], str)), None)
    if first is not None:
        first["value"] = Noted(first["value"], "RabbitMQ's internal global parameters (internal_cluster_id) are "
                               "the broker's own: never exported, never changed")
    return top
