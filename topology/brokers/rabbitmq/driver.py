"""The RabbitMQ driver: the management HTTP API for reading and changing; AMQP to count messages
exactly and to hold the apply lock.

Reads in bulk: one `GET /api/definitions/{vhost}` per vhost in scope, one queue listing per vhost
for message counts (ready + unacknowledged), one users and one permissions listing. `health` reads
one queue listing per vhost of the watched queues (health.py). Creates of
queues, exchanges, bindings and policies go through one definitions import per vhost and wave,
verified afterwards (an import silently keeps an existing object whose properties differ).
Everything else is one call per change, at most `parallelism` at a time.

What a change would lose is checked again at the moment it is carried out when it was planned as
losing nothing (`Change.needs_empty`):
- a queue is deleted with `if-empty=true&if-unused=true` (atomic: no ready messages, no consumers),
  after the management API's unacknowledged count (which lags by a statistics interval) says 0;
- a vhost is deleted after its queues, listed again, hold nothing by the management API and by a
  passive declare of each (ready messages and consumers, exact), a few milliseconds before;
- a policy that lowers a limit is written after the queues its pattern matches hold nothing, by the
  same two counts.
Unacknowledged messages are counted from the management API; a queue with consumers whose
statistics show no unacknowledged messages counts as unknown (its consumers may hold messages the
statistics do not show yet), so deleting it is planned as losing data.

The apply lock is an exclusive queue, `topology.apply-lock`, in the vhost of the AMQP URL (`/` by
default; a user without permissions there sets `amqp_url` to a vhost it may use, and every apply to
the broker must then use that vhost). The broker deletes it when the connection closes or the process
dies; it carries the holder in its arguments and is never inspected, exported or pruned (in any vhost:
the name is reserved).

Every HTTP request and AMQP connection has the target's connect and read timeouts. The management
API is opened (and checked) by the first call that needs it, never by the constructor. Every httpx
and pika call runs inside one error boundary (`errors`, over the table `_error_map()`), so a failure
leaves as one topology error naming the endpoint (password as ***), the client's exception chained.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import fnmatch
import functools
import hashlib
import json
import re
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

import httpx

from topology.brokers.base import ChangeResult, Driver, Live, Selection, may_reach, refused_not_empty
from topology.brokers.rabbitmq import access, parameters
from topology.brokers.rabbitmq import health as queue_health
from topology.brokers.rabbitmq.expand import binding_address
from topology.brokers.registry import held_now
from topology.core.monitor import Reading, Watch
from topology.core.pool import reading_pool
from topology.core.resource import Resource
from topology.core.secrets import BrokerURL, Secret, parse_url
from topology.engine.plan import Change
from topology.errors import BrokerError, BrokerUnavailable, InputError, LockedError, TopologyError

if TYPE_CHECKING:
    import pika
    from pika.adapters.blocking_connection import BlockingConnection

__all__ = ["LOCK_QUEUE", "RabbitMQDriver", "Where", "amqp_parameters", "close_quietly", "default_amqp_url", "errors",
           "translated"]

_IMPORTED = {"rabbitmq.queue": "queues", "rabbitmq.exchange": "exchanges", "rabbitmq.binding": "bindings",
             "rabbitmq.exchange_binding": "bindings", "rabbitmq.policy": "policies"}
LOCK_QUEUE = "topology.apply-lock"
_HOLDER = "topology-holder"
_LOCK_POLL = 0.25  # seconds between attempts to take a held lock
_QUEUE_COLUMNS = "name,messages,messages_unacknowledged,consumers"


def default_amqp_url(management_url: str | BrokerURL) -> BrokerURL:
    """AMQP on the management host, with the same credentials: port 5672, or AMQPS on 5671 when the
    management API is https (credentials that travel encrypted to one port do so to the other)."""
    url = parse_url(management_url, what="the management URL", schemes=("http", "https"))
    tls = url.scheme == "https"
    return BrokerURL("amqps" if tls else "amqp", url.host, 5671 if tls else 5672, url.username or "guest",
                     url.password if url.password is not None else Secret("guest"), "/", "")


def _vhost_of(url: BrokerURL) -> str:
    """The vhost an AMQP URL names (its path), `/` when it names none."""
    path = url.path[1:] if url.path.startswith("/") else url.path
    return unquote(path) if path else "/"


def _at(url: BrokerURL, vhost: str) -> BrokerURL:
    return dataclasses.replace(url, path="/" + _q(vhost))


def amqp_parameters(url: BrokerURL, vhost: str | None = None, *, connect_timeout: float = 5.0,
                    read_timeout: float = 30.0, verify: bool | str = True) -> pika.URLParameters:
    """pika's connection settings for `url` (in `vhost`, default the URL's): the URL's own options,
    the credentials as they are (any character), one attempt, and the target's timeouts: the TCP
    connect, the whole handshake (TCP, TLS, AMQP) and, through heartbeats, any silent broker."""
    import pika

    try:
        parameters = pika.URLParameters(_at(url, vhost if vhost is not None else _vhost_of(url)).reveal())
    except ValueError as exc:  # an option in the URL's query; the message names the option, never the password
        raise InputError(f"the amqp_url {url} has an option pika cannot read ({exc})") from exc
    parameters.virtual_host = vhost if vhost is not None else _vhost_of(url)
    parameters.credentials = pika.PlainCredentials(url.username or "guest",
                                                   url.password.reveal() if url.password is not None else "guest")
    parameters.connection_attempts = 1
    parameters.socket_timeout = connect_timeout
    parameters.stack_timeout = connect_timeout + read_timeout
    parameters.blocked_connection_timeout = read_timeout
    parameters.heartbeat = max(1, int(read_timeout / 2))  # a silent broker is noticed within ~read_timeout + 10s
    if url.scheme == "amqps" and "ssl_options" not in url.query:
        parameters.ssl_options = pika.SSLOptions(_tls_context(verify), server_hostname=url.host)
    return parameters


def _tls_context(verify: bool | str) -> Any:
    import ssl

    context = ssl.create_default_context(cafile=verify if isinstance(verify, str) else None)
    if verify is False:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


# ------------------------------------------------------------------------------------- errors
#
# The one error boundary of the driver (and of the live probe): every httpx and pika call runs inside
# `errors(where)`, and a client exception raised there leaves as the topology error of the first row
# of `_error_map()` it matches, with the original chained for --debug. A management API answer of 400 or
# more is an exception too (`raise_for_status`), unless the caller said it expects that status.


@dataclasses.dataclass(frozen=True)
class Where:
    """What a failing call's sentence names: the broker (passwords shown as ***), the users, what was
    being done, and the timeouts that bounded it."""

    api: BrokerURL | None  # the management API
    amqp: BrokerURL  # AMQP, at the vhost the call used
    doing: str  # "GET /api/vhosts", "to take the apply lock"
    timeouts: tuple[float, float]  # connect, read

    def facts(self, exc: BaseException) -> dict[str, Any]:
        """Everything a row's sentence may name."""
        text = str(exc)
        response = exc.response if isinstance(exc, httpx.HTTPStatusError) else None
        code = response.status_code if response is not None else 0
        tls = re.search(r"\[SSL: ([A-Z_]+)\]", text)
        connect, read = self.timeouts
        return {
            "api": f"RabbitMQ at {self.api}", "user": (self.api.username if self.api else None) or "guest",
            "amqp": f"RabbitMQ over AMQP at {self.amqp}", "amqp_user": self.amqp.username or "guest",
            "doing": self.doing, "connect": connect, "read": read, "total": connect + read,
            "code": code, "answer": _reason(response) if response is not None else "",
            "todo": ("grant the user the permission (or the management tag) it needs" if code in (401, 403) else
                     "check the broker's log, then apply again" if code >= 500 else
                     "check the value in the topology file"),
            "tls": tls.group(1) if tls else "TLS error",
            "reason": "the host name is unknown" if "Name or service" in text or "not known" in text else (
                "connection refused" if "refused" in text.lower() else type(exc).__name__),
            "closed": _closed_reason(exc),
        }


def _tls(exc: BaseException) -> bool:
    return "SSL" in str(exc) or "certificate" in str(exc).lower()


def _timed_out(exc: BaseException) -> bool:
    return "Timeout" in type(exc).__name__ or "timed out" in str(exc)


def _unauthorised(exc: BaseException) -> bool:
    return isinstance(exc, httpx.HTTPStatusError) and exc.response.status_code == 401


def _hung_up(exc: BaseException) -> bool:
    return "disconnected" in str(exc).lower()


def _closed_reason(exc: BaseException) -> str:
    code, text = getattr(exc, "reply_code", None), getattr(exc, "reply_text", None)
    return f"{code} {text}" if code is not None else type(exc).__name__


_Row = tuple[tuple[type[BaseException], ...], Callable[[BaseException], bool] | None, type[BrokerError], str]


@functools.cache
def _pika_errors() -> tuple[type[BaseException], ...]:
    """Every exception pika raises for a broker that fails or refuses."""
    import pika.exceptions as amqp
    from pika.adapters.utils.connection_workflow import AMQPConnectorException

    return (amqp.AMQPError, amqp.ChannelError, amqp.ReentrancyError, AMQPConnectorException, OSError)


@functools.cache
def _error_map() -> tuple[_Row, ...]:
    """Client exception classes (first match wins), a further test, the topology error and its sentence."""
    import pika.exceptions as amqp

    any_amqp = _pika_errors()
    return (
        # the management API (httpx)
        ((httpx.ConnectTimeout,), None, BrokerUnavailable,
         "{api} did not accept a connection within {connect:g}s; check the host and port in the target URL, or "
         "raise the target's connect_timeout"),
        ((httpx.TimeoutException,), None, BrokerUnavailable,
         "{api} accepted the connection but did not answer within {read:g}s; check that the URL names the "
         "management API's port (15672, or 15671 for TLS) and that the broker is not overloaded, or raise the "
         "target's timeout"),
        ((httpx.HTTPStatusError,), _unauthorised, BrokerUnavailable,
         "{api} refused the credentials of user {user!r} (401); check the user and password in the target URL"),
        ((httpx.HTTPStatusError,), None, BrokerError, "{api} refused {doing} with HTTP {code} ({answer}); {todo}"),
        ((httpx.HTTPError,), _tls, BrokerUnavailable,
         "{api}: the TLS handshake failed ({tls}); use http:// if that port does not speak TLS, else check the "
         "target's verify and ca_file"),
        ((httpx.RemoteProtocolError,), _hung_up, BrokerUnavailable,
         "{api} closed the connection without answering {doing}; check that the URL names the management API's "
         "port (15672), not the AMQP port or another service's, else check the broker's log and run the command "
         "again"),
        ((httpx.RemoteProtocolError,), None, BrokerUnavailable,
         "{api} answered with something that is not HTTP; check that the URL names the management API's port "
         "(15672), not the AMQP port"),
        ((json.JSONDecodeError, UnicodeDecodeError), None, BrokerUnavailable,
         "{api} answered {doing} with something that is not JSON; check that the URL names the management API"),
        ((httpx.HTTPError,), None, BrokerUnavailable,
         "{api} is not reachable ({reason}); check the URL and that the broker is running"),
        # AMQP (pika)
        ((amqp.ProbableAuthenticationError,), None, BrokerUnavailable,
         "{amqp} refused the credentials of user {amqp_user!r} {doing}; check the user and password in the "
         "target's amqp_url (or url)"),
        ((amqp.ProbableAccessDeniedError,), None, BrokerUnavailable,
         "{amqp} refused user {amqp_user!r} access to the vhost {doing} (it is missing, or the user has no "
         "permissions there); grant permissions, or set the target's amqp_url"),
        (any_amqp, _tls, BrokerUnavailable,
         "{amqp}: the TLS handshake failed {doing} ({tls}); use amqp:// if that port does not speak TLS, else "
         "check verify and ca_file"),
        ((amqp.AMQPHeartbeatTimeout,), None, BrokerUnavailable,
         "{amqp} stopped answering {doing} (no heartbeat); check that the broker is not overloaded, then run the "
         "command again, or raise the target's timeout"),
        (any_amqp, _timed_out, BrokerUnavailable,
         "{amqp} did not complete a connection within {total:g}s {doing}; check that the amqp_url names the AMQP "
         "port (5672, or 5671 for TLS) and that the broker is not overloaded, or raise the target's timeout"),
        ((amqp.AMQPChannelError,), None, BrokerError, "{amqp} refused a request {doing} ({closed}); check the "
                                                       "broker's log"),
        ((amqp.ConnectionClosed, amqp.StreamLostError), None, BrokerUnavailable,
         "{amqp} closed the connection {doing} ({closed}); check the broker's log, then run the command again"),
        (any_amqp, None, BrokerUnavailable,
         "{amqp} is not reachable {doing} ({reason}); check the target's amqp_url (or url) and that the broker "
         "is running"),
    )


def translated(exc: BaseException, where: Where) -> BrokerError | None:
    """The topology error for a client exception, by the first row of the map it matches; None for others."""
    for classes, test, error, sentence in _error_map():
        if isinstance(exc, classes) and (test is None or test(exc)):
            return error(sentence.format_map(where.facts(exc)))
    return None


@contextlib.contextmanager
def errors(where: Where) -> Iterator[None]:
    """The error boundary: a client exception raised inside leaves as a topology error, chained."""
    try:
        yield
    except TopologyError:
        raise
    except Exception as exc:
        error = translated(exc, where)
        if error is None:
            raise
        raise error from exc


def _q(name: str) -> str:
    return quote(name, safe="")


class _NotEmpty(Exception):
    """A change planned as losing nothing would now lose `what`: refused, nothing changed."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


def _count(messages: int | None, unit: str = "message") -> str:
    if messages is None:
        return f"{unit}s (how many is unknown)"
    return f"{messages:,} {unit}{'' if messages == 1 else 's'}"


def _queue_messages(ready: int, consumers: int, statistics: Mapping[str, Any] | None) -> int | None:
    """What a queue holds: ready messages (exact, from a passive declare) plus unacknowledged ones
    (from the management API, which lags). With consumers and no unacknowledged messages in the
    statistics the count is unknown: the consumers may hold messages the statistics do not show yet."""
    unacked = (statistics or {}).get("messages_unacknowledged")
    if consumers and not unacked:
        return None
    return ready + int(unacked or 0)


class RabbitMQDriver(Driver):
    """Connects lazily: the management API is opened (and checked) by the first call that needs it, an
    AMQP connection by each call that counts messages or takes the lock."""

    def __init__(self, url: str | BrokerURL, *, amqp_url: str | BrokerURL | None = None, verify: bool | str = True,
                 parallelism: int = 10, connect_timeout: float = 5.0, read_timeout: float = 30.0) -> None:
        self.url = parse_url(url, what="the RabbitMQ target's url", schemes=("http", "https"))
        self.where = str(self.url)  # the password is `***`
        self.user = self.url.username or "guest"
        self.amqp_url = parse_url(amqp_url, what="the RabbitMQ target's amqp_url", schemes=("amqp", "amqps")) \
            if amqp_url is not None else default_amqp_url(self.url)
        self.verify = verify
        self.parallelism = parallelism
        self.timeouts = (connect_timeout, read_timeout)
        self._client: httpx.Client | None = None
        self._opening = threading.Lock()  # one thread opens the management API client
        # user -> (password_hash, algorithm), never shown: filled by inspect, or read on first need
        self._hashes: dict[str, tuple[str, str]] = {}
        self._hashes_lock = threading.Lock()
        self._queue_types: dict[str, str] = {}  # vhost -> its default queue type, as inspect last read it
        self._uris: dict[str, dict[str, Any]] = {}  # address -> an upstream's or shovel's URIs, never shown
        self._lock: tuple[BlockingConnection, threading.Event, threading.Thread] | None = None

    def close(self) -> None:
        self._release_lock()
        with self._opening:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    # ------------------------------------------------------------------------------------ the API

    def _errors(self, doing: str, vhost: str | None = None) -> contextlib.AbstractContextManager[None]:
        """The error boundary for one call: `doing` names it, `vhost` is where an AMQP call goes."""
        amqp = _at(self.amqp_url, vhost if vhost is not None else self._lock_vhost)
        return errors(Where(self.url, amqp, doing, self.timeouts))

    def _api(self) -> httpx.Client:
        """The management API client, opened and checked (GET /api/overview) by the first call."""
        with self._opening:
            if self._client is None:
                connect, read = self.timeouts
                base = f"{self.url.scheme}://{self.url.netloc}{self.url.path.rstrip('/')}"
                password = self.url.password.reveal() if self.url.password is not None else ""
                client = httpx.Client(base_url=base, auth=(self.user, password), verify=self.verify,
                                      timeout=httpx.Timeout(read, connect=connect),
                                      headers={"content-type": "application/json"})
                try:
                    self._check(client)
                except BaseException:
                    client.close()
                    raise
                self._client = client
            return self._client

    def _check(self, client: httpx.Client) -> None:
        with self._errors("GET /api/overview"):
            response = client.get("/api/overview")
            if response.status_code == 401:
                response.raise_for_status()
        if response.status_code == 404:
            raise BrokerUnavailable(f"no management API at {self.where} (404): enable it with "
                                    "`rabbitmq-plugins enable rabbitmq_management`")
        if response.status_code >= 400:
            raise BrokerUnavailable(f"RabbitMQ at {self.where} answered HTTP {response.status_code} to /api/overview")

    def _request(self, method: str, path: str, *, expect: Collection[int] = (), **kwargs: Any) -> httpx.Response:
        """One management API request; an answer of 400 or more fails, unless its status is in `expect`."""
        with self._errors(f"{method} {path}"):
            response = self._api().request(method, path, **kwargs)
            if response.status_code >= 400 and response.status_code not in expect:
                response.raise_for_status()
        return response

    def _json(self, path: str, *, missing_ok: bool = False, **params: Any) -> Any:
        """The JSON at `path`; with `missing_ok`, None when what it names is gone (a vhost deleted since it
        was listed: most endpoints answer 404, the definitions endpoint 400 `vhost_not_found`)."""
        expect = (400, 404, 500) if missing_ok else (500,)
        response = self._request("GET", path, expect=expect, params=params or None)
        for pause in (0.1, 0.3, 0.6):  # a listing can answer 500 while queues in it are being declared
            if response.status_code != 500:
                break
            time.sleep(pause)
            response = self._request("GET", path, expect=expect, params=params or None)
        if response.status_code == 404 or (response.status_code == 400 and '"vhost_not_found"' in response.text):
            return None
        with self._errors(f"GET {path}"):
            response.raise_for_status()
            return response.json()

    def _send(self, method: str, path: str, body: Any = None, *, gone_ok: bool = False, **params: Any) -> None:
        self._request(method, path, expect=(404,) if gone_ok else (), json=body, params=params or None)

    def _queues(self, vhost: str) -> dict[str, dict[str, Any]]:
        """The vhost's queues with their statistics; empty if the vhost is gone. An apply lock (in whichever
        vhost an amqp_url names) is no object of the topology: left out."""
        listing = self._json(f"/api/queues/{_q(vhost)}", missing_ok=True, columns=_QUEUE_COLUMNS) or []
        return {q["name"]: q for q in listing if q["name"] != LOCK_QUEUE}

    def _down(self, vhost: str) -> dict[str, str]:
        """The vhost's queues whose node is down, with that node. RabbitMQ still lists such a queue (state
        `down`), but answers 404 for it, leaves its bindings out of the definitions and cannot change it."""
        listing = self._json(f"/api/queues/{_q(vhost)}", missing_ok=True, columns="name,node,state") or []
        return {q["name"]: q.get("node", "?") for q in listing if q.get("state") == "down"}

    def _not_down(self, vhost: str, queue: str) -> None:
        """A queue the management API answers 404 for is gone, unless its node is down: then that is the error."""
        down = self._down(vhost)
        if queue in down:
            raise BrokerError(_on_down_node(vhost, queue, down))

    @property
    def _lock_vhost(self) -> str:
        return _vhost_of(self.amqp_url)

    # ----------------------------------------------------------------------------------- AMQP

    def _amqp(self, vhost: str, doing: str) -> BlockingConnection:
        import pika

        with self._errors(doing, vhost):
            return pika.BlockingConnection(amqp_parameters(self.amqp_url, vhost, connect_timeout=self.timeouts[0],
                                                           read_timeout=self.timeouts[1], verify=self.verify))

    def _exact(self, vhost: str, names: Sequence[str], doing: str) -> dict[str, tuple[int, int]]:
        """(ready messages, consumers) of each queue by a passive declare: exact, now. Gone queues are left out."""
        import pika.exceptions

        found: dict[str, tuple[int, int]] = {}
        if not names:
            return found
        connection = self._amqp(vhost, doing)
        try:
            with self._errors(doing, vhost):
                channel = connection.channel()
                for name in names:
                    try:
                        method = channel.queue_declare(name, passive=True).method
                    except pika.exceptions.ChannelClosedByBroker as exc:
                        if exc.reply_code != 404:
                            raise
                        channel = connection.channel()
                        continue
                    found[name] = (method.message_count, method.consumer_count)
        finally:
            close_quietly(connection)
        return found

    def _held(self, vhost: str, statistics: Mapping[str, Mapping[str, Any]], doing: str, *,
              consumers_count: bool = True) -> dict[str, int | None]:
        """What each of these queues holds now (gone ones hold 0): the exact ready count and consumers,
        with the management API's unacknowledged count (see `_queue_messages`)."""
        exact = self._exact(vhost, sorted(statistics), doing)
        return {name: _queue_messages(exact[name][0], exact[name][1] if consumers_count else 0, statistics[name])
                if name in exact else 0 for name in statistics}

    # ------------------------------------------------------------------------------------ lock

    def lock(self, holder: str, wait: float) -> None:
        """An exclusive queue in the AMQP URL's vhost, held by one connection until close()."""
        if self._lock is not None:
            return
        vhost, doing = self._lock_vhost, "to take the apply lock"
        connection = self._amqp(vhost, doing)
        try:
            with self._errors(doing, vhost):
                self._declare_lock(connection, vhost, holder, wait)
        except BaseException:
            close_quietly(connection)
            raise
        stop = threading.Event()
        keeper = threading.Thread(target=_keep_alive, args=(connection, stop), name="rabbitmq-apply-lock", daemon=True)
        keeper.start()
        self._lock = (connection, stop, keeper)

    def _declare_lock(self, connection: BlockingConnection, vhost: str, holder: str, wait: float) -> None:
        """Declare the lock queue, again every _LOCK_POLL seconds while another connection holds it."""
        import pika.exceptions

        deadline = time.monotonic() + max(0.0, wait)
        while True:
            try:
                connection.channel().queue_declare(LOCK_QUEUE, exclusive=True, auto_delete=True,
                                                   arguments={_HOLDER: holder})
                return
            except pika.exceptions.ChannelClosedByBroker as exc:
                if exc.reply_code != 405:  # 405 RESOURCE_LOCKED: another connection holds it
                    raise self._lock_refused(exc, vhost) from exc
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._locked(vhost, wait)
            connection.sleep(min(_LOCK_POLL, remaining))

    def _locked(self, vhost: str, wait: float) -> LockedError:
        queue = self._json(f"/api/queues/{_q(vhost)}/{_q(LOCK_QUEUE)}", missing_ok=True) or {}
        waited = f"after waiting {wait:g}s" if wait > 0 else "without waiting"
        at = f"RabbitMQ at {self.where}"
        if queue and not queue.get("exclusive", True):
            return LockedError(f"{at} has a queue `{LOCK_QUEUE}` in vhost {vhost!r} that is not an apply lock "
                               "(it is not exclusive); delete that queue, then apply again")
        holder = (queue.get("arguments") or {}).get(_HOLDER) or "another apply"
        return LockedError(f"{at} is locked by {holder}, {waited}; wait for that apply to finish (the lock goes "
                           "with its connection), or re-run with --lock-timeout DURATION to wait for it")

    def _lock_refused(self, exc: Any, vhost: str) -> BrokerError:
        if exc.reply_code == 403:
            return BrokerUnavailable(
                f"RabbitMQ at {self.where} refused user {self.amqp_url.username or 'guest'!r} the apply lock queue "
                f"`{LOCK_QUEUE}` in vhost {vhost!r}; grant it configure permission on `^topology\\.apply-lock$` "
                "there, or set the target's amqp_url to a vhost it may use (every apply to this broker must use "
                "the same one)")
        return BrokerError(f"RabbitMQ at {self.where} refused the apply lock queue `{LOCK_QUEUE}` in vhost "
                           f"{vhost!r} ({_closed_reason(exc)}); check the broker's log")

    def _release_lock(self) -> None:
        if self._lock is None:
            return
        connection, stop, keeper = self._lock
        self._lock = None
        stop.set()
        with contextlib.suppress(*_pika_errors()):  # the connection is gone already: the keeper has stopped
            connection.add_callback_threadsafe(lambda: None)  # wake the keeper now
        keeper.join()
        close_quietly(connection)  # the broker deletes the exclusive queue with its connection

    # ------------------------------------------------------------------------------------ inspect

    def _vhosts(self, selection: Selection) -> list[str]:
        """The vhosts to read: those declared, and when pruning every one the include globs may select
        something in (another team's vhost is not read: its state, or a failure to list it, is not ours)."""
        named = set(selection.containers)
        if selection.prune:
            named |= {v["name"] for v in self._json("/api/vhosts", columns="name")
                      if _may_select(selection.include, v["name"])}
        return sorted(named)

    def inspect(self, selection: Selection) -> dict[str, Live]:
        live: dict[str, Live] = {}
        existing = {v["name"]: v for v in self._json("/api/vhosts", columns=_VHOST_COLUMNS)}
        vhosts = [vhost for vhost in self._vhosts(selection) if vhost in existing]
        with reading_pool(min(self.parallelism, len(vhosts))) as pool:  # the broker answers vhosts side by side
            inspected = pool.map(lambda v: self._inspect_vhost(v, existing[v], counted=selection.counts), vhosts)
            for vhost, found in zip(vhosts, inspected, strict=True):
                live.update(found)
                # declared limits of a vhost that has none: none is what they are compared with
                if f"rabbitmq/{vhost}/limits" in selection.addresses:
                    live.setdefault(f"rabbitmq/{vhost}/limits", _limits_live(vhost, {}))
        wants_users = selection.prune or any(a.startswith("rabbitmq/user/") for a in selection.addresses)
        if wants_users:
            live.update(self._inspect_users())
        if wants_users or any("/topic-permission/" in a for a in selection.addresses):
            live.update(_live_topic_permissions(self._json("/api/topic-permissions")))
        if wants_users or any("/permission/" in a for a in selection.addresses):
            live.update(_live_permissions(self._json("/api/permissions")))
        if selection.prune or any(a.startswith("rabbitmq/global-parameter/") for a in selection.addresses):
            live.update(parameters.live_globals(self._json("/api/global-parameters")))
        # Every policy of a vhost in scope is read, managed or not: which one applies to a queue (and so
        # which limits) depends on all of them; the differ uses them to see what a policy change discards.
        # Those of other vhosts (listed when pruning) are left out: they change with other teams' work.
        wanted = {address: item for address, item in live.items() if selection.wants(address)}
        scopes = set(selection.containers) | {item.name if item.kind == "rabbitmq.vhost" else item.scope
                                              for item in wanted.values()}
        return {**wanted, **{address: item for address, item in live.items()
                             if item.kind in _POLICIES and item.scope in scopes}}

    def _inspect_users(self) -> dict[str, Live]:
        live: dict[str, Live] = {}
        for user in self._json("/api/users"):
            tags = user["tags"] if isinstance(user["tags"], list) else [t for t in user["tags"].split(",") if t]
            with self._hashes_lock:
                self._hashes[user["name"]] = (user.get("password_hash", ""), user.get("hashing_algorithm", ""))
            live[f"rabbitmq/user/{user['name']}"] = Live(
                "rabbitmq.user", {"tags": sorted(tags), "limits": dict(user.get("limits") or {})}, name=user["name"])
        return live

    def _vhost_live(self, vhost: str, contents: Mapping[str, int | None],
                    attributes: Mapping[str, Any] | None = None, *, counted: bool = True) -> Live:
        """The vhost as a container: what each queue in it holds, and their sum (None if any is unknown);
        not `counted`: not read yet."""
        counts = list(contents.values())
        total = None if any(c is None for c in counts) else sum(c for c in counts if c is not None)
        return Live("rabbitmq.vhost", dict(attributes or {}), messages=total, contents=dict(contents), name=vhost,
                    counted=counted)

    def _listed_counts(self, vhost: str, statistics: Mapping[str, dict[str, Any]]) -> dict[str, int | None]:
        """Messages (ready + unacknowledged) per queue from the one listing (`_queues`); a queue too new to
        have statistics is counted by a passive declare instead (unknown if that cannot be done)."""
        counts: dict[str, int | None] = {name: q.get("messages") for name, q in statistics.items()}
        missing = {name: statistics[name] for name, count in counts.items() if count is None}
        if missing:
            with contextlib.suppress(BrokerError):  # else left unknown: a plan that would lose them says so
                counts.update(self._held(vhost, missing, "to count the messages of new queues"))
        return counts

    def _inspect_vhost(self, vhost: str, listed: Mapping[str, Any] | None = None, *,
                       counted: bool = True) -> dict[str, Live]:
        """Everything in one vhost, and the vhost with its metadata (from its entry in the vhost listing,
        read here when not given), and its limits when it has any (a parameter in its definitions).
        The queue listing (the broker works out every queue's statistics) is read while the definitions are;
        not `counted`, it is not read, and what each queue holds is unknown until `counted` reads it."""
        with reading_pool(2 if counted else 1) as pool:
            statistics = pool.submit(self._queues, vhost) if counted else None
            definitions = self._definitions(vhost)
            if listed is None:
                listed = self._json(f"/api/vhosts/{_q(vhost)}", missing_ok=True, columns=_VHOST_COLUMNS)
            if definitions is None or listed is None:  # deleted since the vhosts were listed (on a shared broker)
                return {}
            if statistics is not None:
                counts: dict[str, int | None] = self._listed_counts(vhost, statistics.result())
            else:
                counts = {str(q["name"]): None for q in definitions.get("queues", []) if q["name"] != LOCK_QUEUE}
        attributes = _vhost_attributes(listed)
        self._queue_types[vhost] = attributes["default_queue_type"] or "classic"
        live: dict[str, Live] = {f"rabbitmq/vhost/{vhost}": self._vhost_live(vhost, counts, attributes,
                                                                             counted=statistics is not None)}
        limits = next((p.get("value") or {} for p in definitions.get("parameters", [])
                       if p.get("component") == "vhost-limits"), {})
        if limits:
            live[f"rabbitmq/{vhost}/limits"] = _limits_live(vhost, limits)
        live.update(_live_exchanges(vhost, definitions.get("exchanges", [])))
        live.update(_live_queues(vhost, definitions.get("queues", []), counts))
        live.update(_live_bindings(vhost, definitions.get("bindings", [])))
        live.update(_live_policies(vhost, definitions.get("policies", []), definitions.get("parameters", [])))
        live.update(parameters.live_vhost(vhost, definitions.get("parameters", []),
                                          lambda path: self._json(path, missing_ok=True), self._uris))
        return live

    def counted(self, live: Mapping[str, Live], changes: Sequence[Change]) -> Mapping[str, Live]:
        """The queue listing of each vhost a change is in, read now that the plan has changes there: what each
        queue, and the vhost, holds (a policy change's data loss reads its vhost's queues)."""
        touched = {c.name if c.kind == "rabbitmq.vhost" else c.scope for c in changes}
        vhosts = sorted(v for v in touched if (item := live.get(f"rabbitmq/vhost/{v}")) is not None
                        and not item.counted)
        if not vhosts:
            return live
        with reading_pool(min(self.parallelism, len(vhosts))) as pool:
            read = dict(zip(vhosts, pool.map(lambda v: self._listed_counts(v, self._queues(v)), vhosts), strict=True))
        updated = dict(live)
        for address, item in live.items():
            if item.kind == "rabbitmq.vhost" and item.name in read:
                updated[address] = self._vhost_live(item.name, read[item.name], item.attributes)
            elif item.kind == "rabbitmq.queue" and item.scope in read:
                updated[address] = dataclasses.replace(item, messages=read[item.scope].get(item.name))
        return updated

    def _definitions(self, vhost: str) -> Any:
        """The vhost's definitions; None when it is gone. A failure of the broker's own (HTTP 500) is said
        with its one known cause: RabbitMQ's management API cannot format a binding that has arguments and a
        `~` in its routing key (rabbit_mgmt_format:pack_binding_props), so no listing of the vhost's bindings
        and no definitions export works while one exists."""
        try:
            return self._json(f"/api/definitions/{_q(vhost)}", missing_ok=True)
        except BrokerError as exc:
            cause = exc.__cause__
            if not (isinstance(cause, httpx.HTTPStatusError) and cause.response.status_code == 500):
                raise
            raise BrokerError(
                f"RabbitMQ at {self.where} failed (HTTP 500) to list the definitions of vhost {vhost!r}; if its log "
                "names pack_binding_props, the vhost holds a binding with arguments and a `~` in its routing key, "
                "which RabbitMQ's management API cannot list: re-create that binding without the `~`, then run the "
                "command again") from exc

    def count_messages(self, live: Mapping[str, Live]) -> dict[str, int | None]:
        """What the queues and vhosts about to be replaced or deleted hold, exactly where the broker can
        say: ready messages by a passive declare over AMQP, unacknowledged ones from the management API
        (see `_queue_messages`); a vhost holds the sum over its queues. Other kinds are not counted."""
        counts: dict[str, int | None] = {}
        by_vhost: dict[str, list[str]] = {}
        for address, item in live.items():
            if item.kind in ("rabbitmq.queue", "rabbitmq.vhost"):
                by_vhost.setdefault(item.scope if item.kind == "rabbitmq.queue" else item.name, []).append(address)
        doing = "to count messages before a replace or delete"
        for vhost, addresses in sorted(by_vhost.items()):
            statistics = self._queues(vhost)
            wanted = statistics if any(live[a].kind == "rabbitmq.vhost" for a in addresses) else \
                {live[a].name: statistics.get(live[a].name, {}) for a in addresses}
            held = self._held(vhost, wanted, doing)
            for address in addresses:
                item = live[address]
                counts[address] = held.get(item.name, 0) if item.kind == "rabbitmq.queue" else \
                    self._vhost_live(vhost, held).messages
        return counts

    def own_access(self, live: Mapping[str, Live]) -> dict[str, str]:
        """The users of `url` and `amqp_url` and their permissions (access.py)."""
        return access.own_access(live, access.connecting_users(self.user, self.amqp_url.username or "guest"))

    def health(self, watches: Sequence[Watch]) -> list[Reading]:
        """The watched queues' ready and unacknowledged messages, consumers and message age: one queue listing
        per vhost (see health.py; the figures are as old as the broker's last statistics refresh)."""
        def listing(vhost: str) -> list[dict[str, Any]] | None:
            found = self._json(f"/api/queues/{_q(vhost)}", missing_ok=True, columns=queue_health.COLUMNS)
            return None if found is None else [q for q in found if q["name"] != LOCK_QUEUE]

        return queue_health.read_health(
            watches, listing, lambda vhost, names: self._exact(vhost, names, "to count the messages of new queues"),
            parallelism=self.parallelism)

    def _stored_password(self, user: str) -> tuple[str, str]:
        """The user's (password_hash, hashing_algorithm) as inspect last read it, else read now."""
        with self._hashes_lock:
            known = self._hashes.get(user)
        if known is None:
            found = self._json(f"/api/users/{_q(user)}", missing_ok=True) or {}
            known = (found.get("password_hash", ""), found.get("hashing_algorithm", ""))
            with self._hashes_lock:
                self._hashes.setdefault(user, known)
        return known

    def secret_matches(self, desired: Resource, live: Live) -> bool:
        if desired.kind in parameters.KINDS:
            return parameters.secrets_match(desired, self._uris.get(desired.address))
        password = desired.secrets.get("password")
        if password is None:
            return True  # no password in the file: the password is not managed
        stored, algorithm = self._stored_password(desired.name)
        if not stored:
            return False
        raw = base64.b64decode(stored)
        digest = hashlib.sha512 if algorithm.endswith("sha512") else (
            hashlib.md5 if algorithm.endswith("md5") else hashlib.sha256)
        return base64.b64encode(raw[:4] + digest(raw[:4] + password.reveal().encode()).digest()).decode() == stored

    # -------------------------------------------------------------------------------------- apply

    def together(self, change: Change, prerequisite: Change) -> bool:
        """Creates imported into the same vhost go in one definitions import, which creates queues and
        exchanges before the bindings between them."""
        return _imported_create(change) and _imported_create(prerequisite) and change.scope == prerequisite.scope

    def apply(self, changes: Sequence[Change], desired: Mapping[str, Resource]) -> list[ChangeResult]:
        imports: dict[str, list[Change]] = {}
        singles: list[Change] = []
        for change in changes:
            if _imported_create(change):
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
        if (unstarted := self.unstarted(change)) is not None:
            return [unstarted]
        try:
            self._apply_one(change, desired)
        except _NotEmpty as refused:
            return [refused_not_empty(change, refused.what)]
        except BrokerError as exc:
            return [ChangeResult(change.address, False, str(exc))]
        return [ChangeResult(change.address, True)]

    def _import(self, vhost: str, batch: list[Change]) -> list[ChangeResult]:
        if self.stopping.is_set():
            return [ChangeResult(c.address, False, started=False) for c in batch]
        definitions: dict[str, list[dict[str, Any]]] = {"queues": [], "exchanges": [], "bindings": [], "policies": []}
        default_type = self._default_queue_type(vhost) if any(c.kind == "rabbitmq.queue" for c in batch) else None
        for change in batch:
            assert change.after is not None
            definitions[_IMPORTED[change.kind]].append(_definition(change.kind, change.name, change.after,
                                                                   default_type))
        try:
            self._send("POST", f"/api/definitions/{_q(vhost)}", definitions)
            live = self._inspect_vhost(vhost, counted=False)  # what was made, not what it holds
        except BrokerError as exc:
            return [ChangeResult(c.address, False, str(exc)) for c in batch]
        results = [_imported(change, live.get(change.address)) for change in batch]
        if all(result.ok for result in results):
            return results
        down = self._down(vhost)  # the import skips a binding to a queue on a node that is down, silently
        return [ChangeResult(r.address, False, _on_down_node(c.scope, c.after["destination"], down))
                if not r.ok and c.kind == "rabbitmq.binding" and c.after and c.after["destination"] in down else r
                for c, r in zip(batch, results, strict=True)]

    def _apply_one(self, change: Change, desired: Resource | None) -> None:
        if change.kind in parameters.KINDS:
            refused = parameters.apply_change(change, desired, self._request,
                                              lambda path: self._json(path, missing_ok=True), self.where)
            if refused is not None:
                raise _NotEmpty(refused)
            return
        if change.kind == "rabbitmq.vhost_limits":
            self._apply_limits("vhost-limits", change.scope, (change.after or {}).get("limits", {}))
            return
        if change.kind not in _PUTS:
            raise BrokerError(f"{change.address}: the RabbitMQ driver does not manage {change.kind}")
        if change.kind == "rabbitmq.vhost":
            self._apply_vhost(change)
            return
        put = self._put(change, desired) if change.action != "delete" else None  # read before a replace deletes
        if change.action in ("delete", "replace"):
            self._delete(change)
        if put is None:
            return
        if change.needs_empty and change.kind in _POLICIES:
            self._check_policy_empty(change)
        self._send(*put)
        if change.kind == "rabbitmq.user" and "limits" in (change.after or {}):
            self._apply_limits("user-limits", change.name, (change.after or {})["limits"])

    def _put(self, change: Change, desired: Resource | None) -> tuple[str, str, dict[str, Any]]:
        """The request that creates or updates the object; a user without a password in the file keeps
        the one it has."""
        method, path, body = _PUTS[change.kind](change, desired)
        if change.kind == "rabbitmq.queue":
            body = _definition(change.kind, change.name, change.after or {}, self._default_queue_type(change.scope))
        if change.kind == "rabbitmq.user" and "password" not in body:
            found = self._json(f"/api/users/{_q(change.name)}", missing_ok=True) or {}
            body["password_hash"] = str(found.get("password_hash", ""))
        return method, path, body

    def _apply_vhost(self, change: Change) -> None:
        path = f"/api/vhosts/{_q(change.name)}"
        if change.action != "delete":
            after = change.after or {}
            metadata = {key: after[key] for key in _VHOST_METADATA if key in after}
            if metadata:
                self._write_vhost_metadata(change.name, metadata)
            elif change.action == "create":
                self._send("PUT", path, {})  # (on an existing vhost, a PUT resets the metadata it leaves out)
            return
        if change.needs_empty:
            self._check_vhost_empty(change.name)
        self._send("DELETE", path, gone_ok=True)

    def _default_queue_type(self, vhost: str) -> str | None:
        """The type RabbitMQ gives a queue declared in `vhost` without x-queue-type, as inspect read it, else
        read now; None when it cannot be read (a queue's type is then said, which is always right)."""
        known = self._queue_types.get(vhost)
        if known is not None:
            return known
        try:
            listed = self._json(f"/api/vhosts/{_q(vhost)}", missing_ok=True, columns="default_queue_type")
        except BrokerError:
            return None
        return None if listed is None else _queue_type_of(listed) or "classic"

    def _write_vhost_metadata(self, vhost: str, declared: Mapping[str, Any]) -> None:
        """The declared metadata, the rest kept as it is, through a definitions import: on RabbitMQ 3.10 a PUT
        to an existing vhost resets the default queue type, an import keeps it (and sets it on a new vhost)."""
        self._queue_types.pop(vhost, None)
        current = self._json(f"/api/vhosts/{_q(vhost)}", missing_ok=True, columns=_VHOST_COLUMNS) or {}
        was = _vhost_attributes(current) if current else {}
        description = declared.get("description", was.get("description", ""))
        tags = list(declared.get("tags", was.get("tags", [])))
        queue_type = declared.get("default_queue_type", was.get("default_queue_type"))
        metadata = {"description": description, "tags": tags,
                    **({"default_queue_type": queue_type} if queue_type else {})}
        tracing = declared.get("tracing", was.get("tracing", False))
        self._send("POST", "/api/definitions", {"vhosts": [{"name": vhost, **metadata, "tracing": tracing,
                                                            "metadata": metadata}]})
        if "default_queue_type" not in declared:
            return
        now = _queue_type_of(self._json(f"/api/vhosts/{_q(vhost)}", missing_ok=True, columns=_VHOST_COLUMNS) or {})
        if now != declared["default_queue_type"]:
            kept, keep = (f"`{now}` as the default queue type", f"`default_queue_type: {now}`") if now else (
                "no default queue type", "no default_queue_type")
            raise BrokerError(
                f"RabbitMQ at {self.where} kept {kept} of vhost {vhost!r} (RabbitMQ 3.10 sets it only when it creates "
                f"a vhost); its description and tags are written. Keep {keep}, or delete and re-create the vhost "
                "(which deletes everything in it)")

    def _apply_limits(self, endpoint: str, name: str, wanted: Mapping[str, int]) -> None:
        """Set the limits named, lift the others (`endpoint`: vhost-limits or user-limits)."""
        path = f"/api/{endpoint}/{_q(name)}"
        listed = self._json(path, missing_ok=True) or []
        current = dict(listed[0].get("value") or {}) if listed else {}
        for key in sorted(set(wanted) | set(current)):
            if key in wanted:
                if current.get(key) != wanted[key] or key not in current:
                    self._send("PUT", f"{path}/{_q(key)}", {"value": wanted[key]})
            else:
                self._send("DELETE", f"{path}/{_q(key)}", gone_ok=True)

    # ---------------------------------------------------------------- planned empty: still empty?

    def _check_vhost_empty(self, vhost: str) -> None:
        """Every queue of the vhost holds nothing, by `_held`, just before the delete (not atomic
        with the delete that follows: a message published in between those milliseconds is lost)."""
        statistics = self._queues(vhost)
        _refuse_if_any(self._held(vhost, statistics, "to check that the vhost is still empty"), "in its queues")

    def _policies(self, vhost: str) -> dict[str, Live]:
        """The vhost's policies and operator policies as they are now (for which limits apply where)."""
        found: dict[str, Live] = {}
        for path, kind, part in (("policies", "rabbitmq.policy", "policy"),
                                 ("operator-policies", "rabbitmq.operator_policy", "operator-policy")):
            for item in self._json(f"/api/{path}/{_q(vhost)}", missing_ok=True) or []:
                found[f"rabbitmq/{vhost}/{part}/{item['name']}"] = Live(kind, _policy(item), name=item["name"],
                                                                         scope=vhost)
        return found

    def _check_policy_empty(self, change: Change) -> None:
        """The queues the policy applies to hold nothing: ready messages exactly, unacknowledged ones by the
        management API (consumers alone do not count: a limit discards ready messages)."""
        statistics = self._queues(change.scope)
        vaddress = f"rabbitmq/vhost/{change.scope}"
        policies = self._policies(change.scope)  # the others' limits, as they are now

        def held(contents: Mapping[str, int | None]) -> int | None:
            live = {vaddress: self._vhost_live(change.scope, contents), **policies}
            return held_now(change.kind, change.address, change.scope,
                            None if change.action == "delete" else change.after, live, before=change.before)

        matched = {n: q for n, q in statistics.items() if held({n: 1}) != 0}
        exact = held(self._held(change.scope, matched, "to check that the queues a policy limits are still empty",
                                consumers_count=False))
        if exact != 0:
            raise _NotEmpty(f"{_count(exact)} in the queues it applies to")

    # ----------------------------------------------------------------------------------- delete

    def _delete(self, change: Change) -> None:
        if change.kind == "rabbitmq.queue":
            self._delete_queue(change, change.scope, change.name)
        elif change.kind in ("rabbitmq.binding", "rabbitmq.exchange_binding"):
            self._delete_binding(change)
        elif change.kind == "rabbitmq.topic_permission":
            self._delete_topic_permission(change)
        else:
            if change.kind in _POLICIES and change.action == "delete" and change.needs_empty:
                self._check_policy_empty(change)  # its removal can let another policy's limits apply
            self._send("DELETE", _object_path(change.kind, change.scope, change.name), gone_ok=True)

    def _delete_binding(self, change: Change) -> None:
        """Every binding between the two with the change's routing key and arguments."""
        before = change.before or {}
        path = _binding_path(change.scope, before)
        for binding in self._json(path, missing_ok=True) or []:
            if binding["routing_key"] == before["routing_key"] and \
                    (binding.get("arguments") or {}) == before.get("arguments", {}):
                self._send("DELETE", f"{path}/{_q(binding['properties_key'])}", gone_ok=True)

    def _delete_topic_permission(self, change: Change) -> None:
        """The API deletes a user's topic permissions in a vhost all at once: put back the others."""
        path = f"/api/topic-permissions/{_q(change.scope)}/{_q(change.name)}"
        others = [t for t in self._json(path, missing_ok=True) or []
                  if t["exchange"] != (change.before or {}).get("exchange")]
        self._send("DELETE", path, gone_ok=True)
        for other in others:
            self._send("PUT", path, {k: other[k] for k in ("exchange", "write", "read")})

    def _delete_queue(self, change: Change, vhost: str, name: str) -> None:
        """Unconditionally when the user allowed the loss; else only if it holds nothing: the
        unacknowledged count first (the broker's delete cannot check it), then a delete that the
        broker refuses atomically if the queue has ready messages or consumers."""
        path = f"/api/queues/{_q(vhost)}/{_q(name)}"
        guarded = not change.loses_data
        if guarded:
            statistics = self._json(path, missing_ok=True, columns=_QUEUE_COLUMNS)
            if statistics is None:
                self._not_down(vhost, name)
                return  # gone since the plan: nothing to lose, nothing to delete
            unacknowledged = int(statistics.get("messages_unacknowledged") or 0)
            if unacknowledged:
                raise _NotEmpty(f"{_count(unacknowledged)} unacknowledged by its consumers")
        params = {"if-empty": "true", "if-unused": "true"} if guarded else None
        response = self._request("DELETE", path, expect=range(400, 600), params=params)
        reason = _reason(response) if response.status_code == 400 else ""
        if guarded and ("not empty" in reason or "in use" in reason):
            raise _NotEmpty(self._refusal(vhost, name, reason))
        if response.status_code == 404:
            self._not_down(vhost, name)
        else:
            with self._errors(f"DELETE queue {name!r} in vhost {vhost!r}"):
                response.raise_for_status()

    def _refusal(self, vhost: str, name: str, reason: str) -> str:
        """What a queue the broker would not delete holds, as exactly as it can be said."""
        try:
            exact = self._exact(vhost, [name], "to count the messages of a queue that is not empty")
        except BrokerError:
            exact = {}
        ready, consumers = exact.get(name, (0, 0))
        if "in use" in reason or consumers:
            of = f"{consumers} consumer{'' if consumers == 1 else 's'}" if consumers else "its consumers"
            return f"{_count(ready) + ' and ' if ready else ''}unacknowledged messages of {of} (how many is unknown)"
        return _count(ready or None)


def _on_down_node(vhost: str, queue: str, down: Mapping[str, str]) -> str:
    return f"queue {queue!r} in vhost {vhost!r} is on node {down[queue]}, which is down; start that node, then apply " \
        "again"


def _imported_create(change: Change) -> bool:
    """A create the definitions import carries out (one that must find its object empty is done alone)."""
    return change.action == "create" and change.kind in _IMPORTED and not change.needs_empty


def _imported(change: Change, found: Live | None) -> ChangeResult:
    """Whether a definitions import made the object `change` asks for."""
    if found is None:
        return ChangeResult(change.address, False, "the definitions import did not create it")
    differing = [k for k, v in (change.after or {}).items() if found.attributes.get(k) != v]
    if differing:
        return ChangeResult(change.address, False, f"it already exists with other {', '.join(differing)}; plan "
                            "again to replace it")
    return ChangeResult(change.address, True)


# ------------------------------------------------------------------------------- request shapes

_POLICIES = ("rabbitmq.policy", "rabbitmq.operator_policy")


def _binding_path(vhost: str, binding: Mapping[str, Any]) -> str:
    to = "q" if binding.get("destination_type") == "queue" else "e"
    return f"/api/bindings/{_q(vhost)}/e/{_q(binding['source'])}/{to}/{_q(binding['destination'])}"


def _object_path(kind: str, vhost: str, name: str) -> str:
    """The management API path of one object (not of a binding: bindings have no one path)."""
    v, n = _q(vhost), _q(name)
    return {"rabbitmq.vhost": f"/api/vhosts/{n}", "rabbitmq.queue": f"/api/queues/{v}/{n}",
            "rabbitmq.exchange": f"/api/exchanges/{v}/{n}", "rabbitmq.policy": f"/api/policies/{v}/{n}",
            "rabbitmq.operator_policy": f"/api/operator-policies/{v}/{n}", "rabbitmq.user": f"/api/users/{n}",
            "rabbitmq.permission": f"/api/permissions/{v}/{n}",
            "rabbitmq.topic_permission": f"/api/topic-permissions/{v}/{n}"}[kind]


def _put_user(change: Change, desired: Resource | None) -> tuple[str, str, dict[str, Any]]:
    body: dict[str, Any] = {"tags": ",".join((change.after or {}).get("tags", []))}
    password = desired.secrets.get("password") if desired else None
    if password is not None:
        body["password"] = password.reveal()
    return "PUT", _object_path(change.kind, change.scope, change.name), body


def _put_binding(change: Change, desired: Resource | None) -> tuple[str, str, dict[str, Any]]:
    after = change.after or {}
    return "POST", _binding_path(change.scope, after), {"routing_key": after["routing_key"],
                                                        "arguments": after["arguments"]}


def _put_object(change: Change, desired: Resource | None) -> tuple[str, str, dict[str, Any]]:
    return "PUT", _object_path(change.kind, change.scope, change.name), _definition(change.kind, change.name,
                                                                                   change.after or {})


def _put_fields(*fields: str) -> Callable[[Change, Resource | None], tuple[str, str, dict[str, Any]]]:
    """A permission's request: its fields, at the path of the user it is for."""

    def put(change: Change, desired: Resource | None) -> tuple[str, str, dict[str, Any]]:
        after = change.after or {}
        return "PUT", _object_path(change.kind, change.scope, after["user"]), {k: after[k] for k in fields}
    return put


# kind -> the request that creates or updates it: (method, path, body)
_PUTS: dict[str, Callable[[Change, Resource | None], tuple[str, str, dict[str, Any]]]] = {
    "rabbitmq.vhost": lambda change, desired: ("PUT", _object_path(change.kind, "", change.name), {}),
    "rabbitmq.queue": _put_object,
    "rabbitmq.exchange": _put_object,
    "rabbitmq.binding": _put_binding,
    "rabbitmq.exchange_binding": _put_binding,
    "rabbitmq.policy": lambda change, desired: ("PUT", _object_path(change.kind, change.scope, change.name),
                                                _policy(change.after or {})),
    "rabbitmq.operator_policy": lambda change, desired: ("PUT", _object_path(change.kind, change.scope, change.name),
                                                         _policy(change.after or {})),
    "rabbitmq.user": _put_user,
    "rabbitmq.permission": _put_fields("configure", "write", "read"),
    "rabbitmq.topic_permission": _put_fields("exchange", "write", "read"),
}


# ------------------------------------------------------------------------------ live objects


def _live_exchanges(vhost: str, exchanges: Sequence[Mapping[str, Any]]) -> dict[str, Live]:
    vaddress = f"rabbitmq/vhost/{vhost}"
    return {f"rabbitmq/{vhost}/exchange/{exchange['name']}": Live("rabbitmq.exchange", {
        "type": exchange["type"], "durable": exchange["durable"], "auto_delete": exchange["auto_delete"],
        "internal": exchange["internal"], "arguments": exchange.get("arguments") or {}}, (vaddress,),
        name=exchange["name"], scope=vhost)
        for exchange in exchanges if exchange["name"] and not exchange["name"].startswith("amq.")}


def _live_queues(vhost: str, queues: Sequence[Mapping[str, Any]], counts: Mapping[str, int | None]) -> dict[str, Live]:
    live: dict[str, Live] = {}
    for queue in queues:
        if queue["name"].startswith("amq.") or queue["name"] == LOCK_QUEUE:
            continue
        arguments = dict(queue.get("arguments") or {})
        queue_type = arguments.pop("x-queue-type", "classic")
        live[f"rabbitmq/{vhost}/queue/{queue['name']}"] = Live("rabbitmq.queue", {
            "type": queue_type, "durable": queue["durable"], "auto_delete": queue["auto_delete"],
            "arguments": arguments}, (f"rabbitmq/vhost/{vhost}",), counts.get(queue["name"]), name=queue["name"],
            scope=vhost)
    return live


def _live_bindings(vhost: str, bindings: Sequence[Mapping[str, Any]]) -> dict[str, Live]:
    prefix, live = f"rabbitmq/{vhost}", {}
    for binding in bindings:
        source, destination = binding["source"], binding["destination"]
        if not source or destination.startswith("amq.gen-"):
            continue
        to_queue = binding["destination_type"] == "queue"
        arguments = binding.get("arguments") or {}
        address = binding_address(vhost, "binding" if to_queue else "exchange-binding", source, destination,
                                  binding["routing_key"], arguments)
        depends = [f"rabbitmq/vhost/{vhost}", f"{prefix}/{'queue' if to_queue else 'exchange'}/{destination}"]
        if not source.startswith("amq."):
            depends.append(f"{prefix}/exchange/{source}")
        live[address] = Live("rabbitmq.binding" if to_queue else "rabbitmq.exchange_binding", {
            "source": source, "destination": destination, "destination_type": binding["destination_type"],
            "routing_key": binding["routing_key"], "arguments": arguments}, tuple(depends),
            name=f"{source}->{destination}", scope=vhost)
    return live


def _live_policies(vhost: str, policies: Sequence[Mapping[str, Any]],
                   parameters: Sequence[Mapping[str, Any]]) -> dict[str, Live]:
    vaddress = f"rabbitmq/vhost/{vhost}"
    live = {f"rabbitmq/{vhost}/policy/{policy['name']}": Live("rabbitmq.policy", _policy(policy), (vaddress,),
                                                               name=policy["name"], scope=vhost)
            for policy in policies}
    live.update({f"rabbitmq/{vhost}/operator-policy/{parameter['name']}": Live(
        "rabbitmq.operator_policy", _policy(parameter["value"]), (vaddress,), name=parameter["name"], scope=vhost)
        for parameter in parameters if parameter.get("component") == "operator_policy"})
    return live


def _live_topic_permissions(listing: Sequence[Mapping[str, Any]]) -> dict[str, Live]:
    return {f"rabbitmq/{t['vhost']}/topic-permission/{t['user']}/{t['exchange']}": Live(
        "rabbitmq.topic_permission",
        {"user": t["user"], "exchange": t["exchange"], "write": t["write"], "read": t["read"]},
        (f"rabbitmq/user/{t['user']}", f"rabbitmq/vhost/{t['vhost']}"), name=t["user"], scope=t["vhost"])
        for t in listing}


def _live_permissions(listing: Sequence[Mapping[str, Any]]) -> dict[str, Live]:
    return {f"rabbitmq/{p['vhost']}/permission/{p['user']}": Live(
        "rabbitmq.permission",
        {"user": p["user"], "configure": p["configure"], "write": p["write"], "read": p["read"]},
        (f"rabbitmq/user/{p['user']}", f"rabbitmq/vhost/{p['vhost']}"), name=p["user"], scope=p["vhost"])
        for p in listing}


_VHOST_COLUMNS = "name,description,tags,default_queue_type,tracing"
_VHOST_METADATA = ("description", "tags", "default_queue_type", "tracing")


def _may_select(globs: Sequence[str], vhost: str) -> bool:
    """Whether one of `globs` may match the vhost's address or one in it (`rabbitmq/<vhost>/...`): it does
    unless the glob's literal beginning (up to its first wildcard) rules both out."""
    return any(fnmatch.fnmatchcase(f"rabbitmq/vhost/{vhost}", glob) or may_reach(glob, f"rabbitmq/{vhost}/")
               for glob in globs)


def _queue_type_of(listed: Mapping[str, Any]) -> str | None:
    """A vhost's default queue type; None when it has none ("undefined": RabbitMQ 3.10 declares classic queues,
    later releases their node-wide default)."""
    queue_type = listed.get("default_queue_type")
    return queue_type if isinstance(queue_type, str) and queue_type not in ("", "undefined") else None


def _vhost_attributes(listed: Mapping[str, Any]) -> dict[str, Any]:
    """A vhost's metadata, from its entry in the vhost listing."""
    tags = listed.get("tags") or []
    if isinstance(tags, str):
        tags = [tag for tag in tags.split(",") if tag]
    # RabbitMQ keeps vhost tags as atoms, and its JSON says the atoms true, false and null as such
    tags = [tag if isinstance(tag, str) else json.dumps(tag) for tag in tags]
    return {"description": listed.get("description") or "", "tags": sorted(tags),
            "default_queue_type": _queue_type_of(listed), "tracing": bool(listed.get("tracing"))}


def _limits_live(vhost: str, limits: Mapping[str, Any]) -> Live:
    return Live("rabbitmq.vhost_limits", {"limits": dict(limits)}, (f"rabbitmq/vhost/{vhost}",), name="limits",
                scope=vhost)


def _refuse_if_any(counts: Mapping[str, int | None], where: str) -> None:
    """Raise _NotEmpty if any count is not 0: the sum, or unknown if one is unknown."""
    if all(c == 0 for c in counts.values()):
        return
    total = None if any(c is None for c in counts.values()) else sum(c or 0 for c in counts.values())
    raise _NotEmpty(f"{_count(total)} {where}")


def _keep_alive(connection: BlockingConnection, stop: threading.Event) -> None:
    """Serve the lock connection's heartbeats until released; the only thread that uses it meanwhile."""
    while not stop.is_set():
        try:
            connection.process_data_events(time_limit=0.5)
        except _pika_errors():
            return  # the broker closed it: the lock is gone with it


def close_quietly(connection: BlockingConnection) -> None:
    """Close an AMQP connection, saying nothing if it is already broken."""
    with contextlib.suppress(*_pika_errors()):  # closing what is already broken: nothing to report
        if connection.is_open:
            connection.close()


def _definition(kind: str, name: str, after: Mapping[str, Any], default_type: str | None = "classic") -> dict[str, Any]:
    """The management API's JSON for an object, as PUT and definitions import take it. A queue's type is
    said unless it is classic in a vhost whose default is classic (`default_type`; None: unknown): a PUT
    gives the vhost's default to a queue that says none, a definitions import gives classic."""
    if kind == "rabbitmq.queue":
        arguments = dict(after["arguments"])
        if after["type"] != "classic" or default_type != "classic":
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
