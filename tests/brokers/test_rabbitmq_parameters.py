"""RabbitMQ's runtime parameters on the real broker: global parameters, federation upstreams and upstream
sets, dynamic shovels. Made through the management API (RabbitMQ's own client, never topology), then
export -> validate -> plan empty -> apply to a fresh vhost gives the same back. Their URIs carry credentials:
no output, plan or export holds them, and a changed one is planned as an update without printing it."""

from __future__ import annotations

import fcntl
import json
import re
import string
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.cli import topology, with_file
from tests.conftest import RABBITMQ_URL, RabbitVhost, unique
from topology.brokers.rabbitmq.parameters import shown

pytestmark = pytest.mark.rabbitmq

_USER = urlsplit(RABBITMQ_URL).username or "guest"
_LIVE = {"TOPOLOGY_TARGET_LIVE": RABBITMQ_URL}
_FIELD = {"federation-upstream": "federation_upstreams", "federation-upstream-set": "federation_upstream_sets",
          "shovel": "shovels"}
_URI_KEYS = {"federation_upstreams": ("uri",), "shovels": ("src-uri", "dest-uri")}


def _q(name: str) -> str:
    return quote(name, safe="")


def _put(api: Any, path: str, value: Any) -> None:
    response = api.put(f"/api/{path}", json={"value": value})
    assert response.status_code in (201, 204), response.text


def _vhost(api: Any) -> str:
    name = unique("params")
    api.put(f"/api/vhosts/{_q(name)}").raise_for_status()
    api.put(f"/api/permissions/{_q(name)}/{_q(_USER)}",
            json={"configure": ".*", "write": ".*", "read": ".*"}).raise_for_status()
    return name


def _parameters(api: Any, vhost: str) -> dict[tuple[str, str], Any]:
    """The vhost's upstreams, sets and shovels, as RabbitMQ holds them (URIs and all)."""
    listing = api.get(f"/api/definitions/{_q(vhost)}").json()["parameters"]
    return {(p["component"], p["name"]): p["value"] for p in listing if p["component"] in _FIELD}


def _export(folder: Path, *include: str) -> str:
    out = folder / "exported.topology.yaml"
    scope = [arg for glob in include for arg in ("--include", glob)]
    result = topology("export", "--target", f"live={RABBITMQ_URL}", *scope, "--to", str(out), cwd=folder)
    assert result.returncode == 0, result.stderr
    return out.read_text()


def _environment(text: str, vhost: str, uris: dict[tuple[str, str, str], Any]) -> dict[str, str]:
    """What the exported file reads: each `${VAR}` it writes for a URI, set to the URI the broker holds; a URI
    written as itself must hold no password."""
    environment = dict(_LIVE)
    declared = yaml.safe_load(text)["rabbitmq"]["vhosts"][vhost]
    for field, keys in _URI_KEYS.items():
        for name, entry in (declared.get(field) or {}).items():
            for key in keys:
                written, real = entry[key], uris[(field, name, key)]
                pairs = zip(written, real, strict=True) if isinstance(real, list) else [(written, real)]
                for as_written, uri in pairs:
                    variable = re.fullmatch(r"\$\{(\w+)\}", as_written)
                    if variable:
                        environment[variable.group(1)] = uri
                    else:
                        assert as_written == uri and shown(uri) == uri, f"{uri!r} exported as {as_written!r}"
    return environment


def _hidden(secrets: list[str], *texts: str) -> None:
    for secret in secrets:
        for form in {secret, _q(secret)}:
            for text in texts:
                assert form not in text, f"a secret ({len(secret)} characters) was printed"


_WAIT = ("--lock-timeout", "120s")  # another apply on the shared broker holds its lock for a moment


def _run(folder: Path, *args: str, env: dict[str, str]) -> Any:
    return topology(*args, *(_WAIT if args[0] == "apply" else ()), cwd=folder, env=env)


def _uri(password: str | None, vhost: str = "v") -> str:
    """An AMQP URI nobody listens on (port 1): a shovel using it retries, moving nothing."""
    credentials = f"fed-user:{_q(password)}@" if password is not None else ""
    return f"amqp://{credentials}127.0.0.1:1/{_q(vhost)}"


# ------------------------------------------------------------------------------------ the property

_TEXT = st.text(st.characters(exclude_categories=("Cs", "Cc")), max_size=10)
_NAME = st.text(alphabet="abcxyz-_ .:éü日本", min_size=1, max_size=8).map(lambda s: "n" + s.strip())
_NUMBER = st.one_of(st.sampled_from([-1, 0, 1, 2**31 - 1, 2**53]), st.integers(-10**6, 10**12),
                    st.floats(-1e6, 1e15, allow_nan=False))
_JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**53, 2**53) | st.floats(allow_nan=False,
                     allow_infinity=False) | _TEXT,
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
                     max_leaves=6)
_PASSWORD = st.text(alphabet=string.ascii_letters + string.digits + "!$&'()*+,;=-._~:@/?#[]% é", min_size=10,
                    max_size=16).map(lambda s: "Pw" + s)
_ACK = st.sampled_from(["on-confirm", "on-publish", "no-ack"])


@st.composite
def _uris(draw: st.DrawFn, passwords: list[str]) -> Any:
    def one() -> str:
        if draw(st.booleans()):
            password = draw(_PASSWORD)
            passwords.append(password)
            return _uri(password, draw(_TEXT))
        return draw(st.sampled_from(["amqp://", "amqp://127.0.0.1:1", "amqps://127.0.0.1:1/x?heartbeat=5"]))

    return [one() for _ in range(draw(st.integers(0, 3)))] if draw(st.booleans()) else one()


_UPSTREAM_KEYS = {"exchange": _TEXT, "queue": _TEXT, "consumer-tag": _TEXT, "prefetch-count": _NUMBER,
                  "reconnect-delay": _NUMBER, "max-hops": _NUMBER, "expires": _NUMBER, "message-ttl": _NUMBER,
                  "trust-user-id": st.booleans(), "bind-nowait": st.booleans(), "ack-mode": _ACK,
                  "resource-cleanup-mode": st.sampled_from(["default", "never"]),
                  "channel-use-mode": st.sampled_from(["multiple", "single"]), "ha-policy": _TEXT}


@st.composite
def _shovel(draw: st.DrawFn, passwords: list[str]) -> dict[str, Any]:
    value: dict[str, Any] = {"src-uri": draw(_uris(passwords)), "dest-uri": draw(_uris(passwords))}
    value.update(draw(st.one_of(st.fixed_dictionaries({"src-queue": _TEXT}), st.fixed_dictionaries(
        {"src-exchange": _TEXT}, optional={"src-exchange-key": _TEXT}))))
    value.update(draw(st.one_of(st.just({}), st.fixed_dictionaries({"dest-queue": _TEXT}), st.fixed_dictionaries(
        {"dest-exchange": _TEXT}, optional={"dest-exchange-key": _TEXT}))))
    value.update(draw(st.fixed_dictionaries({}, optional={
        "ack-mode": _ACK, "src-prefetch-count": _NUMBER, "prefetch-count": _NUMBER,
        "reconnect-delay": st.sampled_from([1, 5, 60]),  # a shovel that cannot connect retries this often
        "src-delete-after": st.one_of(st.sampled_from(["never", "queue-length"]), st.integers(0, 10**6)),
        "add-forward-headers": st.booleans(), "dest-add-forward-headers": st.booleans(),
        "dest-add-timestamp-header": st.booleans(), "src-protocol": st.just("amqp091"),
        "dest-publish-properties": st.fixed_dictionaries({}, optional={"delivery_mode": st.sampled_from([1, 2]),
                                                                       "content_type": _TEXT})})))
    if value.get("ack-mode") == "no-ack" and isinstance(value.get("src-delete-after"), int):
        del value["src-delete-after"]  # RabbitMQ refuses a numerical delete-after without acknowledgements
    return value


@st.composite
def _case(draw: st.DrawFn) -> dict[str, Any]:
    passwords: list[str] = []
    upstreams = {name: {"uri": draw(_uris(passwords)), **draw(st.fixed_dictionaries({}, optional=_UPSTREAM_KEYS))}
                 for name in draw(st.sets(_NAME, min_size=1, max_size=3))}
    member = st.fixed_dictionaries({"upstream": st.sampled_from([*upstreams, "not-declared"])}, optional={
        "exchange": _TEXT, "max-hops": _NUMBER, "ack-mode": _ACK,
        "resource-cleanup-mode": st.sampled_from(["default", "never"])})
    sets = draw(st.dictionaries(_NAME, st.lists(member, max_size=3), max_size=2))
    shovels = {name: draw(_shovel(passwords)) for name in draw(st.sets(_NAME, max_size=2))}
    return {"federation-upstream": upstreams, "federation-upstream-set": sets, "shovel": shovels,
            "globals": draw(st.dictionaries(_NAME, _JSON, max_size=2)), "passwords": passwords}


# No shrinking: each example is four commands against the broker; a failure prints its whole case.
@settings(max_examples=5, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=_case())
def test_parameters_made_by_rabbitmq_round_trip(tmp_path_factory: pytest.TempPathFactory, rabbitmq_api: Any,
                                                case: dict[str, Any]) -> None:
    folder = tmp_path_factory.mktemp("parameters")
    source, globals_from, globals_to = _vhost(rabbitmq_api), unique("tg"), unique("tg")
    copy = unique("params")
    try:
        uris: dict[tuple[str, str, str], Any] = {}
        for component in _FIELD:
            for name, value in case[component].items():
                _put(rabbitmq_api, f"parameters/{component}/{_q(source)}/{_q(name)}", value)
                field = _FIELD[component]
                uris.update({(field, name, key): value[key] for key in _URI_KEYS.get(field, ())})
        for name, value in case["globals"].items():
            _put(rabbitmq_api, f"global-parameters/{_q(globals_from + name)}", value)

        text = _export(folder, f"rabbitmq/{source}/*", f"rabbitmq/vhost/{source}",
                       f"rabbitmq/global-parameter/{globals_from}*")
        environment = _environment(text, source, uris)
        exported = str(folder / "exported.topology.yaml")
        validated = _run(folder, "validate", exported, env=environment)
        assert validated.returncode == 0, validated.stdout + validated.stderr
        plan = _run(folder, "plan", exported, "--detailed-exitcode", env=environment)
        assert plan.returncode == 0, plan.stdout + plan.stderr

        (folder / "copy.topology.yaml").write_text(text.replace(source, copy).replace(globals_from, globals_to))
        applied = _run(folder, "apply", str(folder / "copy.topology.yaml"), "--auto-approve", env=environment)
        assert applied.returncode == 0, applied.stdout + applied.stderr
        assert _parameters(rabbitmq_api, copy) == _parameters(rabbitmq_api, source)
        for name in case["globals"]:  # as RabbitMQ holds them: an empty object reads back as []
            held = [rabbitmq_api.get(f"/api/global-parameters/{_q(prefix + name)}").json()["value"]
                    for prefix in (globals_from, globals_to)]
            assert held[0] == held[1]
        _hidden(case["passwords"], text, *(r.stdout + r.stderr for r in (validated, plan, applied)))
    finally:
        for vhost in (source, copy):
            rabbitmq_api.delete(f"/api/vhosts/{_q(vhost)}")
        for name in case["globals"]:
            for prefix in (globals_from, globals_to):
                rabbitmq_api.delete(f"/api/global-parameters/{_q(prefix + name)}")


# ------------------------------------------------------------------------------------ secrets


def test_a_changed_uri_is_an_update_that_never_prints_it(tmp_path: Path, rabbitmq_vhost: RabbitVhost) -> None:
    api, vhost = rabbitmq_vhost.client, rabbitmq_vhost.name
    old, new = "Old-s3cret/with@and%", "New-s3cret?#and:"
    _put(api, f"parameters/federation-upstream/{_q(vhost)}/up", {"uri": _uri(old, vhost), "max-hops": 2})
    _put(api, f"parameters/shovel/{_q(vhost)}/move", {"src-uri": _uri(old, vhost), "src-queue": "in",
                                                      "dest-uri": [_uri(old), "amqp://"], "dest-queue": "out"})
    text = _export(tmp_path, f"rabbitmq/{vhost}/*", f"rabbitmq/vhost/{vhost}")
    exported = str(tmp_path / "exported.topology.yaml")
    uris = {("federation_upstreams", "up", "uri"): _uri(new, vhost), ("shovels", "move", "src-uri"): _uri(old, vhost),
            ("shovels", "move", "dest-uri"): [_uri(old), "amqp://"]}
    environment = _environment(text, vhost, uris)
    written = yaml.safe_load(text)["rabbitmq"]["vhosts"][vhost]["shovels"]["move"]["dest-uri"]
    assert written[0].startswith("${SHOVEL_MOVE_DEST_URI_") and written[1] == "amqp://"  # only the secret one read

    plan = _run(tmp_path, "plan", exported, "--detailed-exitcode", "--out", str(tmp_path / "plan.json"),
                env=environment)
    assert plan.returncode == 2, plan.stdout + plan.stderr
    assert "~ rabbitmq/" + vhost + "/federation-upstream/up" in plan.stdout
    assert re.search(r"~ uri +[=:] \(sensitive\)", plan.stdout) and "/shovel/move" not in plan.stdout
    shown_plan = _run(tmp_path, "show", str(tmp_path / "plan.json"), "--format", "json", env=environment)
    _hidden([old, new], text, plan.stdout + plan.stderr, (tmp_path / "plan.json").read_text(), shown_plan.stdout)

    applied = _run(tmp_path, "apply", str(tmp_path / "plan.json"), "--auto-approve", env=environment)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    _hidden([old, new], applied.stdout + applied.stderr)
    assert _parameters(api, vhost)[("federation-upstream", "up")] == {"uri": _uri(new, vhost), "max-hops": 2}
    again = _run(tmp_path, "plan", exported, "--detailed-exitcode", env=environment)
    assert again.returncode == 0, again.stdout + again.stderr


def test_a_uri_rabbitmq_refuses_is_said_without_quoting_it(tmp_path: Path, rabbitmq_vhost: RabbitVhost) -> None:
    vhost = rabbitmq_vhost.name
    password = "Refused-pa55word"
    text = f"""version: 1
targets:
  live: {{kind: rabbitmq, url: "{RABBITMQ_URL}"}}
rabbitmq:
  target: live
  vhosts:
    {vhost}:
      federation_upstreams:
        up: {{uri: "${{UP_URI}}", max-hops: 1}}
"""
    # RabbitMQ's message for this URI quotes it whole ("amqp://u:...@ho st:xx" not a valid URI: ...)
    result = with_file(tmp_path, text, "apply", "--auto-approve", *_WAIT,
                       env={"UP_URI": f"amqp://u:{password}@ho st:xx"})
    assert result.returncode == 1
    assert "refused PUT /api/parameters/federation-upstream/" in result.stderr + result.stdout
    assert "its message quotes the URI, so it is not shown" in result.stderr + result.stdout
    _hidden([password], result.stdout + result.stderr)


def test_a_key_rabbitmq_does_not_know_is_sent_as_written_with_a_warning(tmp_path: Path,
                                                                         rabbitmq_vhost: RabbitVhost) -> None:
    text = f"""version: 1
targets:
  live: {{kind: rabbitmq, url: "{RABBITMQ_URL}"}}
rabbitmq:
  target: live
  vhosts:
    {rabbitmq_vhost.name}:
      federation_upstreams:
        up: {{uri: "amqp://127.0.0.1:1", max_hops: 2, prefetch_cont: 5}}
"""
    result = with_file(tmp_path, text, "validate")
    assert result.returncode == 0, result.stdout + result.stderr
    said = result.stdout + result.stderr
    assert "warning: `prefetch_cont` is not a key RabbitMQ documents for a federation upstream" in said
    assert "did you mean `prefetch-count`?" in said and "max_hops" not in said  # RabbitMQ's max-hops, by name
    applied = with_file(tmp_path, text, "apply", "--auto-approve", *_WAIT)
    assert applied.returncode == 1  # RabbitMQ refuses it: "Unrecognised terms"
    assert "Unrecognised terms" in applied.stdout + applied.stderr
    assert _parameters(rabbitmq_vhost.client, rabbitmq_vhost.name) == {}


# ------------------------------------------------------------------------------------ global parameters


def test_an_empty_object_is_declared_as_rabbitmq_holds_it(tmp_path: Path, rabbitmq_api: Any) -> None:
    name = unique("tg")
    text = f"""version: 1
targets:
  live: {{kind: rabbitmq, url: "{RABBITMQ_URL}"}}
rabbitmq:
  target: live
  global_parameters:
    {name}: {{value: {{}}}}
"""
    try:
        assert with_file(tmp_path, text, "apply", "--auto-approve", *_WAIT).returncode == 0
        assert rabbitmq_api.get(f"/api/global-parameters/{name}").json()["value"] == []
        plan = with_file(tmp_path, text, "plan", "--detailed-exitcode")
        assert plan.returncode == 0, plan.stdout + plan.stderr
    finally:
        rabbitmq_api.delete(f"/api/global-parameters/{name}")



def test_internal_global_parameters_are_never_declared_exported_or_pruned(tmp_path: Path, rabbitmq_api: Any) -> None:
    assert any(p["name"].startswith("internal") for p in rabbitmq_api.get("/api/global-parameters").json())
    text = f"""version: 1
targets:
  live: {{kind: rabbitmq, url: "{RABBITMQ_URL}"}}
rabbitmq:
  target: live
  global_parameters:
    internal_cluster_id: {{value: mine}}
"""
    refused = with_file(tmp_path, text, "validate")
    assert refused.returncode == 1
    assert "global parameters named `internal...` are RabbitMQ's own (`internal_cluster_id`)" in refused.stderr
    exported = _export(tmp_path, "rabbitmq/global-parameter/*")
    assert "internal_cluster_id:" not in exported
    pruning = text.replace("  global_parameters:\n    internal_cluster_id: {value: mine}\n", "") + \
        "manage: {prune: true, include: [\"rabbitmq/global-parameter/internal*\"]}\n"
    plan = with_file(tmp_path, pruning, "plan", "--detailed-exitcode")
    assert plan.returncode == 0, plan.stdout + plan.stderr  # nothing to prune: RabbitMQ's own are never read


# ------------------------------------------------------------------------------------ what a delete drops


@pytest.fixture
def exchange_federation(rabbitmq_api: Any) -> Iterator[tuple[str, str]]:
    """Exchange `x` of a fresh vhost federated from `x` of another, through upstream `up` (this broker is its
    own upstream); yields (downstream vhost, upstream vhost) once the link runs."""
    downstream, upstream = _vhost(rabbitmq_api), _vhost(rabbitmq_api)
    try:
        for vhost in (downstream, upstream):
            rabbitmq_api.put(f"/api/exchanges/{_q(vhost)}/x", json={"type": "fanout"}).raise_for_status()
        amqp = f"amqp://guest:guest@127.0.0.1:5672/{_q(upstream)}"
        _put(rabbitmq_api, f"parameters/federation-upstream/{_q(downstream)}/up", {"uri": amqp})
        rabbitmq_api.put(f"/api/policies/{_q(downstream)}/federate", json={
            "pattern": "^x$", "apply-to": "exchanges", "definition": {"federation-upstream": "up"}}).raise_for_status()
        deadline = time.monotonic() + 20
        while not [link for link in rabbitmq_api.get(f"/api/federation-links/{_q(downstream)}").json()
                   if link["status"] == "running"]:
            assert time.monotonic() < deadline, "the federation link did not start within 20s"
            time.sleep(0.2)
        yield downstream, upstream
    finally:
        for vhost in (downstream, upstream):
            rabbitmq_api.delete(f"/api/vhosts/{_q(vhost)}")


def _pruning(downstream: str) -> str:
    return f"""version: 1
targets:
  live: {{kind: rabbitmq, url: "{RABBITMQ_URL}"}}
manage: {{prune: true, include: ["rabbitmq/{downstream}/federation-upstream/*"]}}
rabbitmq:
  target: live
  vhosts:
    {downstream}:
      exchanges:
        x: {{type: fanout}}
"""


def test_deleting_an_upstream_of_exchange_federation_is_planned_as_losing_messages(
        tmp_path: Path, rabbitmq_api: Any, exchange_federation: tuple[str, str]) -> None:
    downstream, upstream = exchange_federation
    plan = with_file(tmp_path, _pruning(downstream), "plan", "--detailed-exitcode")
    assert plan.returncode == 2, plan.stdout + plan.stderr
    assert f"- rabbitmq/{downstream}/federation-upstream/up" in plan.stdout
    assert "loses data: an unknown number of messages" in plan.stdout
    refused = with_file(tmp_path, _pruning(downstream), "apply", "--auto-approve", *_WAIT, "--allow-delete")
    assert refused.returncode == 1
    assert ("federation-upstream", "up") in _parameters(rabbitmq_api, downstream)
    # The link's internal queue on the upstream, which the delete would take with it, is still there.
    assert [q["name"] for q in rabbitmq_api.get(f"/api/queues/{_q(upstream)}").json()
            if q["name"].startswith("federation: x ->")]


def test_changing_an_upstream_of_exchange_federation_is_planned_as_losing_messages(
        tmp_path: Path, rabbitmq_api: Any, exchange_federation: tuple[str, str]) -> None:
    """An update restarts the upstream's links, and a stopping exchange link deletes its upstream queue."""
    downstream, upstream = exchange_federation
    amqp = f"amqp://guest:guest@127.0.0.1:5672/{_q(upstream)}"
    text = _pruning(downstream) + "      federation_upstreams:\n        up: {uri: \"${UP_URI}\", max-hops: 2}\n"
    plan = with_file(tmp_path, text, "plan", "--detailed-exitcode", env={"UP_URI": amqp})
    assert plan.returncode == 2, plan.stdout + plan.stderr
    assert f"~ rabbitmq/{downstream}/federation-upstream/up" in plan.stdout
    assert "loses data: an unknown number of messages (its links restart" in plan.stdout
    refused = with_file(tmp_path, text, "apply", "--auto-approve", *_WAIT, env={"UP_URI": amqp})
    assert refused.returncode == 1
    assert _parameters(rabbitmq_api, downstream)[("federation-upstream", "up")] == {"uri": amqp}


def test_an_upstream_that_keeps_its_queue_is_deleted_as_losing_nothing(
        tmp_path: Path, rabbitmq_api: Any, exchange_federation: tuple[str, str]) -> None:
    downstream, upstream = exchange_federation
    amqp = f"amqp://guest:guest@127.0.0.1:5672/{_q(upstream)}"
    _put(rabbitmq_api, f"parameters/federation-upstream/{_q(downstream)}/up",
         {"uri": amqp, "resource-cleanup-mode": "never"})
    plan = with_file(tmp_path, _pruning(downstream), "plan", "--detailed-exitcode")
    assert plan.returncode == 2 and "loses data" not in plan.stdout, plan.stdout + plan.stderr
    applied = with_file(tmp_path, _pruning(downstream), "apply", "--auto-approve", *_WAIT, "--allow-delete")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert ("federation-upstream", "up") not in _parameters(rabbitmq_api, downstream)


def test_a_shovel_from_a_queue_is_deleted_as_losing_nothing_one_from_an_exchange_is_not(
        tmp_path: Path, rabbitmq_vhost: RabbitVhost) -> None:
    api, vhost = rabbitmq_vhost.client, rabbitmq_vhost.name
    _put(api, f"parameters/shovel/{_q(vhost)}/from-queue", {"src-uri": _uri("Sh0vel-pw"), "src-queue": "in",
                                                           "dest-uri": _uri("Sh0vel-pw")})
    _put(api, f"parameters/shovel/{_q(vhost)}/from-exchange", {"src-uri": _uri("Sh0vel-pw"), "src-exchange": "e",
                                                              "dest-uri": _uri("Sh0vel-pw")})
    text = f"""version: 1
targets:
  live: {{kind: rabbitmq, url: "{RABBITMQ_URL}"}}
manage: {{prune: true, include: ["rabbitmq/{vhost}/shovel/*"]}}
rabbitmq: {{target: live, vhosts: {{{vhost}: {{}}}}}}
"""
    plan = with_file(tmp_path, text, "plan", "--format", "json")
    assert plan.returncode == 0, plan.stderr
    changes = {c["name"]: c for c in json.loads(plan.stdout)["changes"]}
    assert changes["from-queue"]["loses_data"] is False
    assert changes["from-exchange"]["loses_data"] is True
    _hidden(["Sh0vel-pw"], plan.stdout, plan.stderr)


# ------------------------------------------------------------------------------------ a real file


def _real_definitions(vhost: str, password: str) -> dict[str, Any]:
    """The shape of two public definitions files, in a fresh vhost:
    - viktoriaas/sda-mq, entrypoint.sh: federation upstreams of queues (ack-mode, queue, trust-user-id, a
      credentialed `uri` from CEGA_CONNECTION), the policies that use them, and global parameter cluster_name;
    - rabbitmq/sample-configs, shovels/shovel-cluster.jsonnet: dynamic shovels between quorum queues, each URI
      a list of the cluster's nodes, src-protocol/dest-protocol amqp091.
    Their URIs point at this broker's test vhost (the shovels) or at no one (the upstreams), so nothing moves
    outside the test."""
    cega = f"amqps://lega:{_q(password)}@127.0.0.1:1/lega"
    nodes = [f"amqp://localhost:5672/{_q(vhost)}", f"amqp://127.0.0.1:5672/{_q(vhost)}"]
    upstreams = [{"name": name, "vhost": vhost, "component": "federation-upstream", "value": {
        "ack-mode": "on-confirm", "queue": queue, "trust-user-id": False, "uri": cega}}
        for name, queue in (("CEGA-ids", "v1.stableIDs"), ("CEGA-files", "v1.files"))]
    shovels = [{"component": "shovel", "name": f"my-shovel-{x}", "vhost": vhost, "value": {
        "dest-protocol": "amqp091", "dest-queue": f"dst-queue-{x}", "dest-uri": nodes,
        "src-protocol": "amqp091", "src-queue": f"src-queue-{x}", "src-uri": nodes}} for x in (1, 2)]
    queues = [{"name": name, "vhost": vhost, "durable": True, "auto_delete": False, "arguments": arguments}
              for name, arguments in [("stableIDs", {}), ("files", {}), ("archived", {})] +
              [(f"{side}-queue-{x}", {"x-queue-type": "quorum"}) for side in ("src", "dst") for x in (1, 2)]]
    policies = [{"vhost": vhost, "name": name, "pattern": pattern, "apply-to": "queues", "priority": 0,
                 "definition": {"federation-upstream": name}}
                for name, pattern in (("CEGA-files", "files"), ("CEGA-ids", "stableIDs"))]
    return {"parameters": upstreams + shovels, "policies": policies, "queues": queues,
            "exchanges": [{"name": "lega", "vhost": vhost, "type": "topic", "durable": True, "auto_delete": False,
                           "internal": False, "arguments": {}}],
            "bindings": [{"source": "lega", "vhost": vhost, "destination": "archived", "destination_type": "queue",
                          "routing_key": "archived", "arguments": {}}]}


@pytest.fixture
def cluster_name(rabbitmq_api: Any) -> Iterator[None]:
    """The broker's one cluster_name, for this test alone (other runs of it wait), put back afterwards."""
    with open(Path(tempfile.gettempdir()) / "topology-tests-cluster-name.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        before = rabbitmq_api.get("/api/global-parameters/cluster_name")
        try:
            yield
        finally:
            if before.status_code == 200:
                _put(rabbitmq_api, "global-parameters/cluster_name", before.json()["value"])
            else:
                rabbitmq_api.delete("/api/global-parameters/cluster_name")


@pytest.mark.usefixtures("cluster_name")
def test_a_real_definitions_file_adopts_and_comes_back(tmp_path: Path, rabbitmq_api: Any,
                                                       rabbitmq_vhost: RabbitVhost) -> None:
    vhost, copy, password = rabbitmq_vhost.name, unique("params"), "CEGA-node-pa$$word"
    try:
        response = rabbitmq_api.post(f"/api/definitions/{_q(vhost)}", json=_real_definitions(vhost, password))
        assert response.status_code in (201, 204), response.text
        _put(rabbitmq_api, "global-parameters/cluster_name", "rabbit@localhost")  # vhost imports leave it out

        text = _export(tmp_path, f"rabbitmq/{vhost}/*", f"rabbitmq/vhost/{vhost}",
                       "rabbitmq/global-parameter/cluster_name")
        declared = yaml.safe_load(text)["rabbitmq"]
        assert declared["global_parameters"] == {"cluster_name": {"value": "rabbit@localhost"}}
        assert declared["vhosts"][vhost]["shovels"]["my-shovel-1"]["src-uri"] == [
            f"amqp://localhost:5672/{_q(vhost)}", f"amqp://127.0.0.1:5672/{_q(vhost)}"]  # no credentials: as is
        assert "internal_cluster_id) are the broker's own" in text
        cega = f"amqps://lega:{_q(password)}@127.0.0.1:1/lega"
        uris = {("federation_upstreams", name, "uri"): cega for name in ("CEGA-ids", "CEGA-files")}
        uris.update({("shovels", f"my-shovel-{x}", key): declared["vhosts"][vhost]["shovels"][f"my-shovel-{x}"][key]
                     for x in (1, 2) for key in ("src-uri", "dest-uri")})
        environment = _environment(text, vhost, uris)
        assert "the broker holds amqps://lega:***@127.0.0.1:1/lega" in text
        exported = str(tmp_path / "exported.topology.yaml")
        validated = _run(tmp_path, "validate", exported, env=environment)
        assert validated.returncode == 0, validated.stdout + validated.stderr
        plan = _run(tmp_path, "plan", exported, "--detailed-exitcode", env=environment)
        assert plan.returncode == 0, plan.stdout + plan.stderr

        (tmp_path / "copy.topology.yaml").write_text(text.replace(vhost, copy))  # the shovels' URIs name it too
        applied = _run(tmp_path, "apply", str(tmp_path / "copy.topology.yaml"), "--auto-approve", env=environment)
        assert applied.returncode == 0, applied.stdout + applied.stderr
        renamed = json.loads(json.dumps(list(_parameters(rabbitmq_api, vhost).items())).replace(vhost, copy))
        assert _parameters(rabbitmq_api, copy) == {(component, name): value for (component, name), value in renamed}
        _hidden([password], text, *(r.stdout + r.stderr for r in (validated, plan, applied)))
    finally:
        rabbitmq_api.delete(f"/api/vhosts/{_q(copy)}")


# ------------------------------------------------------------------------------------ what is shown of a URI


@pytest.mark.parametrize("uri", [
    "amqp://user:p@ss@host", "amqp://user:p/ss@host/v", "amqp://user:p?ss@host", "amqp://user:p#ss@host",
    "amqp://us@er:pass@host", "amqp://user:pass", "amqp://:pass@host:5671/v?heartbeat=5",
    "amqps://u:pass@h/v?cacertfile=/c&password=pass", 'amqp://u:pa"ss@h', "amqp://u:pa ss@h", "not a uri pass",
])
def test_what_is_shown_of_a_uri_never_holds_its_password(uri: str) -> None:
    assert "pass" not in shown(uri).replace("password=", "") and "ss@" not in shown(uri)


def test_what_is_shown_of_a_uri_keeps_what_is_not_secret() -> None:
    assert shown("amqp://fed:s3cret@127.0.0.1:5672/%2f?heartbeat=5") == "amqp://fed:***@127.0.0.1:5672/%2f?heartbeat=5"
    assert shown("amqp://") == "amqp://"
    assert shown("amqps://[::1]:5671") == "amqps://[::1]:5671"


@pytest.mark.parametrize(("status", "links"), [(500, None), (403, "raises")])
def test_federation_link_status_the_broker_cannot_give_is_unknown(status: int, links: Any) -> None:
    """RabbitMQ's federation plugin answers HTTP 500 for a vhost whose link process is restarting (a link
    to an unreachable upstream restarts every few seconds; seen in CI): the links are then unknown, so any
    upstream may be in use and a change is planned as dropping messages in transit. Any other refusal is
    an error."""
    import httpx

    from topology.brokers.rabbitmq.parameters import _exchange_links
    from topology.errors import BrokerError

    def fetch(path: str) -> Any:
        request = httpx.Request("GET", f"http://rabbit{path}")
        cause = httpx.HTTPStatusError("refused", request=request, response=httpx.Response(status, request=request))
        raise BrokerError(f"refused GET {path} with HTTP {status}") from cause

    if links == "raises":
        with pytest.raises(BrokerError):
            _exchange_links(fetch, "v")
    else:
        assert _exchange_links(fetch, "v") is links
