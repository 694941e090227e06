"""`topology exporter` as a user runs it, scraped over HTTP: gauges for a real RabbitMQ queue and a real Redis
stream with their labels, limits and breaches; a target whose broker is down is `topology_up 0` while the
other is served (and its password never shown); a target that hangs holds back no other target's read; a
target going down or up is said once, with the reason; one read serves every scrape within --cache, scrapes
that arrive together share it, and a later scrape reads again; a bad --listen is one sentence; SIGTERM stops
it cleanly."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.brokers import watching
from tests.brokers.watching import publish
from tests.cli import topology, with_file
from tests.conftest import RABBITMQ_URL, REDIS_URL, unique
from tests.faults import FaultProxy, SilentServer, closed_port

pytestmark = [pytest.mark.rabbitmq, pytest.mark.redis]

# RabbitMQ's management API reports message counts as of its last statistics tick (5 s by default).
_WAIT_S = 45.0
_ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


class Scrape:
    """One /metrics page, parsed by prometheus_client's own parser."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.types: dict[str, str] = {}
        self.samples: list[tuple[str, dict[str, str], float]] = []
        for family in text_string_to_metric_families(text):
            self.types[family.name] = family.type
            self.samples.extend((s.name, dict(s.labels), s.value) for s in family.samples)

    def all(self, name: str, **labels: str) -> list[tuple[dict[str, str], float]]:
        return [(found, value) for metric, found, value in self.samples
                if metric == name and all(found.get(k) == v for k, v in labels.items())]

    def value(self, name: str, **labels: str) -> float | None:
        """The one sample of `name` with these labels; None when there is none."""
        matches = self.all(name, **labels)
        assert len(matches) <= 1, f"{len(matches)} samples of {name}{labels}: {matches}"
        return matches[0][1] if matches else None


class Exporter:
    """`topology exporter FILE --listen HOST:0` in its own process; the port it chose is read from what it says
    when it starts serving."""

    def __init__(self, folder: Path, text: str, *args: str, env: Mapping[str, str] | None = None,
                 host: str = "127.0.0.1") -> None:
        self.path = folder / "t.topology.yaml"
        self.path.write_text(text)
        self.log = folder / f"exporter-{unique('log')}.err"
        environment = {**os.environ, **(env or {})}
        environment["PYTHONPATH"] = os.pathsep.join(p for p in (str(_ROOT), environment.get("PYTHONPATH", "")) if p)
        shown = f"[{host}]" if ":" in host else host
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "topology", "exporter", str(self.path), "--listen", f"{shown}:0", *args],
                cwd=folder, env=environment, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
        found = until(lambda: self._exited() or re.search(r"serving (http://\S+/metrics)", self.said()),
                      "the exporter says where it serves", 60)
        if found is True:
            raise AssertionError(f"the exporter exited {self.process.returncode}: {self.said()}")
        assert isinstance(found, re.Match)
        self.url = found.group(1)
        self.client = httpx.Client(timeout=30)

    def _exited(self) -> bool:
        return self.process.poll() is not None

    def said(self) -> str:
        return self.log.read_text()

    def get(self) -> httpx.Response:
        return self.client.get(self.url)

    def scrape(self) -> Scrape:
        response = self.get()
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/plain")
        return Scrape(response.text)

    def stop(self) -> int:
        """SIGTERM, as a service manager stops it; its exit code."""
        self.client.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()


def until(check: Callable[[], T], what: str, seconds: float = _WAIT_S) -> T:
    return watching.until(check, what, seconds)


def _file(vhost: str, stream: str) -> str:
    return f"""version: 1
targets:
  rabbit: {{kind: rabbitmq, url: "${{RABBITMQ_URL}}"}}
  cache: {{kind: redis, url: "${{REDIS_URL}}"}}
rabbitmq:
  target: rabbit
  vhosts:
    {vhost}:
      queues:
        billing:
          dead_letter: {{}}
          monitor: {{max_depth: 3, max_age: 5m}}
redis:
  target: cache
  streams:
    {stream}:
      monitor: {{max_length: 100}}
      groups:
        g: {{start: "0", monitor: {{max_lag: 5}}}}
"""


ENV = {"RABBITMQ_URL": RABBITMQ_URL, "REDIS_URL": REDIS_URL}


@pytest.fixture
def names(rabbitmq_api: Any, redis_prefix: tuple[Any, str]) -> Iterator[tuple[str, str, Any]]:
    from urllib.parse import quote

    vhost = unique("exporter")
    client, prefix = redis_prefix
    yield vhost, f"{prefix}orders", client
    rabbitmq_api.delete(f"/api/vhosts/{quote(vhost, safe='')}")


@pytest.fixture
def exporters() -> Iterator[list[Exporter]]:
    started: list[Exporter] = []
    yield started
    for exporter in started:
        exporter.stop()


def _applied(folder: Path, text: str) -> None:
    applied = with_file(folder, text, "apply", "--auto-approve", "--lock-timeout", "120s", env=ENV)
    assert applied.returncode == 0, applied.stdout + applied.stderr


def test_gauges_limits_and_breaches_of_a_queue_and_a_stream(tmp_path: Path, names: tuple[str, str, Any],
                                                           exporters: list[Exporter]) -> None:
    vhost, stream, redis_client = names
    text = _file(vhost, stream)
    _applied(tmp_path, text)
    publish(vhost, "billing", 5)  # past max_depth 3
    for n in range(7):  # past the group's max_lag 5; within the stream's max_length 100
        redis_client.xadd(stream, {"n": str(n)})

    exporter = Exporter(tmp_path, text, "--cache", "1s", env=ENV)
    exporters.append(exporter)
    queue, dlq = f"rabbitmq/{vhost}/queue/billing", f"rabbitmq/{vhost}/queue/billing.dlq"
    scrape = until(lambda: ((s := exporter.scrape()).value("topology_depth", address=queue) == 5
                            and s.value("topology_unacked", address=queue) is not None and s),
                   "the exporter serves the 5 messages published to billing, with RabbitMQ's statistics")

    on_queue = {"broker": "rabbitmq", "target": "rabbit", "address": queue, "role": "work", "topic": ""}
    assert scrape.all("topology_depth", address=queue) == [(on_queue, 5.0)]
    assert scrape.value("topology_unacked", address=queue) == 0
    assert scrape.value("topology_consumers", address=queue) == 0
    age = scrape.value("topology_age_seconds", address=queue)
    assert age is None or age >= 0  # RabbitMQ tells a message's age only where it was stamped
    limits = {found["limit"]: (found["metric"], value) for found, value in scrape.all("topology_limit", address=queue)}
    assert limits == {"max_depth": ("depth", 3.0), "max_age": ("age_seconds", 300.0),  # 5m in seconds
                      "min_consumers": ("consumers", 1.0)}  # the built-in default for a work queue
    assert all(found == {**on_queue, "limit": found["limit"], "metric": found["metric"]}
               for found, _ in scrape.all("topology_limit", address=queue))
    assert scrape.value("topology_breached", address=queue, limit="max_depth") == 1
    assert scrape.value("topology_breached", address=queue, limit="min_consumers") == 1
    assert scrape.value("topology_exists", address=queue) == 1

    assert scrape.value("topology_depth", address=dlq, role="dead_letter") == 0
    assert scrape.value("topology_limit", address=dlq, limit="max_depth") == 0  # any dead letter is worth a look
    assert scrape.value("topology_breached", address=dlq, limit="max_depth") == 0

    on_stream = {"broker": "redis", "target": "cache", "address": f"redis/stream/{stream}", "role": "stream",
                 "topic": ""}
    assert scrape.all("topology_length", address=on_stream["address"]) == [(on_stream, 7.0)]
    assert scrape.value("topology_limit", address=on_stream["address"], limit="max_length") == 100
    assert scrape.value("topology_breached", address=on_stream["address"], limit="max_length") == 0
    group = f"redis/group/{stream}/g"
    assert scrape.value("topology_lag", address=group, role="group", broker="redis") == 7
    assert scrape.value("topology_pending", address=group) == 0
    assert scrape.value("topology_breached", address=group, limit="max_lag") == 1

    assert scrape.all("topology_up") == [({"target": "cache", "broker": "redis"}, 1.0),
                                         ({"target": "rabbit", "broker": "rabbitmq"}, 1.0)]
    assert all(value > 0 for _, value in scrape.all("topology_read_seconds"))
    assert {found["target"] for found, _ in scrape.all("topology_read_seconds")} == {"rabbit", "cache"}
    assert scrape.types["topology_depth"] == "gauge" and scrape.types["topology_limit"] == "gauge"
    assert "# HELP topology_lag Records or entries not yet read by the group" in scrape.text

    assert exporter.stop() == 0
    said = exporter.said()
    assert "stopped on SIGTERM" in said and "Traceback" not in said


def test_a_target_that_is_down_is_up_0_and_the_others_are_served(tmp_path: Path, names: tuple[str, str, Any],
                                                                 exporters: list[Exporter]) -> None:
    vhost, stream, redis_client = names
    redis_client.xadd(stream, {"n": "1"})
    down = f"http://guest:s3cr%23t@127.0.0.1:{closed_port()}"
    # over IPv6's loopback, as [::1]:PORT
    exporter = Exporter(tmp_path, _file(vhost, stream), "--cache", "1s", env={**ENV, "RABBITMQ_URL": down},
                        host="::1")
    exporters.append(exporter)
    assert exporter.url.startswith("http://[::1]:")
    scrape = until(lambda: (s := exporter.scrape()).value("topology_up", target="cache") == 1 and s,
                   "the exporter serves the Redis target")
    assert scrape.value("topology_up", target="rabbit", broker="rabbitmq") == 0
    assert scrape.value("topology_length", address=f"redis/stream/{stream}") == 1
    assert scrape.all("topology_depth", broker="rabbitmq") == []  # nothing made up for what was not read
    assert scrape.all("topology_breached", broker="rabbitmq") == []
    # the limits are what the files declare, read or not
    assert scrape.value("topology_limit", address=f"rabbitmq/{vhost}/queue/billing", limit="max_depth") == 3
    # read again and again (--cache 1s), down every time: said once, with the reason
    first = read_at(scrape, "rabbit")
    until(lambda: read_at(exporter.scrape(), "rabbit") >= first + 2, "the down target is read twice more")
    said = exporter.said()
    assert len(re.findall(r"target `rabbit` \(rabbitmq\) is down: .*127\.0\.0\.1", said)) == 1, said
    assert said.count("is down") == 1 and said.count("target `cache` (redis) is up (read in") == 1, said
    assert "s3cr" not in scrape.text + said


def test_a_broker_that_hangs_never_fails_a_scrape(tmp_path: Path, names: tuple[str, str, Any],
                                                   exporters: list[Exporter], silent_server: SilentServer) -> None:
    vhost, stream, _ = names
    # RabbitMQ's management API at a port that takes the connection and never answers: the read waits out the
    # target's timeout (30 s), far longer than Prometheus waits for a scrape
    exporter = Exporter(tmp_path, _file(vhost, stream), "--cache", "1s",
                        env={**ENV, "RABBITMQ_URL": f"http://guest:guest@127.0.0.1:{silent_server.port}"})
    exporters.append(exporter)
    for _ in range(3):
        began = time.monotonic()
        scrape = exporter.scrape()
        assert time.monotonic() - began < 3
        assert scrape.value("topology_up", target="rabbit") == 0  # not read (yet): not up
        assert scrape.value("topology_limit", address=f"rabbitmq/{vhost}/queue/billing", limit="max_depth") == 3
    assert silent_server.accepted, "the exporter never tried the target"
    began = time.monotonic()
    assert exporter.stop() == 0, exporter.said()  # the read under way does not hold it
    assert time.monotonic() - began < 10 and "Traceback" not in exporter.said()


def read_at(scrape: Scrape, target: str) -> float:
    """When the target's read served finished."""
    value = scrape.value("topology_read_timestamp_seconds", target=target)
    assert value is not None, f"no read of {target} served"
    return value


def test_a_target_that_hangs_holds_back_no_other(tmp_path: Path, names: tuple[str, str, Any],
                                                  exporters: list[Exporter], silent_server: SilentServer) -> None:
    vhost, stream, redis_client = names
    redis_client.xadd(stream, {"n": "1"})
    # RabbitMQ's management API never answers: its read waits out the target's timeout (30 s)
    started = time.monotonic()
    exporter = Exporter(tmp_path, _file(vhost, stream), "--cache", "1s",
                        env={**ENV, "RABBITMQ_URL": f"http://guest:guest@127.0.0.1:{silent_server.port}"})
    exporters.append(exporter)
    scrape = until(lambda: (s := exporter.scrape()).value("topology_up", target="cache") == 1 and s,
                   "the Redis target is served beside the one that hangs", 5)
    assert scrape.value("topology_length", address=f"redis/stream/{stream}") == 1
    assert scrape.value("topology_exists", address=f"redis/group/{stream}/g") == 0  # not applied: not there
    assert scrape.value("topology_up", target="rabbit", broker="rabbitmq") == 0
    assert scrape.all("topology_depth", broker="rabbitmq") == []
    assert scrape.all("topology_read_timestamp_seconds", target="rabbit") == []  # its first read is under way
    assert scrape.all("topology_read_seconds", target="rabbit") == []
    assert scrape.value("topology_limit", address=f"rabbitmq/{vhost}/queue/billing", limit="max_depth") == 3

    # Redis is read again every second while RabbitMQ's first read still hangs
    first = read_at(scrape, "cache")
    redis_client.xadd(stream, {"n": "2"})
    later = until(lambda: read_at(s := exporter.scrape(), "cache") > first and
                  s.value("topology_length", address=f"redis/stream/{stream}") == 2 and s,
                  "Redis's read timestamp advances", 10)
    again = until(lambda: read_at(s := exporter.scrape(), "cache") > read_at(later, "cache") and s,
                  "Redis's read timestamp advances again", 10)
    assert time.monotonic() - started < 25, "too slow to tell a hanging read from a finished one"
    assert again.value("topology_up", target="rabbit") == 0
    assert again.all("topology_read_timestamp_seconds", target="rabbit") == []  # still hanging
    assert silent_server.accepted, "the exporter never tried the target"
    said = exporter.said()
    assert said.count("target `cache` (redis) is up (read in") == 1 and "is down" not in said, said


def test_a_target_going_down_and_up_is_said_once_each(tmp_path: Path, names: tuple[str, str, Any],
                                                      exporters: list[Exporter]) -> None:
    vhost, stream, redis_client = names
    redis_client.xadd(stream, {"n": "1"})
    parts = urlsplit(REDIS_URL)
    with FaultProxy((parts.hostname or "127.0.0.1", parts.port or 6379)) as proxy:
        # Redis's default user takes any password: this one must never be shown
        url = f"redis://default:s3cr3t-{unique('pw')}@127.0.0.1:{proxy.port}{parts.path or '/0'}"
        exporter = Exporter(tmp_path, _file(vhost, stream), "--cache", "1s", env={**ENV, "REDIS_URL": url})
        exporters.append(exporter)
        up = until(lambda: (s := exporter.scrape()).value("topology_up", target="cache") == 1 and s, "Redis is up")
        proxy.mode = "hang-up"
        down = until(lambda: (s := exporter.scrape()).value("topology_up", target="cache") == 0 and s,
                     "Redis is down once the proxy hangs up")
        assert down.all("topology_length", broker="redis") == []
        assert read_at(down, "cache") > read_at(up, "cache")  # a failed read is a read: when it finished
        until(lambda: read_at(exporter.scrape(), "cache") >= read_at(down, "cache") + 2,
              "the down target is read twice more")
        proxy.mode = "relay"
        back = until(lambda: (s := exporter.scrape()).value("topology_up", target="cache") == 1 and s,
                     "Redis is up again once the proxy relays")
        until(lambda: read_at(exporter.scrape(), "cache") >= read_at(back, "cache") + 2,
              "the target is read twice more")
    said = exporter.said()
    lines = [line for line in said.splitlines() if "target `cache`" in line]
    assert len(lines) == 3, said
    assert "target `cache` (redis) is up (read in" in lines[0]
    assert re.search(r"target `cache` \(redis\) is down: .*Redis.*127\.0\.0\.1", lines[1]), lines[1]
    assert "target `cache` (redis) is up again (read in" in lines[2]
    assert "s3cr3t" not in said and "Traceback" not in said


def test_one_read_serves_the_scrapes_within_the_cache(tmp_path: Path, names: tuple[str, str, Any],
                                                      exporters: list[Exporter]) -> None:
    vhost, stream, _ = names
    text = _file(vhost, stream)
    _applied(tmp_path, text)
    cache = 8.0
    exporter = Exporter(tmp_path, text, "--cache", f"{cache:g}s", env=ENV)
    exporters.append(exporter)

    # a read at most 2 s old, so the scrapes below fall within --cache however slow this machine is today
    first = until(lambda: (s := exporter.scrape()).value("topology_up", target="rabbit") == 1 and
                  time.time() - read_at(s, "rabbit") < 2 and s, "a fresh read of the exporter", 3 * cache + 30)
    taken = read_at(first, "rabbit")
    with ThreadPoolExecutor(8) as pool:  # scrapes arriving together
        together = list(pool.map(lambda _: exporter.scrape(), range(8)))
    assert {read_at(scrape, "rabbit") for scrape in together} == {taken}
    assert {scrape.value("topology_read_seconds", target="rabbit") for scrape in together} == \
        {first.value("topology_read_seconds", target="rabbit")}

    later = until(lambda: read_at(s := exporter.scrape(), "rabbit") != taken and s, "a later scrape reads again")
    assert read_at(later, "rabbit") >= taken + cache


def test_listen_that_is_not_host_port_is_one_sentence(tmp_path: Path) -> None:
    for listen, words in (("9464", "is not HOST:PORT"), ("localhost:http", "is not HOST:PORT"),
                          ("::1:9464", "write an IPv6 address in brackets, as [::1]:9464"),
                          ("[nohost]:9464", "is not an IPv6 address")):
        refused = with_file(tmp_path, "version: 1\n", "exporter", "--listen", listen)
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert refused.stderr.count("\n") == 1 and words in refused.stderr, refused.stderr


def test_a_port_in_use_is_one_sentence(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        (tmp_path / "t.topology.yaml").write_text("version: 1\n")
        refused = topology("exporter", str(tmp_path / "t.topology.yaml"), "--listen", f"127.0.0.1:{port}",
                           cwd=tmp_path, timeout=60)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert f"--listen '127.0.0.1:{port}': cannot listen there" in refused.stderr
    assert refused.stderr.count("\n") == 1, refused.stderr
