"""Thin fault injection in front of the real brokers, for the tests that drive driver calls into failure.

The one home of the socket-level faults; none knows a broker's protocol beyond one canned reply:

- `closed_port()`: a local port nothing listens on; `full_backlog()`: one that never accepts.
- `SilentServer`: an endpoint that accepts every connection, keeps it, and never answers a byte (the
  `silent_server` fixture of tests/conftest.py is one).
- `FaultProxy`: a TCP proxy to a real broker that relays until it hangs up (closes every connection,
  and every new one as soon as it is accepted) or goes silent (keeps every connection and forwards
  nothing more, either way): from the start, when the test switches its `mode`, or by itself once the
  broker has answered N times.
- `BadServer`: an endpoint that answers every request with a canned reply (`http_reply` makes an HTTP
  one): an HTTP 500, an HTML page, JSON cut short, bytes of no protocol.

Each server is a context manager: leaving it stops the server, joins its threads and closes its sockets.
And `failures_of(call)` reads what a driver call failed with, as the error tests assert on it.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Literal, Self

from topology.brokers.base import ChangeResult
from topology.errors import TopologyError

__all__ = ["BadServer", "FaultProxy", "Mode", "SilentServer", "closed_port", "failures_of", "full_backlog",
           "http_reply"]

Mode = Literal["relay", "hang-up", "silent"]

_TICK = 0.05  # how often the serving threads look again at what the test switched, or at stopping


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def full_backlog() -> Iterator[int]:
    """A local port whose accept queue is full, so a new connection is never accepted (Linux drops the SYN)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = int(listener.getsockname()[1])
        fillers = [socket.socket() for _ in range(3)]
        try:
            for filler in fillers:
                filler.setblocking(False)
                filler.connect_ex(("127.0.0.1", port))
            yield port
        finally:
            for filler in fillers:
                filler.close()


def _close(*ends: socket.socket | None) -> None:
    """Hang up: the peer hears the end at once, whoever else holds the socket."""
    for end in ends:
        if end is None:
            continue
        with contextlib.suppress(OSError):
            end.shutdown(socket.SHUT_RDWR)
        end.close()


def _receive(source: socket.socket) -> bytes:
    """What `source` sent (b"" when it left or broke)."""
    try:
        return source.recv(65536)
    except OSError:
        return b""


def _send(sink: socket.socket, data: bytes) -> bool:
    """Whether `data` reached `sink`."""
    try:
        sink.sendall(data)
    except OSError:
        return False
    return True


class _Server:
    """A listening local socket whose connections `_serve` takes, until `stop()`."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self._listener.settimeout(_TICK)
        self.port = int(self._listener.getsockname()[1])
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._spawn(self._accept_loop)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                connection, _ = self._listener.accept()
            except OSError:
                continue
            self._keep(connection)
            self._serve(connection)

    def _keep(self, connection: socket.socket) -> None:
        with self._lock:
            self._sockets.append(connection)

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _serve(self, connection: socket.socket) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        self._stopping.set()
        self._threads[0].join(5)  # accepts no more: the lists below are complete
        with self._lock:
            threads, sockets = self._threads[1:], list(self._sockets)
        for thread in threads:
            thread.join(5)
        _close(*sockets)
        self._listener.close()


class SilentServer(_Server):
    """An endpoint that accepts every connection and keeps it, never answering a byte; `accepted` holds
    the connections it took (none: nothing tried to connect)."""

    def __init__(self) -> None:
        self.accepted: list[socket.socket] = []
        super().__init__()

    def _serve(self, connection: socket.socket) -> None:
        self.accepted.append(connection)


class FaultProxy(_Server):
    """A TCP proxy to the broker at `upstream`, in `mode`: relaying, hanging up, or silent. The test
    switches `mode` when it likes (from a hook before a client's N-th request, say: a TCP chunk is not a
    request); with `after_answers`, the proxy switches itself to `then` once it has relayed that many
    answers (chunks the broker sent back), breaking a conversation that had begun. `answers` counts them.

    A connection accepted while silent is never carried to the broker; one the broker leaves while the
    proxy is silent stays open, silent, to the client."""

    def __init__(self, upstream: tuple[str, int], *, mode: Mode = "relay", after_answers: int | None = None,
                 then: Mode = "hang-up") -> None:
        self.upstream = upstream
        self.mode: Mode = mode
        self.after_answers, self.then = after_answers, then
        self.answers = 0
        super().__init__()

    def _serve(self, client: socket.socket) -> None:
        if self.mode == "hang-up":
            _close(client)
            return
        upstream = None
        if self.mode == "relay":
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                _close(client)
                return
            self._keep(upstream)
        self._spawn(self._carry, client, upstream)

    def _carry(self, client: socket.socket, upstream: socket.socket | None) -> None:
        """One connection, until the client leaves, the proxy hangs up or stops."""
        sources = [client] if upstream is None else [client, upstream]
        while client in sources and not self._stopping.is_set() and self.mode != "hang-up":
            readable, _, _ = select.select(sources, [], [], _TICK)
            for source in readable:
                if source in sources:
                    self._pass_on(source, client, upstream, sources)
        _close(client, upstream)

    def _pass_on(self, source: socket.socket, client: socket.socket, upstream: socket.socket | None,
                 sources: list[socket.socket]) -> None:
        """What `source` sent, relayed or dropped as the mode says; `sources` loses what is done with."""
        data = _receive(source)
        if not data and source is upstream and self.mode == "silent":
            sources.remove(source)  # the broker left; the client still hears nothing
        elif not data:
            sources.clear()
        elif self.mode == "relay" and upstream is not None:
            if not _send(client if source is upstream else upstream, data):
                sources.clear()
            elif source is upstream:
                self._answered()
        # otherwise (silent, or hanging up) what arrived is dropped

    def _answered(self) -> None:
        with self._lock:
            self.answers += 1
            if self.after_answers is not None and self.answers >= self.after_answers and self.mode == "relay":
                self.mode = self.then


class BadServer(_Server):
    """A TCP endpoint that answers with `reply`: to every HTTP request (by its head and Content-Length)
    when `http`, else to every chunk it receives. With `http`, requests whose first line contains one of
    the `healthy` paths get `healthy_reply` instead (so a client's opening check passes)."""

    def __init__(self, reply: bytes, *, http: bool = True, healthy: tuple[str, ...] = (),
                 healthy_reply: bytes = b"") -> None:
        self.reply, self.http, self.healthy, self.healthy_reply = reply, http, healthy, healthy_reply
        super().__init__()

    def _serve(self, connection: socket.socket) -> None:
        self._spawn(self._answer, connection)

    def _answer(self, connection: socket.socket) -> None:
        connection.settimeout(0.1)
        pending, body_left = b"", 0
        while not self._stopping.is_set():
            try:
                data = connection.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            if not self.http:
                _send(connection, self.reply)
                continue
            skipped = min(body_left, len(data))
            pending, body_left = pending + data[skipped:], body_left - skipped
            while body_left == 0 and b"\r\n\r\n" in pending:
                head, _, pending = pending.partition(b"\r\n\r\n")
                body_left = _content_length(head)
                skipped = min(body_left, len(pending))
                pending, body_left = pending[skipped:], body_left - skipped
                first = head.split(b"\r\n", 1)[0].decode("latin-1")
                _send(connection, self.healthy_reply if any(p in first for p in self.healthy) else self.reply)


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            return int(value.strip())
    return 0


def http_reply(status: str, body: bytes, content_type: str = "application/json") -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body)


def failures_of(call: Callable[[], Any]) -> list[BaseException | str]:
    """What `call` failed with: the topology error it raised, or the error of each change result that
    failed (none: it worked). Any other exception propagates and fails the test."""
    try:
        outcome = call()
    except TopologyError as exc:
        return [exc]
    if isinstance(outcome, list) and all(isinstance(r, ChangeResult) for r in outcome):
        return [r.error or "" for r in outcome if not r.ok]
    return []


def timed_failures(call: Callable[[], Any], *, close: Callable[[], None], seconds: float, name: str) -> list[str]:
    """`failures_of(call)` as sentences, closing with `close` however it ends; the call (and the close)
    must be over within `seconds`."""
    started = time.monotonic()
    try:
        failures = failures_of(call)
    finally:
        close()
    took = time.monotonic() - started
    assert took < seconds, f"{name} took {took:.1f} s"
    return [str(failure) for failure in failures]
