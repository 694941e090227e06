"""Thin fault injection in front of the real brokers, for the tests that drive driver calls into failure.

`FaultProxy` is a TCP proxy to a real broker that relays until told to hang up (it closes every
connection, and every new one as soon as it is accepted) or to go silent (it keeps every connection
and forwards nothing more, either way). `BadServer` is a TCP endpoint that answers every request with
a canned reply: an HTTP 500, an HTML page, JSON cut short, bytes of no protocol. Nothing here knows
a broker's protocol beyond that one reply.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from collections.abc import Iterator
from typing import Literal

__all__ = ["BadServer", "FaultProxy", "closed_port", "http_reply", "serving"]

Mode = Literal["relay", "hang-up", "silent"]


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _Server:
    """A listening socket served by one thread until `stop()`."""

    def __init__(self) -> None:
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(0.1)
        self.port = int(self._listener.getsockname()[1])
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._threads = [threading.Thread(target=self._accept_loop, daemon=True)]
        self._threads[0].start()

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                connection, _ = self._listener.accept()
            except OSError:
                continue
            self._keep(connection)
            self.accepted(connection)

    def _keep(self, connection: socket.socket) -> None:
        with self._lock:
            self._sockets.append(connection)

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def accepted(self, connection: socket.socket) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            threads, sockets = list(self._threads), list(self._sockets)
        for thread in threads:
            thread.join(5)
        for connection in sockets:
            with contextlib.suppress(OSError):
                connection.close()
        self._listener.close()


class FaultProxy(_Server):
    """A TCP proxy to `upstream` whose `mode` the test switches: relay, hang up, go silent."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.mode: Mode = "relay"
        super().__init__()

    def accepted(self, connection: socket.socket) -> None:
        if self.mode == "hang-up":
            connection.close()
        elif self.mode == "relay":
            upstream = socket.create_connection(self.upstream, timeout=5)
            self._keep(upstream)
            self._spawn(self._relay, connection, upstream)
        # silent: kept open, never answered

    def _relay(self, client: socket.socket, upstream: socket.socket) -> None:
        peers = {client: upstream, upstream: client}
        while not self._stopping.is_set() and self.mode != "hang-up":
            readable, _, _ = select.select(list(peers), [], [], 0.05)
            for source in readable:
                try:
                    data = source.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    break
                if self.mode == "relay":
                    peers[source].sendall(data)  # silent: what arrives is dropped
            else:
                continue
            break
        for end in (client, upstream):
            with contextlib.suppress(OSError):
                end.close()


class BadServer(_Server):
    """A TCP endpoint that answers with `reply`: to every HTTP request (by its head and Content-Length)
    when `http`, else to every chunk it receives. With `http`, requests whose first line contains one of
    the `healthy` paths get `healthy_reply` instead (so a client's opening check passes)."""

    def __init__(self, reply: bytes, *, http: bool = True, healthy: tuple[str, ...] = (),
                 healthy_reply: bytes = b"") -> None:
        self.reply, self.http, self.healthy, self.healthy_reply = reply, http, healthy, healthy_reply
        super().__init__()

    def accepted(self, connection: socket.socket) -> None:
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
                self._send(connection, self.reply)
                continue
            skipped = min(body_left, len(data))
            pending, body_left = pending + data[skipped:], body_left - skipped
            while body_left == 0 and b"\r\n\r\n" in pending:
                head, _, pending = pending.partition(b"\r\n\r\n")
                body_left = _content_length(head)
                skipped = min(body_left, len(pending))
                pending, body_left = pending[skipped:], body_left - skipped
                first = head.split(b"\r\n", 1)[0].decode("latin-1")
                self._send(connection, self.healthy_reply if any(p in first for p in self.healthy) else self.reply)

    @staticmethod
    def _send(connection: socket.socket, reply: bytes) -> None:
        with contextlib.suppress(OSError):
            connection.sendall(reply)


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            return int(value.strip())
    return 0


def http_reply(status: str, body: bytes, content_type: str = "application/json") -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body)


@contextlib.contextmanager
def serving(server: _Server) -> Iterator[_Server]:
    try:
        yield server
    finally:
        server.stop()
