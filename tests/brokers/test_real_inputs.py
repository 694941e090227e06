"""Adoption of configurations shaped like real ones, on all four brokers.

Each fixture under tests/brokers/real/ follows the shape of a public file (named in its first
comment lines): RabbitMQ definitions files, Kafka topic and user resources of Strimzi, topicctl and
kafka-gitops, CloudFormation templates of SQS and SNS, Redis ACL files and stream bootstrap scripts.
Names and values are our own.

For each, the test loads the fixture into the real broker through the broker's own interface (the
management API's definitions import, Kafka's admin clients, boto3 on moto, redis-py), under names
unique to the run; then, as a newcomer adopting that part of the broker would:

1. `topology export --target ... --include <the fixture's objects>` writes a file;
2. `topology validate` accepts it;
3. `topology plan --detailed-exitcode` against the same broker says "No changes" (exit 0);
4. `topology apply` of that file with the run's names replaced by fresh ones re-creates the objects,
   and what the broker then holds, read through its own interface again, is what it held for the
   original: except what the exported file says, in a comment naming it, that topology does not
   manage (a construct is never dropped silently).

Compared as the broker means them: an IAM policy's single value and list of one are the same; the
`managed-by: topology` tag topology puts on what it creates (FORMAT.md) is not counted on the copy.
Not compared: secrets themselves (never exported: the copy's are what the variables the file asks
for give it; whether a user can log in with a password at all is compared), and what the broker
computes (ARNs, timestamps, message counts). Kafka runs on the single local broker, so every topic
has one replica (tests/brokers/test_kafka_cluster.py moves topics between 1 and 3).

The commands run through the command-line application in this process (exit codes, output and
errors as the console script gives them), which keeps the whole file well under a minute.
"""

from __future__ import annotations

import json
import re
import shlex
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import pytest
import yaml

from tests.conftest import AWS_ENDPOINT_URL, KAFKA_BOOTSTRAP, RABBITMQ_URL, REDIS_URL

REAL = Path(__file__).parent / "real"
Items = dict[tuple[str, str], Any]  # (kind, name) -> what the broker holds for it, run names replaced


def _fixtures(broker: str, *suffixes: str) -> list[Path]:
    return sorted(p for p in (REAL / broker).iterdir() if p.name.endswith(suffixes))


def _run_tokens(kind: str) -> tuple[str, str]:
    """Two name prefixes unique to this run: the original objects' and the re-created copy's."""
    run = uuid.uuid4().hex[:8]
    return f"rt{run}{kind}a", f"rt{run}{kind}b"


# ------------------------------------------------------------------------------ the adoption steps


@dataclass
class Ran:
    exit_code: int
    stdout: str
    stderr: str


def topology(*args: str, env: Mapping[str, str]) -> Ran:
    """`topology ARGS` run by the command-line application in this process, its errors said as the
    console script says them (`Error: ...`, exit 1)."""
    from typer.testing import CliRunner

    from topology.cli import app
    from topology.errors import TopologyError

    result = CliRunner().invoke(app, list(args), env={"AWS_ACCESS_KEY_ID": "testing",
                                                      "AWS_SECRET_ACCESS_KEY": "testing", **env})
    if isinstance(result.exception, TopologyError):
        return Ran(1, result.stdout, f"{result.stderr}Error: {result.exception}\n")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Ran(result.exit_code, result.stdout, result.stderr)


_HEADERS = ("# Exported from", "# Scope:", "# Added because")


def _comments(text: str) -> list[tuple[str, str]]:
    """Each comment of an exported file (but its header, which names the scope, not objects) with the
    YAML keys it sits under: a comment after `start:` in a group speaks of that group."""
    found = []
    keys: list[tuple[int, str]] = []  # the enclosing mappings' keys, by indentation
    for line in text.splitlines():
        if line.lstrip().startswith(_HEADERS):
            continue
        content, hash_, comment = line.partition(" #") if not line.lstrip().startswith("#") else ("", "#", line)
        indent = len(line) - len(line.lstrip(" -"))
        key = re.match(r"\s*(?:- )?(['\"]?)(.+?)\1:(\s|$)", content)
        if key:
            keys = [(i, k) for i, k in keys if i < indent] + [(indent, key[2])]
        if hash_:
            found.append((" / ".join(k for _, k in keys), comment))
    return found


def _said_unmanaged(exported: str, name: str) -> bool:
    """Does a comment of the exported file, on `name` or naming it, say it is not (or cannot be) managed?"""
    return any(name in f"{where} {comment}" and re.search(r"\bnot\b|cannot|unmanaged|can't", comment)
               for where, comment in _comments(exported))


def _adopt(folder: Path, target: str, kind: str, include: list[str], env: Mapping[str, str],
           secrets: Callable[[str], dict[str, str]], old: str, new: str) -> str:
    """Export, validate, plan (empty) and re-create under `new`; returns the exported text. `secrets`
    gives the variables the exported file asks for (placeholders of passwords and URIs)."""
    exported = folder / "exported.topology.yaml"
    scope = [arg for glob in include for arg in ("--include", glob)]
    result = topology("export", "--target", target, "--kind", kind, *scope, "--to", str(exported), env=env)
    assert result.exit_code == 0, f"export failed: {result.stderr}"
    text = exported.read_text()
    environment = {**env, **secrets(text)}
    checked = topology("validate", str(exported), env=environment)
    assert checked.exit_code == 0, f"validate refuses the exported file:\n{checked.stdout}{checked.stderr}\n{text}"
    plan = topology("plan", str(exported), "--detailed-exitcode", env=environment)
    assert plan.exit_code == 0 and "No changes" in plan.stdout, \
        f"the exported file does not plan empty (exit {plan.exit_code}):\n{plan.stdout}{plan.stderr}\n{text}"
    copy = folder / "copy.topology.yaml"
    copy.write_text(text.replace(old, new))
    # the broker is shared: wait for another apply's lock, as a team adopting its part would
    applied = topology("apply", str(copy), "--auto-approve", "--lock-timeout", "60s", env=environment)
    assert applied.exit_code == 0, f"apply of the exported file (renamed) failed:\n{applied.stdout}{applied.stderr}"
    return text


def _difference(before: Any, after: Any) -> str:
    """Where two values differ: the differing keys of two mappings, or both values."""
    if isinstance(before, dict) and isinstance(after, dict):
        return "; ".join(f"{key}: {before.get(key, '<absent>')!r} -> {after.get(key, '<absent>')!r}"
                         for key in sorted(before.keys() | after.keys()) if before.get(key) != after.get(key))
    return f"{before!r} -> {after!r}"


def _same_back(before: Items, after: Items, exported: str) -> None:
    """What the broker holds for the copy is what it held for the original, but for what the exported
    file says it does not manage."""
    absent = "<absent>"
    differing = sorted(key for key in before.keys() | after.keys() if before.get(key) != after.get(key))
    silent = [key for key in differing if not _said_unmanaged(exported, key[1].rsplit("/", 1)[-1])]
    assert not silent, "re-created differently (original -> re-created), and the exported file does not say why:\n" \
        + "\n".join(f"  {kind} {name}: {_difference(before.get((kind, name), absent), after.get((kind, name), absent))}"
                    for kind, name in silent) + "\n--- exported file ---\n" + exported


def _neutral(value: Any, token: str) -> Any:
    """`value` with the run's prefix written as <T> wherever it appears (names, patterns, URIs, ARNs)."""
    return json.loads(json.dumps(value).replace(token, "<T>"))


def _placeholder_notes(text: str) -> list[tuple[str, str, str]]:
    """(variable, key, address) of each `set VAR to the KEY of ADDRESS` note of an exported file."""
    return re.findall(r"set (\w+) to the ([\w-]+) of (\S+?)[;,.\s]", text)


# --------------------------------------------------------------------------------------- RabbitMQ


def _read_jsonc(path: Path) -> dict[str, Any]:
    text = "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith("//"))
    return dict(json.loads(text))


def _vhost_name(original: str, token: str) -> str:
    """A run-unique vhost for the fixture's: `/` and names that start with a slash keep their slash."""
    if original == "/":
        return f"/{token}"
    return f"/{token}-{original[1:]}" if original.startswith("/") else f"{token}-{original}"


_URI_KEYS = ("uri", "src-uri", "dest-uri")


def _renamed_uri(uri: str, vhosts: Mapping[str, str]) -> str:
    """An AMQP URI naming one of the fixture's vhosts names the run's instead."""
    parts = urlsplit(uri)
    vhost = unquote(parts.path[1:]) if parts.path else None
    if vhost is None or vhost not in vhosts:
        return uri
    path = "/" + quote(vhosts[vhost], safe="")
    return f"{parts.scheme}://{parts.netloc}{path}" + (f"?{parts.query}" if parts.query else "")


def _renamed_value(component: str, value: Any, vhosts: Mapping[str, str]) -> Any:
    if component not in ("shovel", "federation-upstream") or not isinstance(value, dict):
        return value
    renamed = dict(value)
    for key in _URI_KEYS:
        if isinstance(renamed.get(key), str):
            renamed[key] = _renamed_uri(renamed[key], vhosts)
        elif isinstance(renamed.get(key), list):
            renamed[key] = [_renamed_uri(u, vhosts) for u in renamed[key]]
    return renamed


class RabbitLoad:
    """A definitions file loaded under run-unique vhost and user names."""

    def __init__(self, definitions: dict[str, Any], token: str) -> None:
        self.definitions = definitions
        self.vhosts = {v["name"]: _vhost_name(v["name"], token) for v in definitions.get("vhosts", [])}
        self.users = {u["name"]: f"{token}-{u['name']}" for u in definitions.get("users", [])}
        self.globals = [p for p in definitions.get("global_parameters", [])
                        if not p["name"].startswith("internal")]  # RabbitMQ's own (internal_cluster_id)

    def global_part(self, cluster_name: str) -> dict[str, Any]:
        """Users, vhosts (with metadata), permissions, topic permissions, global parameters: what
        `POST /api/definitions` takes for the whole broker."""
        d = self.definitions
        return {
            "users": [{**u, "name": self.users[u["name"]]} for u in d.get("users", [])],
            "vhosts": [{**v, "name": self.vhosts[v["name"]]} for v in d.get("vhosts", [])],
            "permissions": [{**p, "user": self.users.get(p["user"], p["user"]), "vhost": self.vhosts[p["vhost"]]}
                            for p in d.get("permissions", [])],
            "topic_permissions": [{**p, "user": self.users.get(p["user"], p["user"]), "vhost": self.vhosts[p["vhost"]]}
                                  for p in d.get("topic_permissions", [])],
            # the broker is shared: cluster_name is written with the name it already has
            "global_parameters": [{**p, "value": cluster_name} if p["name"] == "cluster_name" else p
                                  for p in self.globals],
        }

    def vhost_part(self, original: str) -> dict[str, Any]:
        """What `POST /api/definitions/{vhost}` takes: the vhost's queues, exchanges, bindings, policies
        and runtime parameters, without their `vhost` key."""
        part: dict[str, Any] = {}
        for key in ("queues", "exchanges", "bindings", "policies", "parameters"):
            entries = [{k: v for k, v in e.items() if k != "vhost"} for e in self.definitions.get(key, [])
                       if e.get("vhost") == original]
            if key == "parameters":
                entries = [{**e, "value": _renamed_value(e["component"], e["value"], self.vhosts)} for e in entries]
            part[key] = entries
        return part

    def uri_secret(self, address: str, key: str) -> Any:
        """The fixture's value of `key` in the parameter at `address` (the exported file asks for it)."""
        name = address.rsplit("/", 1)[-1]
        for parameter in self.definitions.get("parameters", []):
            if parameter["name"] == name and key in parameter["value"]:
                return _renamed_value(parameter["component"], parameter["value"], self.vhosts)[key]
        raise AssertionError(f"the exported file asks for the {key} of {address}, which the fixture does not hold")


def _rabbit_items(api: Any, load: RabbitLoad, token: str) -> Items:
    """What the broker holds for the load's vhosts and users, through the management API."""
    items: Items = {}
    for original, vhost in load.vhosts.items():
        path = quote(vhost, safe="")
        info = api.get(f"/api/vhosts/{path}").json()
        items[("vhost", original)] = {"description": info.get("description", ""),
                                      "tags": sorted(info.get("tags") or []),
                                      "default_queue_type": info.get("default_queue_type")}
        items[("vhost-limits", original)] = [e["value"] for e in api.get(f"/api/vhost-limits/{path}").json()]
        definitions = api.get(f"/api/definitions/{path}").json()
        classic_default = info.get("default_queue_type") in (None, "undefined", "classic")
        for queue in definitions["queues"]:
            arguments = dict(queue["arguments"])
            if classic_default and arguments.get("x-queue-type") == "classic":
                # One queue to RabbitMQ with or without the argument where classic is the vhost's default:
                # either redeclares it, and the format says it as `type: classic` (the default) alike.
                del arguments["x-queue-type"]
            items[("queue", f"{original}/{queue['name']}")] = {"durable": queue["durable"],
                                                                "auto_delete": queue["auto_delete"],
                                                                "arguments": arguments}
        for exchange in definitions["exchanges"]:
            items[("exchange", f"{original}/{exchange['name']}")] = {
                k: exchange[k] for k in ("type", "durable", "auto_delete", "internal", "arguments")}
        bindings: dict[tuple[str, str], list[Any]] = {}
        for b in definitions["bindings"]:
            name = f"{original}/{b['source']}->{b['destination_type']}:{b['destination']}[{b['routing_key']}]"
            bindings.setdefault(("binding", name), []).append(b["arguments"])
        items.update({key: sorted(v, key=json.dumps) for key, v in bindings.items()})
        for policy in definitions["policies"]:
            items[("policy", f"{original}/{policy['name']}")] = {
                k: policy[k] for k in ("pattern", "apply-to", "priority", "definition")}
        for parameter in definitions["parameters"]:
            if parameter["component"] != "vhost-limits":  # read above, as the vhost's limits
                items[(parameter["component"], f"{original}/{parameter['name']}")] = parameter["value"]
        for permission in api.get(f"/api/vhosts/{path}/permissions").json():
            items[("permission", f"{original}/{permission['user']}")] = {
                k: permission[k] for k in ("configure", "write", "read")}
        for topic in api.get(f"/api/vhosts/{path}/topic-permissions").json():
            items[("topic-permission", f"{original}/{topic['user']}/{topic['exchange']}")] = {
                k: topic[k] for k in ("write", "read")}
    for original, user in load.users.items():
        found = api.get(f"/api/users/{quote(user, safe='')}")
        info = found.json() if found.status_code == 200 else None
        items[("user", original)] = None if info is None else sorted(info["tags"] if isinstance(info["tags"], list)
                                                                      else info["tags"].split(","))
        # whether the user can log in with a password (never the password, which is never exported)
        items[("user-password", original)] = None if info is None else bool(info.get("password_hash"))
        limits = api.get(f"/api/user-limits/{quote(user, safe='')}")
        items[("user-limits", original)] = [e["value"] for e in limits.json()] if limits.status_code == 200 else None
    return {(kind, name.replace(token, "<T>")): _neutral(value, token) for (kind, name), value in items.items()}


def _rabbit_cleanup(api: Any, load: RabbitLoad, renamed: Callable[[str], str], had_cluster_name: bool) -> None:
    for vhost in load.vhosts.values():
        api.delete(f"/api/vhosts/{quote(renamed(vhost), safe='')}")
    for user in load.users.values():
        api.delete(f"/api/users/{quote(renamed(user), safe='')}")
    if not had_cluster_name and any(p["name"] == "cluster_name" for p in load.globals):
        api.delete("/api/global-parameters/cluster_name")


@pytest.mark.rabbitmq
@pytest.mark.parametrize("fixture", _fixtures("rabbitmq", ".jsonc"), ids=lambda p: p.stem)
def test_rabbitmq_definitions_adopted(fixture: Path, tmp_path: Path, rabbitmq_api: Any) -> None:
    api = rabbitmq_api
    old, new = _run_tokens("r")
    load = RabbitLoad(_read_jsonc(fixture), old)
    cluster_name = api.get("/api/overview").json()["cluster_name"]
    had_cluster_name = api.get("/api/global-parameters/cluster_name").status_code == 200
    user = urlsplit(RABBITMQ_URL).username or "guest"
    try:
        api.post("/api/definitions", json=load.global_part(cluster_name)).raise_for_status()
        for original, vhost in load.vhosts.items():
            path = quote(vhost, safe="")
            api.put(f"/api/permissions/{path}/{user}", json={"configure": ".*", "write": ".*", "read": ".*"}
                    ).raise_for_status()
            # Runtime parameters after the rest: RabbitMQ imports parameters before queues, and a dynamic
            # shovel that starts first declares its source queue itself (classic), so that the file's
            # queue of the same name (a stream) is then skipped as existing (seen on 3.10.8).
            part = load.vhost_part(original)
            for body in ({**part, "parameters": []}, {"parameters": part["parameters"]}):
                response = api.post(f"/api/definitions/{path}", json=body)
                assert response.status_code in (200, 201, 204), f"{fixture.name}: refused: {response.text}"
        before = _rabbit_items(api, load, old)
        made = [(kind, f"{e['vhost']}/{e['name']}") for kind, key in (("queue", "queues"), ("exchange", "exchanges"),
                                                                       ("policy", "policies"))
                for e in load.definitions.get(key, [])] + [("user", u) for u in load.users]
        assert all(before.get(m) is not None for m in made), f"the broker does not hold all of {fixture.name}"

        include = [f"rabbitmq/{v}/*" for v in load.vhosts.values()] + \
            [f"rabbitmq/vhost/{v}" for v in load.vhosts.values()] + [f"rabbitmq/user/{old}-*"]
        if any(p["name"] == "cluster_name" for p in load.globals):
            include.append("rabbitmq/global-parameter/cluster_name")

        def secrets(text: str) -> dict[str, str]:
            found = {}
            for variable, key, address in _placeholder_notes(text):
                value = load.uri_secret(address, key)
                index = re.search(r"_(\d+)$", variable)
                found[variable] = value[int(index[1]) - 1] if isinstance(value, list) and index else value
            return found

        exported = _adopt(tmp_path, f"live={RABBITMQ_URL}", "rabbitmq", include, {"TOPOLOGY_TARGET_LIVE": RABBITMQ_URL},
                          secrets, old, new)
        copy = RabbitLoad(load.definitions, new)
        _same_back(before, _rabbit_items(api, copy, new), exported)
    finally:
        _rabbit_cleanup(api, load, lambda name: name, had_cluster_name)
        _rabbit_cleanup(api, load, lambda name: name.replace(old, new), had_cluster_name)


# ------------------------------------------------------------------------------------------ Kafka

# Strimzi's KafkaUser quota fields, in Kafka's own quota names
_QUOTA_KEYS = {"producerByteRate": "producer_byte_rate", "consumerByteRate": "consumer_byte_rate",
               "requestPercentage": "request_percentage", "controllerMutationRate": "controller_mutation_rate"}


class KafkaWorld:
    """What a fixture declares, in Kafka's terms: topics, ACL bindings, SCRAM credentials, quotas."""

    def __init__(self) -> None:
        self.topics: dict[str, tuple[int, int, dict[str, str]]] = {}
        self.acls: list[tuple[str, str, str, str, str, str, str]] = []  # principal, type, name, pattern, op, perm, host
        self.users: dict[str, tuple[str, int]] = {}  # user -> (mechanism, iterations)
        self.quotas: list[tuple[dict[str, str], dict[str, float]]] = []

    def acl(self, principal: str, resource: str, name: str, pattern: str, operation: str, permission: str,
            host: str) -> None:
        snake = re.sub(r"(?<=[a-z])(?=[A-Z])", "_", operation).upper()
        pattern = {"prefix": "PREFIXED", "prefixed": "PREFIXED", "literal": "LITERAL"}[pattern.lower()]
        acl = (principal, {"CLUSTER": "BROKER"}.get(resource.upper(), resource.upper()), name, pattern, snake,
               permission.upper(), host)
        if acl not in self.acls:  # Kafka holds a binding once, however many rules grant it
            self.acls.append(acl)


def _config_text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _kafka_world(path: Path) -> KafkaWorld:
    """Strimzi KafkaTopic and KafkaUser, topicctl topics, ACLs and users, kafka-gitops state."""
    world = KafkaWorld()
    for doc in yaml.safe_load_all(path.read_text()):
        kind, spec = doc.get("kind"), doc.get("spec") or {}
        if kind == "KafkaTopic":
            world.topics[spec.get("topicName") or doc["metadata"]["name"]] = (
                spec["partitions"], spec["replicas"], {k: _config_text(v) for k, v in spec.get("config", {}).items()})
        elif kind == "KafkaUser":
            name = doc["metadata"]["name"]
            if spec.get("authentication", {}).get("type", "").startswith("scram-sha-"):
                world.users[name] = (spec["authentication"]["type"].upper(), 4096)
            for rule in spec.get("authorization", {}).get("acls", []):
                resource = rule["resource"]
                for operation in rule.get("operations") or [rule["operation"]]:
                    world.acl(f"User:{name}", resource["type"], resource.get("name", "kafka-cluster"),
                              resource.get("patternType", "literal"), operation, rule.get("type", "allow"),
                              rule.get("host", "*"))
            if spec.get("quotas"):
                world.quotas.append(({"user": name}, {_QUOTA_KEYS[k]: float(v) for k, v in spec["quotas"].items()}))
        elif "meta" in doc and "partitions" in spec:
            settings = {k: _config_text(v) for k, v in (spec.get("settings") or {}).items()}
            if "retentionMinutes" in spec:
                settings["retention.ms"] = str(spec["retentionMinutes"] * 60000)
            world.topics[doc["meta"]["name"]] = (spec["partitions"], spec["replicationFactor"], settings)
        elif "meta" in doc and "acls" in spec:
            for rule in spec["acls"]:
                r = rule["resource"]
                for operation in rule["operations"]:
                    world.acl(r["principal"], r["type"], r["name"], r["patternType"], operation, r["permission"],
                              r["host"])
        elif "meta" in doc and "mechanism" in spec:
            world.users[spec["name"]] = (spec["mechanism"].upper(), spec["iterations"])
        elif "topics" in doc:  # kafka-gitops
            default = doc.get("settings", {}).get("topics", {}).get("defaults", {}).get("replication", 1)
            for name, topic in doc["topics"].items():
                world.topics[name] = (topic["partitions"], topic.get("replication", default),
                                      {k: _config_text(v) for k, v in (topic.get("configs") or {}).items()})
            for user, rules in (doc.get("customUserAcls") or {}).items():
                principal = doc.get("users", {}).get(user, {}).get("principal", f"User:{user}")
                for rule in rules.values():
                    world.acl(rule.get("principal", principal), rule["type"], rule["name"], rule["pattern"],
                              rule["operation"], rule["permission"], rule["host"])
    return world


class KafkaBroker:
    """librdkafka's admin client (topics, configs, ACLs, SCRAM) and Kafka's own requests through
    kafka-python for client quotas (librdkafka has no call for them)."""

    def __init__(self) -> None:
        from confluent_kafka.admin import AdminClient
        from kafka import KafkaAdminClient

        self.admin = AdminClient({"bootstrap.servers": KAFKA_BOOTSTRAP, "socket.timeout.ms": 10000})
        self.client = KafkaAdminClient(bootstrap_servers=KAFKA_BOOTSTRAP.split(","))

    def close(self) -> None:
        self.admin.__exit__(None, None, None)  # destroyed on this thread (see conftest.kafka_clients_freed)
        self.client.close()

    def _send(self, request: Any) -> dict[str, Any]:
        manager = self.client._manager
        return dict(manager.run(manager.send, request).to_dict())

    def binding(self, acl: tuple[str, ...]) -> Any:
        from confluent_kafka.admin import AclBinding, AclOperation, AclPermissionType, ResourcePatternType, ResourceType

        principal, resource, name, pattern, operation, permission, host = acl
        return AclBinding(ResourceType[resource], name, ResourcePatternType[pattern], principal, host,
                          AclOperation[operation], AclPermissionType[permission])

    def make(self, world: KafkaWorld, prefix: str, passwords: Mapping[str, str]) -> None:
        from confluent_kafka.admin import NewTopic, ScramCredentialInfo, ScramMechanism, UserScramCredentialUpsertion
        from kafka.protocol.admin import AlterClientQuotasRequest

        # the local broker has one replica to give: every topic gets one (tests/brokers/test_kafka_cluster.py
        # moves topics between 1 and 3 replicas)
        topics = [NewTopic(prefix + name, partitions, 1, config=config)
                  for name, (partitions, _replicas, config) in world.topics.items()]
        for future in (self.admin.create_topics(topics, operation_timeout=30) if topics else {}).values():
            future.result()
        if world.acls:
            bindings = [self.binding(self._prefixed(a, prefix)) for a in world.acls]
            for future in self.admin.create_acls(bindings).values():
                future.result()
        upserts = [UserScramCredentialUpsertion(prefix + user, ScramCredentialInfo(
            ScramMechanism[mechanism.replace("-", "_")], iterations), passwords[user].encode())
            for user, (mechanism, iterations) in world.users.items()]
        if upserts:
            for future in self.admin.alter_user_scram_credentials(upserts).values():
                future.result()
        if world.quotas:
            entry = AlterClientQuotasRequest.EntryData
            answer = self._send(AlterClientQuotasRequest(entries=[entry(
                entity=[entry.EntityData(entity_type=k, entity_name=prefix + v) for k, v in entity.items()],
                ops=[entry.OpData(key=k, value=v, remove=False) for k, v in values.items()])
                for entity, values in world.quotas], validate_only=False))
            assert all(e["error_code"] == 0 for e in answer["entries"]), answer

    @staticmethod
    def _prefixed(acl: tuple[str, ...], prefix: str) -> tuple[str, ...]:
        principal, resource, name, *rest = acl
        kind, _, who = principal.partition(":")
        return (f"{kind}:{prefix}{who}", resource, name if resource == "BROKER" else prefix + name, *rest)

    def items(self, prefix: str) -> Items:
        """Everything under `prefix`, as the admin clients report it."""
        from confluent_kafka.admin import (
            AclBindingFilter,
            AclOperation,
            AclPermissionType,
            ConfigResource,
            ConfigSource,
            ResourcePatternType,
            ResourceType,
        )
        from kafka.protocol.admin import DescribeClientQuotasRequest

        items: Items = {}
        topics = {n: t for n, t in self.admin.list_topics(timeout=10).topics.items() if n.startswith(prefix)}
        if topics:
            described = self.admin.describe_configs([ConfigResource(ResourceType.TOPIC, n) for n in topics])
            for resource, future in described.items():
                config = {k: e.value for k, e in future.result().items()
                          if e.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value}
                partitions = topics[resource.name].partitions
                items[("topic", resource.name)] = [len(partitions), len(partitions[0].replicas), config]
        everything = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None, AclOperation.ANY,
                                      AclPermissionType.ANY)
        for b in self.admin.describe_acls(everything).result():
            if prefix in b.principal:
                name = "/".join((b.principal, b.restype.name, b.name, b.resource_pattern_type.name,
                                 b.operation.name, b.permission_type.name, b.host))
                items[("acl", name)] = True
        for user, description in self.admin.describe_user_scram_credentials().result().items():
            if user.startswith(prefix):
                for info in description.scram_credential_infos:
                    items[("scram", f"{user}/{info.mechanism.name}")] = info.iterations
        answer = self._send(DescribeClientQuotasRequest(components=[], strict=False))
        for entry in answer["entries"]:
            entity = sorted((e["entity_type"], e["entity_name"]) for e in entry["entity"])
            if any(prefix in (name or "") for _, name in entity):
                items[("quota", ",".join(f"{k}={v}" for k, v in entity))] = {
                    v["key"]: v["value"] for v in entry["values"]}
        return {(kind, name.replace(prefix, "<T>")): _neutral(value, prefix) for (kind, name), value in items.items()}

    def clean(self, prefix: str) -> None:
        from confluent_kafka.admin import ScramMechanism, UserScramCredentialDeletion
        from kafka.protocol.admin import AlterClientQuotasRequest

        found = self.items(prefix)
        topics = [name.replace("<T>", prefix) for kind, name in found if kind == "topic"]
        if topics:
            for future in self.admin.delete_topics(topics, operation_timeout=30).values():
                future.result()
        acls = [tuple(name.replace("<T>", prefix).split("/")) for kind, name in found if kind == "acl"]
        if acls:
            from confluent_kafka.admin import (
                AclBindingFilter,
                AclOperation,
                AclPermissionType,
                ResourcePatternType,
                ResourceType,
            )
            filters = [AclBindingFilter(ResourceType[t], n, ResourcePatternType[p], who, host, AclOperation[o],
                                        AclPermissionType[perm]) for who, t, n, p, o, perm, host in acls]
            for future in self.admin.delete_acls(filters).values():
                future.result()
        for kind, name in found:
            if kind == "scram":
                user, mechanism = name.replace("<T>", prefix).rsplit("/", 1)
                self.admin.alter_user_scram_credentials([UserScramCredentialDeletion(
                    user, ScramMechanism[mechanism])])[user].result()
        quotas = [(name.replace("<T>", prefix), values) for (kind, name), values in found.items() if kind == "quota"]
        if quotas:
            entry = AlterClientQuotasRequest.EntryData
            self._send(AlterClientQuotasRequest(entries=[entry(
                entity=[entry.EntityData(entity_type=k, entity_name=v) for k, v in
                        (part.split("=", 1) for part in name.split(","))],
                ops=[entry.OpData(key=key, value=0.0, remove=True) for key in values]) for name, values in quotas],
                validate_only=False))


def _until_visible(broker: KafkaBroker, prefix: str, world: KafkaWorld) -> Items:
    """Kafka shows new ACLs, credentials and quotas some time after the call returns: read until all are there."""
    import time

    expected = len(world.topics), len(world.acls), sum(1 for _ in world.users), len(world.quotas)
    deadline = time.monotonic() + 20
    while True:
        items = broker.items(prefix)
        counts = tuple(sum(1 for kind, _ in items if kind == k) for k in ("topic", "acl", "scram", "quota"))
        if counts == expected or time.monotonic() > deadline:
            assert counts == expected, f"Kafka shows {counts} (topics, ACLs, credentials, quotas), made {expected}"
            return items


@pytest.mark.kafka
@pytest.mark.parametrize("fixture", _fixtures("kafka", ".yaml"), ids=lambda p: p.stem)
def test_kafka_configurations_adopted(fixture: Path, tmp_path: Path) -> None:
    old, new = (f"{t}-" for t in _run_tokens("k"))
    world = _kafka_world(fixture)
    passwords = {user: f"pw-{uuid.uuid4().hex[:12]}" for user in world.users}
    broker = KafkaBroker()
    try:
        broker.make(world, old, passwords)
        before = _until_visible(broker, old, world)

        def secrets(text: str) -> dict[str, str]:
            users = (yaml.safe_load(text).get("kafka") or {}).get("users") or {}
            return {credential["password"].removeprefix("${").removesuffix("}"): passwords[user.removeprefix(old)]
                    for user, credentials in users.items() for credential in credentials.values()
                    if isinstance(credential, dict) and str(credential.get("password", "")).startswith("${")}

        include = [f"kafka/topic/{old}*", f"kafka/acl/*{old}*", f"kafka/user/{old}*", f"kafka/quota/*{old}*"]
        exported = _adopt(tmp_path, f"events={KAFKA_BOOTSTRAP}", "kafka", include,
                          {"TOPOLOGY_TARGET_EVENTS": KAFKA_BOOTSTRAP}, secrets, old, new)
        _same_back(before, _until_visible(broker, new, world), exported)
    finally:
        broker.clean(old)
        broker.clean(new)
        broker.close()


# ------------------------------------------------------------------------------------ SQS and SNS

_ACCOUNT, _REGION = "123456789012", "us-east-1"  # moto's account; the test's region


class CloudFormation:
    """The SQS and SNS resources of a CloudFormation template, made with boto3 under a name prefix:
    Ref, Fn::GetAtt (Arn, QueueName, TopicName) and Fn::Sub resolved as CloudFormation does."""

    def __init__(self, template: dict[str, Any], prefix: str) -> None:
        self.resources: dict[str, dict[str, Any]] = template["Resources"]
        self.prefix = prefix
        self.urls: dict[str, str] = {}
        self.arns: dict[str, str] = {}

    def name(self, logical: str) -> str:
        properties = self.resources[logical]["Properties"]
        return self.prefix + str(properties.get("QueueName") or properties.get("TopicName"))

    def arn(self, logical: str) -> str:
        service = "sqs" if self.resources[logical]["Type"] == "AWS::SQS::Queue" else "sns"
        return f"arn:aws:{service}:{_REGION}:{_ACCOUNT}:{self.name(logical)}"

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if set(value) == {"Ref"}:
            ref = value["Ref"]
            return {"AWS::AccountId": _ACCOUNT, "AWS::Region": _REGION}.get(ref) or (
                self.urls[ref] if self.resources[ref]["Type"] == "AWS::SQS::Queue" else self.arn(ref))
        if set(value) == {"Fn::GetAtt"}:
            logical, attribute = value["Fn::GetAtt"]
            return self.arn(logical) if attribute == "Arn" else self.name(logical)
        if set(value) == {"Fn::Sub"}:
            def sub(match: re.Match[str]) -> str:
                word = match[1]
                if word in ("AWS::AccountId", "AWS::Region"):
                    return str(self.resolve({"Ref": word}))
                logical, _, attribute = word.partition(".")
                return str(self.resolve({"Fn::GetAtt": [logical, attribute]} if attribute else {"Ref": logical}))
            text = re.sub(r"\$\{([^}]+)\}", sub, value["Fn::Sub"])
            # a literal ARN in the template names the fixture's own queues by their unprefixed names
            for logical, resource in self.resources.items():
                if resource["Type"] == "AWS::SQS::Queue":
                    bare = resource["Properties"]["QueueName"]
                    text = text.replace(f":{_ACCOUNT}:{bare}", f":{_ACCOUNT}:{self.name(logical)}")
            return text
        return {k: self.resolve(v) for k, v in value.items()}

    def of_type(self, kind: str) -> list[tuple[str, dict[str, Any]]]:
        return [(logical, r.get("Properties", {})) for logical, r in self.resources.items() if r["Type"] == kind]

    def make(self, sqs: Any, sns: Any) -> None:
        queue_keys = ("FifoQueue", "ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit",
                      "SqsManagedSseEnabled", "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds", "VisibilityTimeout",
                      "MessageRetentionPeriod", "DelaySeconds", "ReceiveMessageWaitTimeSeconds", "MaximumMessageSize")
        for logical, p in self.of_type("AWS::SQS::Queue"):
            attributes = {k: _config_text(p[k]) for k in queue_keys if k in p}
            tags = {t["Key"]: t["Value"] for t in p.get("Tags", [])}
            self.urls[logical] = sqs.create_queue(QueueName=self.name(logical), Attributes=attributes,
                                                  **({"tags": tags} if tags else {}))["QueueUrl"]
        for logical, p in self.of_type("AWS::SQS::Queue"):  # the redrive policies, once every queue exists
            policies = {k: json.dumps(self.resolve(p[k])) for k in ("RedrivePolicy", "RedriveAllowPolicy") if k in p}
            if policies:
                sqs.set_queue_attributes(QueueUrl=self.urls[logical], Attributes=policies)
        for logical, p in self.of_type("AWS::SNS::Topic"):
            attributes = {k: _config_text(p[k]) for k in ("FifoTopic", "ContentBasedDeduplication", "DisplayName",
                                                          "KmsMasterKeyId") if k in p}
            if "DeliveryPolicy" in p:
                attributes["DeliveryPolicy"] = json.dumps(p["DeliveryPolicy"])
            topic_tags = [{"Key": t["Key"], "Value": t["Value"]} for t in p.get("Tags", [])]
            sns.create_topic(Name=self.name(logical), Attributes=attributes,
                             **({"Tags": topic_tags} if topic_tags else {}))
        for _logical, p in self.of_type("AWS::SNS::Subscription"):
            attributes = {k: (json.dumps(self.resolve(p[k])) if isinstance(p[k], dict) else _config_text(p[k]))
                          for k in ("RawMessageDelivery", "FilterPolicy", "FilterPolicyScope", "DeliveryPolicy",
                                    "RedrivePolicy") if k in p}
            sns.subscribe(TopicArn=self.resolve(p["TopicArn"]), Protocol=p["Protocol"],
                          Endpoint=self.resolve(p["Endpoint"]), Attributes=attributes, ReturnSubscriptionArn=True)
        for _logical, p in self.of_type("AWS::SQS::QueuePolicy"):
            for queue in self.resolve(p["Queues"]):
                sqs.set_queue_attributes(QueueUrl=queue, Attributes={
                    "Policy": json.dumps(self.resolve(p["PolicyDocument"]))})
        for _logical, p in self.of_type("AWS::SNS::TopicPolicy"):
            for topic in self.resolve(p["Topics"]):
                sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy",
                                         AttributeValue=json.dumps(self.resolve(p["PolicyDocument"])))


_COMPUTED = {"QueueArn", "CreatedTimestamp", "LastModifiedTimestamp", "ApproximateNumberOfMessages",
             "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed", "TopicArn", "Owner",
             "SubscriptionsConfirmed", "SubscriptionsPending", "SubscriptionsDeleted", "SubscriptionArn",
             "ConfirmationWasAuthenticated", "PendingConfirmation", "SubscriptionPrincipal"}
_JSON_ATTRIBUTES = {"Policy", "RedrivePolicy", "RedriveAllowPolicy", "DeliveryPolicy", "EffectiveDeliveryPolicy",
                    "FilterPolicy"}


def _iam(value: Any) -> Any:
    """A policy as IAM reads it: a value alone and a list of that one value are the same ("Action":
    "sqs:SendMessage" or ["sqs:SendMessage"]), and the order of a list's values does not matter."""
    if isinstance(value, dict):
        return {k: _iam(v) for k, v in value.items()}
    if isinstance(value, list):
        values = sorted((_iam(v) for v in value), key=json.dumps)
        return values[0] if len(values) == 1 else values
    return value


def _attributes(attributes: Mapping[str, str]) -> dict[str, Any]:
    found = {k: json.loads(v) if k in _JSON_ATTRIBUTES and v else v for k, v in attributes.items()
             if k not in _COMPUTED}
    if isinstance(found.get("Policy"), dict):
        found["Policy"] = _iam(found["Policy"])
    return found


def _tags(tags: Mapping[str, str], created: bool) -> dict[str, str]:
    """An object's tags; on the copy, without the `managed-by: topology` tag topology puts on what it
    creates (FORMAT.md: "Resources the tool creates are tagged managed-by: topology")."""
    return {k: v for k, v in tags.items() if not (created and (k, v) == ("managed-by", "topology"))}


def _aws_items(sqs: Any, sns: Any, prefix: str, *, created: bool = False) -> Items:
    """Every queue, topic and subscription under `prefix`, through SQS's and SNS's own APIs (`created`:
    made by topology's apply)."""
    items: Items = {}
    for url in sqs.list_queues(QueueNamePrefix=prefix).get("QueueUrls", []):
        name = url.rsplit("/", 1)[-1]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        tags = _tags(sqs.list_queue_tags(QueueUrl=url).get("Tags", {}), created)
        items[("queue", name)] = {**_attributes(attributes), "tags": tags}
    topics = [t["TopicArn"] for page in sns.get_paginator("list_topics").paginate() for t in page["Topics"]]
    for arn in topics:
        name = arn.rsplit(":", 1)[-1]
        if not name.startswith(prefix):
            continue
        tags = _tags({t["Key"]: t["Value"] for t in sns.list_tags_for_resource(ResourceArn=arn)["Tags"]}, created)
        items[("topic", name)] = {**_attributes(sns.get_topic_attributes(TopicArn=arn)["Attributes"]), "tags": tags}
        for subscription in sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]:
            attributes = sns.get_subscription_attributes(SubscriptionArn=subscription["SubscriptionArn"])["Attributes"]
            key = f"{name}->{subscription['Protocol']}:{subscription['Endpoint']}"
            items[("subscription", key)] = _attributes(attributes)
    return {(kind, name.replace(prefix, "<T>")): _neutral(value, prefix) for (kind, name), value in items.items()}


@pytest.fixture(scope="module")
def aws() -> tuple[Any, Any]:
    """boto3 clients on moto's server, which is never reset here (other tests share it): each test
    cleans only its own prefix."""
    import boto3

    settings = {"endpoint_url": AWS_ENDPOINT_URL, "region_name": _REGION, "aws_access_key_id": "testing",
                "aws_secret_access_key": "testing"}
    return boto3.client("sqs", **settings), boto3.client("sns", **settings)


def _aws_cleanup(sqs: Any, sns: Any, prefix: str) -> None:
    for url in sqs.list_queues(QueueNamePrefix=prefix).get("QueueUrls", []):
        sqs.delete_queue(QueueUrl=url)
    for page in sns.get_paginator("list_topics").paginate():
        for topic in page["Topics"]:
            if topic["TopicArn"].rsplit(":", 1)[-1].startswith(prefix):
                for subscription in sns.list_subscriptions_by_topic(TopicArn=topic["TopicArn"])["Subscriptions"]:
                    if subscription["SubscriptionArn"].startswith("arn:"):
                        sns.unsubscribe(SubscriptionArn=subscription["SubscriptionArn"])
                sns.delete_topic(TopicArn=topic["TopicArn"])


@pytest.mark.aws
@pytest.mark.parametrize("fixture", _fixtures("aws", ".yaml"), ids=lambda p: p.stem)
def test_aws_templates_adopted(fixture: Path, tmp_path: Path, aws: tuple[Any, Any]) -> None:
    sqs, sns = aws
    old, new = (f"{t}-" for t in _run_tokens("a"))
    try:
        template = CloudFormation(yaml.safe_load(fixture.read_text()), old)
        template.make(sqs, sns)
        before = _aws_items(sqs, sns, old)
        types = {"queue": "AWS::SQS::Queue", "topic": "AWS::SNS::Topic", "subscription": "AWS::SNS::Subscription"}
        made = {kind: len(template.of_type(t)) for kind, t in types.items()}
        assert made == {kind: sum(1 for k, _ in before if k == kind) for kind in made}, f"moto holds {sorted(before)}"
        include = [f"sqs/queue/{old}*", f"sns/topic/{old}*", f"sns/subscription/{old}*"]
        exported = _adopt(tmp_path, f"aws={AWS_ENDPOINT_URL}", "aws", include,
                          {"TOPOLOGY_TARGET_AWS": AWS_ENDPOINT_URL, "AWS_ACCESS_KEY_ID": "testing",
                           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": _REGION},
                          lambda text: {}, old, new)
        _same_back(before, _aws_items(sqs, sns, new, created=True), exported)
    finally:
        _aws_cleanup(sqs, sns, old)
        _aws_cleanup(sqs, sns, new)


# ------------------------------------------------------------------------------------------ Redis


def _acl_file(path: Path, prefix: str) -> list[tuple[str, list[str]]]:
    """`user NAME RULES...` lines, each user prefixed, and the first word of key patterns too."""
    users = []
    for line in path.read_text().splitlines():
        words = line.split()
        if not words or words[0] != "user":
            continue
        rules = [re.sub(r"^(\(?(?:%R|%W|%RW)?~)", lambda m: m[1] + prefix, rule) for rule in words[2:]]
        users.append((prefix + words[1], rules))
    return users


def _stream_script(path: Path, prefix: str) -> list[list[str]]:
    """The script's commands with their keys prefixed."""
    commands = []
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        words = shlex.split(line)
        name = words[0].upper()
        if name in ("XADD", "XACK", "XDEL", "XTRIM", "XSETID"):
            words[1] = prefix + words[1]
        elif name == "XGROUP":
            words[2] = prefix + words[2]
        elif name == "XREADGROUP":
            at = [w.upper() for w in words].index("STREAMS")
            keys = (len(words) - at - 1) // 2
            words[at + 1:at + 1 + keys] = [prefix + k for k in words[at + 1:at + 1 + keys]]
        commands.append(words)
    return commands


def _redis_items(client: Any, prefix: str, users: list[str], streams: list[str]) -> Items:
    items: Items = {}
    for user in users:
        reply = client.execute_command("ACL", "GETUSER", prefix + user)
        fields = reply if isinstance(reply, dict) or reply is None else dict(zip(reply[::2], reply[1::2], strict=True))
        items[("user", user)] = None if fields is None else {
            "flags": sorted(fields["flags"]), "passwords": sorted(fields["passwords"]),
            "keys": sorted(fields["keys"].split()), "channels": sorted(fields["channels"].split()),
            "commands": fields["commands"],
            "selectors": sorted(json.dumps(s, sort_keys=True) for s in fields.get("selectors", []))}
    for stream in streams:
        for group in client.xinfo_groups(prefix + stream):
            items[("group", f"{stream}/{group['name']}")] = {
                k: group.get(k) for k in ("last-delivered-id", "entries-read", "lag", "pending")}
    return {key: _neutral(value, prefix) for key, value in items.items()}


@pytest.mark.redis
@pytest.mark.parametrize("fixture", _fixtures("redis", ".acl", ".redis"), ids=lambda p: p.stem)
def test_redis_files_adopted(fixture: Path, tmp_path: Path) -> None:
    import redis

    client: Any = redis.Redis.from_url(REDIS_URL, decode_responses=True, socket_timeout=10)
    old, new = (f"{t}:" for t in _run_tokens("s"))
    users = _acl_file(fixture, old) if fixture.suffix == ".acl" else []
    commands = _stream_script(fixture, old) if fixture.suffix == ".redis" else []
    passwords = {name: [r[1:] for r in rules if r.startswith(">")] for name, rules in users}
    bare_users = [name.removeprefix(old) for name, _ in users]
    try:
        for name, rules in users:
            client.execute_command("ACL", "SETUSER", name, *rules)
        for words in commands:
            client.execute_command(*words)
        streams = sorted({k.removeprefix(old) for k in client.scan_iter(match=f"{old}*", _type="stream")})
        before = _redis_items(client, old, bare_users, streams)
        groups = sum(1 for words in commands if words[:2] == ["XGROUP", "CREATE"])
        assert all(before[("user", u)] is not None for u in bare_users)
        assert sum(1 for kind, _ in before if kind == "group") == groups

        def secrets(text: str) -> dict[str, str]:
            """Each exported password placeholder, set to the password the ACL file gave (in its order)."""
            declared = (yaml.safe_load(text).get("redis") or {}).get("users") or {}
            found = {}
            for name, user in declared.items():
                given = list(dict.fromkeys(passwords.get(name.replace("$$", "$"), [])))
                placeholders = user.get("passwords", [])
                assert len(placeholders) == len(given), f"{name}: {len(given)} passwords, exported {placeholders}"
                found.update({p.removeprefix("${").removesuffix("}"): g for p, g in zip(placeholders, given,
                                                                                          strict=True)})
            return found

        # the copy's streams hold the same entries (ids and history), as a restored backup would
        for stream in streams:
            source, copy = old + stream, new + stream
            client.xgroup_create(copy, "made-empty", id="$", mkstream=True)
            client.xgroup_destroy(copy, "made-empty")
            for entry_id, fields in client.xrange(source):
                client.xadd(copy, fields, id=entry_id)
            info = client.xinfo_stream(source)
            client.execute_command("XSETID", copy, info["last-generated-id"], "ENTRIESADDED", info["entries-added"],
                                   "MAXDELETEDID", info["max-deleted-entry-id"])
        exported = _adopt(tmp_path, f"cache={REDIS_URL}", "redis", [f"redis/*/{old}*"],
                          {"TOPOLOGY_TARGET_CACHE": REDIS_URL}, secrets, old, new)
        _same_back(before, _redis_items(client, new, bare_users, streams), exported)
    finally:
        for prefix in (old, new):
            keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
            if keys:
                client.delete(*keys)
            mine = [u for u in client.acl_users() if u.startswith(prefix)]
            if mine:
                client.acl_deluser(*mine)
        client.close()

