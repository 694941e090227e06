"""The RabbitMQ driver: the management HTTP API for reading and changing, AMQP only to count messages.

Reads in bulk: one `GET /api/definitions/{vhost}` per vhost in scope, one queue listing per vhost
for message counts, one users and one permissions listing. Creates of queues, exchanges, bindings
and policies go through one definitions import per vhost and wave, verified afterwards (an import
silently keeps an existing object whose properties differ). Everything else is one call per change,
at most `parallelism` at a time. A queue is deleted with `if-empty=true` unless the plan said (and
the user allowed) that it loses data, so a queue that filled up after the plan is never dropped.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

from topology.drivers.base import ChangeResult, Driver, Live, Scope
from topology.errors import BrokerError, BrokerUnavailable, redact_url
from topology.expand import binding_address
from topology.plan import Change
from topology.resources import Resource

__all__ = ["RabbitMQDriver", "default_amqp_url"]

_IMPORTED = {"rabbitmq.queue": "queues", "rabbitmq.exchange": "exchanges", "rabbitmq.binding": "bindings",
             "rabbitmq.exchange_binding": "bindings", "rabbitmq.policy": "policies"}


def default_amqp_url(management_url: str) -> str:
    """AMQP on the management host's port 5672, with the same credentials."""
    parts = urlsplit(management_url)
    return f"amqp://{parts.username or 'guest'}:{parts.password or 'guest'}@{parts.hostname}:5672/"


def _q(name: str) -> str:
    return quote(name, safe="")


class RabbitMQDriver(Driver):
    name = "rabbitmq"

    def __init__(self, url: str, *, amqp_url: str | None = None, verify: bool | str = True,
                 parallelism: int = 10, timeout: float = 30.0) -> None:
        parts = urlsplit(url)
        if not parts.scheme or not parts.hostname:
            raise BrokerUnavailable(f"RabbitMQ target URL {redact_url(url)!r} is not the management API's http(s) URL")
        self.url = url
        self.where = redact_url(url)
        self.user = parts.username or "guest"
        netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
        base = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
        self.amqp_url = amqp_url or default_amqp_url(url)
        self.parallelism = parallelism
        self._client = httpx.Client(base_url=base, auth=(self.user, parts.password or ""), timeout=timeout,
                                    verify=verify, headers={"content-type": "application/json"})
        self._hashes: dict[str, tuple[str, str]] = {}  # user -> (password_hash, algorithm); never shown
        self._check()

    def close(self) -> None:
        self._client.close()

    # ------------------------------------------------------------------------------------ the API

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise BrokerUnavailable(f"RabbitMQ at {self.where} is not reachable ({type(exc).__name__}: {exc}); "
                                    "check the URL and that the broker is running") from exc
        if response.status_code == 401:
            raise BrokerUnavailable(f"RabbitMQ at {self.where} refused the credentials of user {self.user!r} (401); "
                                    "check the user and password in the target URL")
        return response

    def _check(self) -> None:
        response = self._request("GET", "/api/overview")
        if response.status_code == 404:
            raise BrokerUnavailable(f"no management API at {self.where} (404): enable it with "
                                    "`rabbitmq-plugins enable rabbitmq_management`")
        if response.status_code >= 400:
            raise BrokerUnavailable(f"RabbitMQ at {self.where} answered HTTP {response.status_code} to /api/overview")

    def _json(self, path: str, *, missing_ok: bool = False, **params: Any) -> Any:
        response = self._request("GET", path, params=params or None)
        if response.status_code == 404 and missing_ok:
            return None
        if response.status_code >= 400:
            raise BrokerError(f"RabbitMQ at {self.where}: GET {path} failed with HTTP {response.status_code}: "
                              f"{_reason(response)}")
        return response.json()

    def _send(self, method: str, path: str, body: Any = None, *, gone_ok: bool = False, **params: Any) -> None:
        response = self._request(method, path, json=body, params=params or None)
        if response.status_code == 404 and gone_ok:
            return
        if response.status_code >= 400:
            raise BrokerError(f"{method} {path}: HTTP {response.status_code}: {_reason(response)}")

    # ------------------------------------------------------------------------------------ inspect

    def _vhosts(self, scope: Scope) -> list[str]:
        named = set(scope.containers)
        if scope.prune:
            named |= {v["name"] for v in self._json("/api/vhosts", columns="name")}
        return sorted(named)

    def inspect(self, scope: Scope) -> dict[str, Live]:
        live: dict[str, Live] = {}
        existing = {v["name"] for v in self._json("/api/vhosts", columns="name")}
        for vhost in self._vhosts(scope):
            if vhost not in existing:
                continue
            live[f"rabbitmq/vhost/{vhost}"] = Live("rabbitmq.vhost", {}, name=vhost)
            live.update(self._inspect_vhost(vhost))
        wants_users = scope.prune or any(a.startswith("rabbitmq/user/") for a in scope.addresses)
        if wants_users:
            for user in self._json("/api/users"):
                tags = user["tags"] if isinstance(user["tags"], list) else [t for t in user["tags"].split(",") if t]
                self._hashes[user["name"]] = (user.get("password_hash", ""), user.get("hashing_algorithm", ""))
                live[f"rabbitmq/user/{user['name']}"] = Live("rabbitmq.user", {"tags": sorted(tags)}, name=user["name"])
        if wants_users or any("/topic-permission/" in a for a in scope.addresses):
            for topic in self._json("/api/topic-permissions"):
                vhost, user, exchange = topic["vhost"], topic["user"], topic["exchange"]
                live[f"rabbitmq/{vhost}/topic-permission/{user}/{exchange}"] = Live("rabbitmq.topic_permission", {
                    "user": user, "exchange": exchange, "write": topic["write"], "read": topic["read"]},
                    (f"rabbitmq/user/{user}", f"rabbitmq/vhost/{vhost}"), name=user, scope=vhost)
        if wants_users or any("/permission/" in a for a in scope.addresses):
            for permission in self._json("/api/permissions"):
                vhost, user = permission["vhost"], permission["user"]
                live[f"rabbitmq/{vhost}/permission/{user}"] = Live("rabbitmq.permission", {
                    "user": user, "configure": permission["configure"], "write": permission["write"],
                    "read": permission["read"]}, (f"rabbitmq/user/{user}", f"rabbitmq/vhost/{vhost}"),
                    name=user, scope=vhost)
        return {address: item for address, item in live.items() if scope.wants(address)}

    def _inspect_vhost(self, vhost: str) -> dict[str, Live]:
        definitions = self._json(f"/api/definitions/{_q(vhost)}", missing_ok=True) or {}
        counts = {q["name"]: q.get("messages") for q in
                  self._json(f"/api/queues/{_q(vhost)}", missing_ok=True, columns="name,messages") or []}
        prefix = f"rabbitmq/{vhost}"
        vaddress = f"rabbitmq/vhost/{vhost}"
        live: dict[str, Live] = {}
        for exchange in definitions.get("exchanges", []):
            if exchange["name"].startswith("amq.") or not exchange["name"]:
                continue
            live[f"{prefix}/exchange/{exchange['name']}"] = Live("rabbitmq.exchange", {
                "type": exchange["type"], "durable": exchange["durable"], "auto_delete": exchange["auto_delete"],
                "internal": exchange["internal"], "arguments": exchange.get("arguments") or {}}, (vaddress,),
                name=exchange["name"], scope=vhost)
        for queue in definitions.get("queues", []):
            if queue["name"].startswith("amq."):
                continue
            arguments = dict(queue.get("arguments") or {})
            queue_type = arguments.pop("x-queue-type", "classic")
            live[f"{prefix}/queue/{queue['name']}"] = Live("rabbitmq.queue", {
                "type": queue_type, "durable": queue["durable"], "auto_delete": queue["auto_delete"],
                "arguments": arguments}, (vaddress,), counts.get(queue["name"]), name=queue["name"], scope=vhost)
        for binding in definitions.get("bindings", []):
            source, destination = binding["source"], binding["destination"]
            if not source or destination.startswith("amq.gen-"):
                continue
            to_queue = binding["destination_type"] == "queue"
            kind = "binding" if to_queue else "exchange-binding"
            arguments = binding.get("arguments") or {}
            address = binding_address(vhost, kind, source, destination, binding["routing_key"], arguments)
            depends = [vaddress, f"{prefix}/{'queue' if to_queue else 'exchange'}/{destination}"]
            if not source.startswith("amq."):
                depends.append(f"{prefix}/exchange/{source}")
            live[address] = Live("rabbitmq.binding" if to_queue else "rabbitmq.exchange_binding", {
                "source": source, "destination": destination, "destination_type": binding["destination_type"],
                "routing_key": binding["routing_key"], "arguments": arguments}, tuple(depends),
                name=f"{source}->{destination}", scope=vhost)
        for policy in definitions.get("policies", []):
            live[f"{prefix}/policy/{policy['name']}"] = Live("rabbitmq.policy", _policy(policy), (vaddress,),
                                                             name=policy["name"], scope=vhost)
        for parameter in definitions.get("parameters", []):
            if parameter.get("component") == "operator_policy":
                live[f"{prefix}/operator-policy/{parameter['name']}"] = Live(
                    "rabbitmq.operator_policy", _policy(parameter["value"]), (vaddress,), name=parameter["name"],
                    scope=vhost)
        return live

    def count_messages(self, live: Mapping[str, Live]) -> dict[str, int | None]:
        """Exact counts for queues about to be replaced or deleted: the management API's figures lag
        by a statistics interval, so ask the queue itself (a passive declare over AMQP) and keep the
        larger of the two (the passive declare does not count unacknowledged messages)."""
        import pika
        import pika.exceptions

        counts: dict[str, int | None] = {}
        by_vhost: dict[str, list[str]] = {}
        for address, item in live.items():
            by_vhost.setdefault(item.scope, []).append(address)
        parts = urlsplit(self.amqp_url)
        for vhost, addresses in by_vhost.items():
            url = urlunsplit((parts.scheme, parts.netloc, "/" + _q(vhost), parts.query, ""))
            try:
                connection = pika.BlockingConnection(pika.URLParameters(url))
            except pika.exceptions.AMQPError as exc:
                raise BrokerUnavailable(f"RabbitMQ over AMQP at {redact_url(url)} is not reachable to count "
                                        f"messages before a replace or delete ({type(exc).__name__}); set the "
                                        "target's amqp_url") from exc
            try:
                for address in addresses:
                    item = live[address]
                    channel = connection.channel()
                    try:
                        ready = channel.queue_declare(item.name, passive=True).method.message_count
                        channel.close()
                    except pika.exceptions.ChannelClosedByBroker:
                        continue  # gone since inspect: nothing to lose
                    counts[address] = max(ready, item.messages or 0)
            finally:
                connection.close()
        return counts

    def secret_matches(self, desired: Resource, live: Live) -> bool:
        password = desired.secrets.get("password")
        if password is None:
            return True  # no password in the file: the password is not managed
        stored, algorithm = self._hashes.get(desired.name, ("", ""))
        if not stored:
            return False
        raw = base64.b64decode(stored)
        digest = hashlib.sha512 if algorithm.endswith("sha512") else (
            hashlib.md5 if algorithm.endswith("md5") else hashlib.sha256)
        return base64.b64encode(raw[:4] + digest(raw[:4] + password.encode()).digest()).decode() == stored

    # -------------------------------------------------------------------------------------- apply

    def apply(self, changes: Sequence[Change], desired: Mapping[str, Resource]) -> list[ChangeResult]:
        imports: dict[str, list[Change]] = {}
        singles: list[Change] = []
        for change in changes:
            if change.action == "create" and change.kind in _IMPORTED:
                imports.setdefault(change.scope, []).append(change)
            else:
                singles.append(change)
        results: list[ChangeResult] = []
        with ThreadPoolExecutor(max_workers=max(1, self.parallelism)) as pool:
            futures = [pool.submit(self._import, vhost, batch) for vhost, batch in sorted(imports.items())]
            futures += [pool.submit(self._single_result, change, desired.get(change.address)) for change in singles]
            for future in futures:
                results += future.result()
        return results

    def _single_result(self, change: Change, desired: Resource | None) -> list[ChangeResult]:
        try:
            self._apply_one(change, desired)
        except BrokerError as exc:
            return [ChangeResult(change.address, False, str(exc))]
        return [ChangeResult(change.address, True)]

    def _import(self, vhost: str, batch: list[Change]) -> list[ChangeResult]:
        definitions: dict[str, list[dict[str, Any]]] = {"queues": [], "exchanges": [], "bindings": [], "policies": []}
        for change in batch:
            assert change.after is not None
            definitions[_IMPORTED[change.kind]].append(_definition(change.kind, change.name, change.after))
        try:
            self._send("POST", f"/api/definitions/{_q(vhost)}", definitions)
            live = self._inspect_vhost(vhost)
        except BrokerError as exc:
            return [ChangeResult(c.address, False, str(exc)) for c in batch]
        results = []
        for change in batch:
            found = live.get(change.address)
            if found is None:
                results.append(ChangeResult(change.address, False, "the definitions import did not create it"))
            elif change.after and any(found.attributes.get(k) != v for k, v in change.after.items()):
                differing = [k for k, v in change.after.items() if found.attributes.get(k) != v]
                results.append(ChangeResult(change.address, False, "it already exists with other "
                                            f"{', '.join(differing)}; plan again to replace it"))
            else:
                results.append(ChangeResult(change.address, True))
        return results

    def _apply_one(self, change: Change, desired: Resource | None) -> None:
        kind, address, vhost, name = change.kind, change.address, change.scope, change.name
        if kind == "rabbitmq.vhost":
            if change.action == "delete":
                self._send("DELETE", f"/api/vhosts/{_q(name)}", gone_ok=True)
            else:
                self._send("PUT", f"/api/vhosts/{_q(name)}", {})
            return
        if change.action in ("delete", "replace"):
            self._delete(change, vhost, name)
        if change.action == "delete":
            return
        after = change.after or {}
        v = _q(vhost)
        if kind == "rabbitmq.queue":
            self._send("PUT", f"/api/queues/{v}/{_q(name)}", _definition(kind, name, after))
        elif kind == "rabbitmq.exchange":
            self._send("PUT", f"/api/exchanges/{v}/{_q(name)}", _definition(kind, name, after))
        elif kind in ("rabbitmq.binding", "rabbitmq.exchange_binding"):
            to = "q" if after["destination_type"] == "queue" else "e"
            self._send("POST", f"/api/bindings/{v}/e/{_q(after['source'])}/{to}/{_q(after['destination'])}",
                       {"routing_key": after["routing_key"], "arguments": after["arguments"]})
        elif kind in ("rabbitmq.policy", "rabbitmq.operator_policy"):
            path = "policies" if kind == "rabbitmq.policy" else "operator-policies"
            self._send("PUT", f"/api/{path}/{v}/{_q(name)}", _policy(after))
        elif kind == "rabbitmq.user":
            body: dict[str, Any] = {"tags": ",".join(after.get("tags", []))}
            password = desired.secrets.get("password") if desired else None
            if password is not None:
                body["password"] = password
            else:
                body["password_hash"] = self._hashes.get(name, ("", ""))[0]
            self._send("PUT", f"/api/users/{_q(name)}", body)
        elif kind == "rabbitmq.permission":
            self._send("PUT", f"/api/permissions/{v}/{_q(after['user'])}",
                       {k: after[k] for k in ("configure", "write", "read")})
        elif kind == "rabbitmq.topic_permission":
            self._send("PUT", f"/api/topic-permissions/{v}/{_q(after['user'])}",
                       {k: after[k] for k in ("exchange", "write", "read")})
        else:
            raise BrokerError(f"{address}: the RabbitMQ driver does not manage {kind}")

    def _delete(self, change: Change, vhost: str, name: str) -> None:
        v, kind = _q(vhost), change.kind
        if kind == "rabbitmq.queue":
            params = {} if change.loses_data else {"if-empty": "true"}
            response = self._request("DELETE", f"/api/queues/{v}/{_q(name)}", params=params or None)
            if response.status_code == 400 and not change.loses_data:
                raise BrokerError(f"{change.address} now holds messages (it was empty when planned); it was "
                                  "kept: plan again, and apply with --allow-data-loss to drop them")
            if response.status_code >= 400 and response.status_code != 404:
                raise BrokerError(f"DELETE queue {name}: HTTP {response.status_code}: {_reason(response)}")
        elif kind == "rabbitmq.exchange":
            self._send("DELETE", f"/api/exchanges/{v}/{_q(name)}", gone_ok=True)
        elif kind in ("rabbitmq.binding", "rabbitmq.exchange_binding"):
            before = change.before or {}
            to = "q" if before.get("destination_type") == "queue" else "e"
            path = f"/api/bindings/{v}/e/{_q(before['source'])}/{to}/{_q(before['destination'])}"
            for binding in self._json(path, missing_ok=True) or []:
                if binding["routing_key"] == before["routing_key"] and (binding.get("arguments") or {}) == \
                        before.get("arguments", {}):
                    self._send("DELETE", f"{path}/{_q(binding['properties_key'])}", gone_ok=True)
        elif kind in ("rabbitmq.policy", "rabbitmq.operator_policy"):
            path = "policies" if kind == "rabbitmq.policy" else "operator-policies"
            self._send("DELETE", f"/api/{path}/{v}/{_q(name)}", gone_ok=True)
        elif kind == "rabbitmq.user":
            self._send("DELETE", f"/api/users/{_q(name)}", gone_ok=True)
        elif kind == "rabbitmq.permission":
            self._send("DELETE", f"/api/permissions/{v}/{_q(name)}", gone_ok=True)
        elif kind == "rabbitmq.topic_permission":
            # The API deletes a user's topic permissions in a vhost all at once: put back the others.
            path = f"/api/topic-permissions/{v}/{_q(name)}"
            others = [t for t in self._json(path, missing_ok=True) or []
                      if t["exchange"] != (change.before or {}).get("exchange")]
            self._send("DELETE", path, gone_ok=True)
            for other in others:
                self._send("PUT", path, {k: other[k] for k in ("exchange", "write", "read")})


def _definition(kind: str, name: str, after: Mapping[str, Any]) -> dict[str, Any]:
    """The management API's JSON for an object, as PUT and definitions import take it."""
    if kind == "rabbitmq.queue":
        arguments = dict(after["arguments"])
        if after["type"] != "classic":
            arguments["x-queue-type"] = after["type"]
        return {"name": name, "durable": after["durable"], "auto_delete": after["auto_delete"],
                "arguments": arguments}
    if kind == "rabbitmq.exchange":
        return {"name": name, "type": after["type"], "durable": after["durable"],
                "auto_delete": after["auto_delete"], "internal": after["internal"], "arguments": after["arguments"]}
    if kind in ("rabbitmq.binding", "rabbitmq.exchange_binding"):
        return {"source": after["source"], "destination": after["destination"],
                "destination_type": after["destination_type"], "routing_key": after["routing_key"],
                "arguments": after["arguments"]}
    return {"name": name, **_policy(after)}


def _policy(data: Mapping[str, Any]) -> dict[str, Any]:
    return {"pattern": data["pattern"], "apply-to": data.get("apply-to", "all"),
            "priority": data.get("priority", 0), "definition": data.get("definition", {})}


def _reason(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    return str(body.get("reason") or body.get("error") or body)[:300]
