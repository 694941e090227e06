"""The Prometheus endpoint `topology exporter` serves: one gauge per metric of every watched object on every
target, the declared limits as gauges beside them, and whether each target could be read.

    topology_<metric>{broker, target, address, role, topic}            what the broker holds now
    topology_limit{broker, target, address, role, topic, limit, metric} the declared bound, in the metric's unit
    topology_breached{broker, target, address, role, topic, limit}     1 while that limit is breached, else 0
    topology_exists{broker, target, address, role, topic}              0 when the object is not on the broker
    topology_up{target, broker}                                         1 when the target was read, 0 when not
    topology_read_seconds{target}                                       how long the target's read served took
    topology_read_timestamp_seconds{target}                             when the target's read served finished

The names and labels are `topology.monitor.series`'s, which the alert rules select. `target` is the
target's name ("local" for the embedded local target); `topic` is the topic of a Kafka group's row and
empty otherwise, so a limit and its metric carry the same labels apart from `limit` and
`metric`, and one rule (`topology_depth > ignoring(limit, metric) topology_limit{limit="max_depth"}`)
covers every queue of every broker. A target that cannot be read is `topology_up 0` with the others
served as usual, never a failed scrape. Each target is read on its own: one read of a target serves every
scrape within `cache_seconds`, scrapes that arrive together share it, and a target whose broker hangs
holds back no other target's read. A target not read yet is `topology_up 0`, with no read timestamp.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.registry import Collector, CollectorRegistry

from topology.core.monitor import LIMITS, METRICS, Watch
from topology.errors import InputError
from topology.monitor.read import Health, Reader, TargetRead
from topology.monitor.series import EXISTS_GAUGE, LABELS, UP_GAUGE, UP_LABELS, gauge, labels, target_label

__all__ = ["HealthCollector", "build_families", "metrics_app", "parse_listen", "serve"]


def series_labels(watch: Watch, topic: str = "") -> list[str]:
    """The values of LABELS, in order, for one watched object (and a Kafka group's topic)."""
    named = labels(watch, topic)
    return [named[label] for label in LABELS]


NOT_READ = "not read yet: the exporter's first read of it is still under way"


@dataclass(frozen=True)
class _Served:
    health: Health
    families: list[Metric]


class HealthCollector(Collector):
    """A collector over a Reader that reads each target on its own, in the background: a target whose
    latest read is older than `cache_seconds` is read again (one read of a target at a time), and the gauges
    are built once per change of any target's latest read.

    A scrape starts a read of every target whose read is older than `cache_seconds` (or joins the one under
    way, so scrapes that arrive together share it) and waits for each at most `wait_seconds` from that read's
    start; a read that takes longer (a broker that hangs until its timeout) leaves the scrape that target's
    latest read, and holds back no other target. A target never read yet is served as `topology_up 0`.
    When a target goes down (with the reason) or comes up, one line says so (`log`), not one per read."""

    def __init__(self, reader: Reader, *, cache_seconds: float, wait_seconds: float = 0.75,
                 log: Callable[[str], None] | None = None) -> None:
        self.reader = reader
        self.cache_seconds = cache_seconds
        self.wait_seconds = wait_seconds
        self.log = log or _to_stderr
        self.targets = list(reader.by_target)
        self._changed = threading.Condition()
        self._latest: dict[str | None, TargetRead] = {}
        self._finished: dict[str | None, float] = {}  # time.monotonic() when each target's latest read finished
        self._under_way: dict[str | None, float] = {}  # time.monotonic() when each read under way began
        self._counts: dict[str | None, int] = dict.fromkeys(self.targets, 0)  # reads finished, per target
        self._version = 0  # changes with every target's read that finishes
        self._building = threading.Lock()
        self._served: tuple[int, _Served] | None = None
        self.reads = 0  # reads of a target finished

    def collect(self) -> Iterator[Metric]:
        yield from self.current().families

    def current(self) -> _Served:
        """What a scrape now is served."""
        with self._changed:
            now = time.monotonic()
            stale = [target for target in self.targets
                     if target not in self._finished or now - self._finished[target] >= self.cache_seconds]
            if stale:
                seen = {target: self._counts[target] for target in stale}
                for target in stale:
                    self._start(target)
                deadline = max(self._under_way.get(target, now) for target in stale) + self.wait_seconds

                def settled() -> bool:
                    clock = time.monotonic()
                    return all(self._counts[target] > seen[target]
                               or clock >= self._under_way.get(target, clock) + self.wait_seconds
                               for target in stale)

                self._changed.wait_for(settled, timeout=max(0.0, deadline - time.monotonic()))
            version, latest = self._version, dict(self._latest)
        return self._built(version, latest)

    def idle(self, timeout: float) -> bool:
        """Wait at most `timeout` for the reads under way, if any; False when one is still under way."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._under_way, timeout=timeout)

    def refresh(self) -> None:
        """Start a read of every target that is not being read (the exporter warms its cache so)."""
        with self._changed:
            for target in self.targets:
                self._start(target)

    def _built(self, version: int, latest: dict[str | None, TargetRead]) -> _Served:
        """The gauges of these reads, built once per version; a version older than the one served is not."""
        with self._building:
            if self._served is None or self._served[0] < version:
                reads = [latest[target] for target in self.targets if target in latest]
                health = Health.of(self.reader.watches, reads)
                health.errors.update((target, NOT_READ) for target in self.targets if target not in latest)
                self._served = (version, _Served(health, build_families(health)))
            return self._served[1]

    def _start(self, target: str | None) -> None:  # with self._changed held
        if target not in self._under_way:
            self._under_way[target] = time.monotonic()
            threading.Thread(target=self._run, args=(target,), name=f"topology-exporter-read-{target_label(target)}",
                             daemon=True).start()

    def _run(self, target: str | None) -> None:
        read: TargetRead | None = None
        try:
            read = self.reader.read_target(target)
        finally:
            with self._changed:
                del self._under_way[target]
                if read is not None:
                    self._said(self._latest.get(target), read)
                    self._latest[target] = read
                    self._finished[target] = time.monotonic()
                    self._counts[target] += 1
                    self._version += 1
                    self.reads += 1
                self._changed.notify_all()

    def _said(self, previous: TargetRead | None, read: TargetRead) -> None:
        """One line when the target's state changes: down (with why) or up, its first read either; none while it
        stays as it was."""
        if previous is not None and previous.up == read.up:
            return
        brokers = ", ".join(sorted({watch.broker for watch in self.reader.by_target[read.target]}))
        named = f"target `{target_label(read.target)}` ({brokers})"
        if read.error is not None:
            self.log(f"{named} is down: {read.error}")
        else:
            self.log(f"{named} is up{'' if previous is None else ' again'} (read in {read.seconds:.2f}s)")


def _to_stderr(line: str) -> None:
    print(f"topology exporter: {line}", file=sys.stderr, flush=True)


def build_families(health: Health) -> list[Metric]:
    """Every gauge of one read."""
    gauges = {name: GaugeMetricFamily(gauge(name), metric.help, labels=LABELS,
                                      unit="seconds" if metric.unit == "seconds" else "")
              for name, metric in METRICS.items()}
    limit = GaugeMetricFamily("topology_limit", "A declared monitor: limit, in its metric's unit (seconds for "
                              "durations); `metric` names the topology_<metric> gauge it bounds.",
                              labels=(*LABELS, "limit", "metric"))
    breached = GaugeMetricFamily("topology_breached", "1 while the declared limit is breached, 0 while it holds "
                                 "(absent while it cannot be measured).", labels=(*LABELS, "limit"))
    exists = GaugeMetricFamily(EXISTS_GAUGE, "1 when the declared object exists on the broker, 0 when not.",
                               labels=LABELS)
    up = GaugeMetricFamily(UP_GAUGE, "1 when the target's broker was read, 0 when it could not be.",
                           labels=UP_LABELS)
    seconds = GaugeMetricFamily("topology_read_seconds", "How long reading the target's health took.",
                                labels=("target",), unit="seconds")
    taken = GaugeMetricFamily("topology_read_timestamp_seconds", "When the target's read served finished (Unix "
                              "time); absent until its first read has; one read serves every scrape within the "
                              "exporter's --cache.", labels=("target",), unit="seconds")

    by_address: dict[str, list[tuple[str, dict[str, float], bool]]] = {}
    for reading in health.readings:
        by_address.setdefault(reading.address, []).append((reading.part, dict(reading.metrics), reading.missing))
    brokers: dict[str | None, set[str]] = {}
    for watch in health.watches:
        brokers.setdefault(watch.target, set()).add(watch.broker)
        down = watch.target in health.errors
        parts: Sequence[tuple[str, dict[str, float], bool]] = () if down else by_address.get(watch.address, ())
        topics = _topics(watch, parts)
        for topic in topics:
            values = series_labels(watch, topic)
            for name, declared in watch.limits.items():
                bound = LIMITS[name]
                limit.add_metric([*values, name, bound.metric], bound.threshold(declared.value))
        for topic, metrics, missing in parts:
            values = series_labels(watch, topic)
            exists.add_metric(values, 0.0 if missing else 1.0)
            for name, value in metrics.items():
                family = gauges.get(name)
                if family is not None:
                    family.add_metric(values, float(value))
            for name, declared in watch.limits.items():
                bound = LIMITS[name]
                measured = metrics.get(bound.metric)
                if measured is not None:
                    breached.add_metric([*values, name], 1.0 if bound.breached(measured, declared.value) else 0.0)
    for target in sorted(brokers, key=lambda t: t or ""):
        name = target_label(target)
        for broker in sorted(brokers[target]):
            named = {"target": name, "broker": broker}
            up.add_metric([named[label] for label in UP_LABELS], 0.0 if target in health.errors else 1.0)
        if target in health.seconds:
            seconds.add_metric([name], health.seconds[target])
        if target in health.taken:
            taken.add_metric([name], health.taken[target])
    return [*gauges.values(), limit, breached, exists, up, seconds, taken]


def _topics(watch: Watch, parts: Iterable[tuple[str, dict[str, float], bool]]) -> list[str]:
    """The `topic` label values a watch's limits are served under: a Kafka group's limit holds for every topic
    it reads (as declared, and as read), anything else has one row."""
    topics = {topic for topic, _, _ in parts if topic}
    topics.update(watch.topics)
    return sorted(topics) or [""]


def parse_listen(listen: str) -> tuple[str, int]:
    """HOST:PORT (or [IPv6]:PORT, or :PORT for every interface) as a host to bind and a port."""
    text = listen.strip()
    host, sep, port_text = text.rpartition(":")
    if not sep or not port_text.isdigit() or int(port_text) > 65535:
        raise InputError(f"--listen {listen!r} is not HOST:PORT; write it as 127.0.0.1:9464, [::1]:9464 or :9464")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise InputError(f"--listen {listen!r}: {host!r} in brackets is not an IPv6 address") from None
    elif ":" in host:
        raise InputError(f"--listen {listen!r}: write an IPv6 address in brackets, as [{host}]:{port_text}")
    elif "[" in host or "]" in host:
        raise InputError(f"--listen {listen!r} is not HOST:PORT; write it as 127.0.0.1:9464, [::1]:9464 or :9464")
    return host or "0.0.0.0", int(port_text)


class _Fixed(Collector):
    """The gauges of one read, as a collector prometheus_client's encoders take."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families


def metrics_app(collector: HealthCollector, *, keep: int = 8) -> Callable[..., Iterable[bytes]]:
    """A WSGI app serving `collector`'s gauges through prometheus_client's own app (content negotiation,
    gzip, `name[]` filters), each answer encoded once per read: a scrape of a warm cache only sends bytes."""
    from prometheus_client import make_wsgi_app

    lock = threading.Lock()
    answers: dict[tuple[str, ...], tuple[str, list[tuple[str, str]], bytes]] = {}
    current: list[_Served | None] = [None]

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        served = collector.current()
        key = tuple(str(environ.get(name, "")) for name in ("REQUEST_METHOD", "PATH_INFO", "QUERY_STRING",
                                                             "HTTP_ACCEPT", "HTTP_ACCEPT_ENCODING"))
        with lock:
            if current[0] is not served:
                answers.clear()
                current[0] = served
            answer = answers.get(key)
            if answer is None:
                registry = CollectorRegistry(auto_describe=False)
                registry.register(_Fixed(served.families))
                caught: list[tuple[str, list[tuple[str, str]]]] = []
                body = b"".join(make_wsgi_app(registry)(environ, lambda status, headers: caught.append(
                    (status, list(headers)))))
                answer = (caught[0][0], caught[0][1], body)
                if len(answers) < keep:
                    answers[key] = answer
        status, headers, body = answer
        start_response(status, [*headers, ("Content-Length", str(len(body)))])
        return [body]

    return app


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # scrapes are not news
        pass


def _server(host: str, port: int, app: Callable[..., Iterable[bytes]]) -> ThreadingWSGIServer:
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]
    server_class = type("Server", (ThreadingWSGIServer,), {"address_family": family})
    return make_server(host, port, app, server_class, handler_class=_Quiet)


def serve(reader: Reader, listen: str, *, cache_seconds: float, stop: threading.Event | None = None) -> None:
    """Serve /metrics on `listen` (HOST:PORT) until SIGINT or SIGTERM (or `stop` is set); one read of each
    target per `cache_seconds`."""
    host, port = parse_listen(listen)
    collector = HealthCollector(reader, cache_seconds=cache_seconds)
    try:
        server = _server(host, port, metrics_app(collector))
    except OSError as exc:
        raise InputError(f"--listen {listen!r}: cannot listen there ({exc.strerror or exc}); "
                         "choose another address or port") from None
    thread = threading.Thread(target=server.serve_forever, name="topology-exporter-http", daemon=True)
    thread.start()
    collector.refresh()  # the first scrape finds the cache warm
    bound = server.server_address[1]
    shown = f"[{host}]" if ":" in host else host
    stopped = threading.Event() if stop is None else stop
    received: list[str] = []
    previous: dict[signal.Signals, Any] = {}
    if stop is None:
        def on_signal(number: int, _frame: FrameType | None) -> None:
            received.append(signal.Signals(number).name)
            stopped.set()

        for number in (signal.SIGINT, signal.SIGTERM):
            previous[number] = signal.signal(number, on_signal)
    targets = f"{len(reader.by_target)} target{'' if len(reader.by_target) == 1 else 's'}"
    print(f"topology exporter: serving http://{shown}:{bound}/metrics for {len(reader.watches)} watched objects "
          f"on {targets}, one read of each target per {cache_seconds:g}s; stop with Ctrl-C or SIGTERM.",
          file=sys.stderr, flush=True)
    try:
        while not stopped.wait(0.5):
            pass
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
        for number, handler in previous.items():
            signal.signal(number, handler)
    why = f" on {received[0]}" if received else ""
    reads = f"{collector.reads} read{'' if collector.reads == 1 else 's'}"
    print(f"topology exporter: stopped{why} after {reads} of its targets.", file=sys.stderr, flush=True)
    if stop is None and not collector.idle(2.0):
        # A broker that hangs holds its read until the target's timeout, and Python would wait for it at
        # exit: nothing is written by a read, so the process ends without it.
        sys.stdout.flush()
        os._exit(0)
