"""AWS drivers on moto's server whose clients a test can wrap: the driver makes its clients as it always
does, and the fixture wraps the real (moto-backed) ones it made, passing every call through except
the few a test overrides, where AWS answers differently from moto or a failure is injected. And a TCP
proxy to a real broker that hangs up or goes silent when told (used for Kafka too).

    from tests.aws_clients import AwsDrivers, Faulty, aws_driver_fixture  # noqa: F401 - the fixture

    def test_something(aws_driver: AwsDrivers) -> None:
        faulty = Faulty(create_queue=lambda real, **kwargs: ...)
        driver = aws_driver(sqs=faulty)
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.conftest import AWS_ENDPOINT_URL
from topology.brokers.aws.driver import AwsDriver

__all__ = ["AwsDrivers", "FaultProxy", "Faulty", "aws_driver_fixture"]


class Faulty:
    """Faults for one service's client: each operation named here goes through `fault(real, **kwargs)`
    (which may call the real one); every other call goes to the real client unchanged. `before`, when
    given, is called with the name of every operation before it runs (and may raise in its place)."""

    def __init__(self, *, before: Callable[[str], None] | None = None, **faults: Callable[..., Any]) -> None:
        self.before = before
        self.faults = faults
        self.calls: list[str] = []  # the overridden operations, in the order they were called

    def wrap(self, client: Any) -> Any:
        return _Wrapped(client, self)


class _Wrapped:
    def __init__(self, client: Any, faulty: Faulty) -> None:
        self._client = client
        self._faulty = faulty

    def __getattr__(self, name: str) -> Any:
        real = getattr(self._client, name)
        fault = self._faulty.faults.get(name)
        before = self._faulty.before
        if name not in self._client.meta.method_to_api_mapping or (fault is None and before is None):
            return real

        def call(**kwargs: Any) -> Any:
            if before is not None:
                before(name)
            if fault is None:
                return real(**kwargs)
            self._faulty.calls.append(name)
            return fault(real, **kwargs)
        return call


class AwsDrivers:
    """Makes AwsDrivers on moto's server (`endpoint_url` overrides it), with faults per service."""

    def __init__(self) -> None:
        self.faults: weakref.WeakKeyDictionary[AwsDriver, dict[str, Faulty]] = weakref.WeakKeyDictionary()

    def __call__(self, *, sqs: Faulty | None = None, sns: Faulty | None = None, sts: Faulty | None = None,
                 **options: Any) -> AwsDriver:
        options.setdefault("endpoint_url", AWS_ENDPOINT_URL)
        driver = AwsDriver(region="us-east-1", **options)
        self.faults[driver] = {name: f for name, f in (("sqs", sqs), ("sns", sns), ("sts", sts)) if f is not None}
        return driver

    def wrapped(self, driver: AwsDriver, service: str, client: Any) -> Any:
        faulty = self.faults.get(driver, {}).get(service)
        return faulty.wrap(client) if faulty is not None else client


@pytest.fixture(name="aws_driver")
def aws_driver_fixture(aws_clients: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsDrivers]:
    """AwsDrivers on a freshly reset moto, with moto's test credentials."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    drivers = AwsDrivers()
    make = AwsDriver._new_client

    def new_client(driver: AwsDriver, service: str) -> Any:
        return drivers.wrapped(driver, service, make(driver, service))

    monkeypatch.setattr(AwsDriver, "_new_client", new_client)
    yield drivers


# ------------------------------------------------------------------------------ a TCP fault proxy


class FaultProxy:
    """A TCP proxy to a real broker that relays until told (`mode`) to hang up (close every connection,
    and each new one as soon as it is accepted) or to go silent (keep every connection, forward nothing
    more). `relayed_replies` counts the chunks the broker sent back; `break_after` switches to `then`
    once that many were relayed (a conversation broken after its first answer, say)."""

    def __init__(self, host: str, port: int, *, break_after: int | None = None, then: str = "hang-up") -> None:
        self.target = (host, port)
        self.mode = "relay"
        self.break_after, self.then = break_after, then
        self.relayed_replies = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port = int(self._listener.getsockname()[1])
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _keep(self, *sockets: socket.socket) -> None:
        with self._lock:
            self._sockets.extend(sockets)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                continue
            if self.mode == "hang-up":
                client.close()
                continue
            self._keep(client)
            if self.mode == "silent":
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            self._keep(upstream)
            for source, sink, replies in ((client, upstream, False), (upstream, client, True)):
                thread = threading.Thread(target=self._pipe, args=(source, sink, replies), daemon=True)
                thread.start()
                self._threads.append(thread)

    def _pipe(self, source: socket.socket, sink: socket.socket, replies: bool) -> None:
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([source], [], [], 0.1)
                if not ready:
                    continue
                data = source.recv(65536)
            except (OSError, ValueError):
                return
            if self.mode == "silent":
                continue  # swallowed: the other side waits for an answer that never comes
            if not data or self.mode == "hang-up":
                break
            try:
                sink.sendall(data)
            except OSError:
                break
            if replies:
                self.relayed_replies += 1
                if self.break_after is not None and self.relayed_replies >= self.break_after:
                    self.mode = self.then
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(5)
        with self._lock:
            for end in self._sockets:
                end.close()
        self._listener.close()
