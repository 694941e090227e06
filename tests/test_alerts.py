"""`topology alerts`: the rule file and its unit tests pass the real promtool, a broken rule fails them,
and the running Prometheus (`scripts/brokers up prometheus`) loads the rules.

promtool and Prometheus come from Debian's `prometheus` package, which `scripts/brokers up prometheus`
installs and starts (as `make test` does).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cli import topology as run_topology
from topology.format.compile import compile_topology
from topology.monitor.alerts import prometheus_rules, promtool_tests

START = "install and start it with `scripts/brokers up prometheus` (or run the whole suite with `make test`)"
PROMTOOL = os.environ.get("PROMTOOL") or shutil.which("promtool") or "/usr/bin/promtool"
PROMETHEUS_URL = os.environ.get("PROMETHEUS_URL", "http://127.0.0.1:9090")
PROMETHEUS_RULES_DIR = Path(os.environ.get("PROMETHEUS_RULES_DIR", Path.home() / ".cache" / "topology" / "brokers"
                                           / "prometheus" / "rules"))

# All four brokers on named targets, with document defaults, a Kafka group reading two topics, a
# minimum of zero (which can never be breached, so no rule) and durations.
ALL_FOUR = """\
version: 1
targets:
  rabbit: {kind: rabbitmq, url: "http://guest:guest@127.0.0.1:15672"}
  events: {kind: kafka, bootstrap_servers: "127.0.0.1:9092"}
  aws: {kind: aws, region: us-east-1, endpoint_url: "http://127.0.0.1:5000"}
  cache: {kind: redis, url: "redis://127.0.0.1:6379/0"}
monitoring:
  defaults:
    dead_letter: {max_depth: 0}
    retry: {max_depth: 10000}
    work: {min_consumers: 1}
rabbitmq:
  target: rabbit
  vhosts:
    shop:
      queues:
        billing:
          dead_letter: {}
          retry: {delays: [10s]}
          monitor: {max_depth: 50000, max_unacked: 1000, max_age: 5m, min_consumers: 2}
        audit:
          monitor: {min_consumers: 0}
kafka:
  target: events
  topics:
    shop.orders: {partitions: 3}
    shop.refunds: {partitions: 1}
  consumer_groups:
    billing: {topics: [shop.orders, shop.refunds], monitor: {max_lag: 100000, max_lag_time: 2m}}
sqs:
  target: aws
  queues:
    billing: {monitor: {max_depth: 10000, max_in_flight: 500, max_delayed: 20}, dead_letter: {}}
redis:
  target: cache
  streams:
    orders:
      monitor: {max_length: 90000}
      dead_letter: true
      groups:
        billing: {start: "$", monitor: {max_lag: 5000, max_pending: 100, max_lag_time: 1m}}
"""
# RabbitMQ 4 + 1 + 1 (audit's min_consumers 0 has none), Kafka 2, SQS 3 + 1, Redis 1 + 3 + 1 (the group of the
# dead-letter stream), one per target, and one per watched object for its existence (4 + 1 + 2 + 4)
ALL_FOUR_RULES = 6 + 2 + 4 + 5 + 4 + 11

# No `monitoring:` and no `monitor:`: the built-in defaults by role, on the embedded local target.
DEFAULTS = """\
version: 1
rabbitmq:
  vhosts:
    /:
      queues:
        orders: {dead_letter: {}, retry: {delays: [1s, 1m]}}
sqs:
  queues:
    jobs: {dead_letter: {}}
"""
# orders (work: min_consumers 1), orders.dlq, two retry tiers; jobs-dlq; jobs (work: min_consumers is not an SQS
# limit); one target
DEFAULTS_RULES = 5 + 1 + 6  # and one per watched object for its existence

# Names that a careless rule file breaks: quotes, backslashes, template braces, Unicode.
HOSTILE = """\
version: 1
targets:
  rabbit: {kind: rabbitmq, url: "http://guest:guest@127.0.0.1:15672"}
  cache: {kind: redis, url: "redis://127.0.0.1:6379/0"}
rabbitmq:
  target: rabbit
  vhosts:
{% raw %}
    "v\\"h{{ost}}":
      queues:
        'quo"te\\back\\\\slash {{ $value }} ünïcødé 🚀 }} {{':
          dead_letter: {}
          monitor: {max_depth: 7, max_age: 1500ms}
redis:
  target: cache
  streams:
    "o'r\\"d{{e}}rs":
      monitor: {max_length: 90000}
      groups:
        "g\\\\r{{p": {start: "$", monitor: {max_lag: 5, max_lag_time: 61s}}
{% endraw %}
"""
HOSTILE_QUEUE = 'rabbitmq/v"h{{ost}}/queue/quo"te\\back\\\\slash {{ $value }} ünïcødé 🚀 }} {{'
HOSTILE_RULES = 4 + 3 + 2 + 4  # the queue (its own two, the work default), its dead-letter queue; Redis 3; targets;
# one per watched object for its existence


@pytest.fixture(scope="module")
def promtool() -> str:
    if not Path(PROMTOOL).exists():
        pytest.fail(f"promtool is not installed at {PROMTOOL}; {START}", pytrace=False)
    return PROMTOOL


def _generate(folder: Path, text: str, hold: float) -> tuple[Path, Path]:
    """Write the topology, its rule file and the rule file's promtool tests into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / "t.topology.yaml"
    source.write_text(text)
    compiled = compile_topology([str(source)])
    assert not compiled.errors, compiled.errors
    rules, tests = folder / "topology.rules.yml", folder / "topology.tests.yml"
    rules.write_text(prometheus_rules(compiled, hold=hold))
    tests.write_text(promtool_tests(compiled, hold=hold, rules_file=rules.name))
    return rules, tests


def _promtool(promtool: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def _rules_by_alert_and_address(rules: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """The rules by alert and address (a target's own rule by the target), the names as Prometheus expands
    the label templates."""
    loaded = yaml.safe_load(rules.read_text())
    return {(rule["alert"], rule["labels"].get("address", rule["labels"]["target"]).replace('{{ "{{" }}', "{{")): rule
            for group in loaded["groups"] for rule in group["rules"]}


@pytest.mark.parametrize("hold", [0.0, 0.001, 60.0, 90.0, 7200.0], ids=["0s", "1ms", "1m", "90s", "2h"])
@pytest.mark.parametrize(("text", "count"), [(ALL_FOUR, ALL_FOUR_RULES), (DEFAULTS, DEFAULTS_RULES),
                                             (HOSTILE, HOSTILE_RULES)], ids=["all-four", "defaults", "hostile"])
def test_rules_and_their_tests_pass_promtool(promtool: str, tmp_path: Path, text: str, count: int,
                                             hold: float) -> None:
    rules, tests = _generate(tmp_path, text, hold)
    checked = _promtool(promtool, "check", "rules", rules.name, cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {count} rules found" in checked.stdout
    tested = _promtool(promtool, "test", "rules", tests.name, cwd=tmp_path)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_the_command_line_writes_both_files(promtool: str, tmp_path: Path) -> None:
    (tmp_path / "t.topology.yaml").write_text(ALL_FOUR)
    (tmp_path / "rules").mkdir()
    made = run_topology("alerts", "t.topology.yaml", "--for", "2m", "--out", "rules/shop.rules.yml", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    made = run_topology("alerts", "t.topology.yaml", "--for", "2m", "--format", "promtool-test",
                        "--rules", "rules/shop.rules.yml", "--out", "shop.tests.yml", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert "  - \"rules/shop.rules.yml\"\n" in (tmp_path / "shop.tests.yml").read_text()
    tested = _promtool(promtool, "test", "rules", "shop.tests.yml", cwd=tmp_path)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    printed = run_topology("alerts", "t.topology.yaml", "--for", "2m", cwd=tmp_path)
    assert printed.stdout == (tmp_path / "rules" / "shop.rules.yml").read_text()
    assert "for: 2m\n" in printed.stdout


def _line(text: str, fragment: str) -> int:
    return next(number for number, line in enumerate(text.splitlines(), 1) if fragment in line)


def test_labels_and_annotations_name_the_object_and_the_declaring_line(tmp_path: Path) -> None:
    rules, _ = _generate(tmp_path, ALL_FOUR, 60.0)
    by = _rules_by_alert_and_address(rules)
    source = str(tmp_path / "t.topology.yaml")
    defaults_line, limits_line = _line(ALL_FOUR, "dead_letter: {max_depth: 0}"), _line(ALL_FOUR, "max_unacked: 1000")
    billing_line = _line(ALL_FOUR, "        billing:")

    dlq = by["TopologyDeadLettersWaiting", "rabbitmq/shop/queue/billing.dlq"]
    assert dlq["expr"] == 'topology_depth{target="rabbit",address="rabbitmq/shop/queue/billing.dlq"} > 0'
    assert dlq["for"] == "1m"
    assert dlq["labels"] == {"broker": "rabbitmq", "target": "rabbit", "address": "rabbitmq/shop/queue/billing.dlq",
                             "role": "dead_letter", "limit": "max_depth", "severity": "warning"}
    assert dlq["annotations"]["summary"] == (
        'RabbitMQ dead-letter queue rabbitmq/shop/queue/billing.dlq on target rabbit: {{ printf "%.0f" $value }} '
        "messages waiting (limit max_depth: 0)")
    assert dlq["annotations"]["description"].startswith(
        f"Limit max_depth: 0, monitoring.defaults.dead_letter at {source}:{defaults_line}, "
        "on RabbitMQ dead-letter queue rabbitmq/shop/queue/billing.dlq (")

    consumers = by["TopologyConsumersLow", "rabbitmq/shop/queue/billing"]
    assert consumers["expr"] == 'topology_consumers{target="rabbit",address="rabbitmq/shop/queue/billing"} < 2'
    assert consumers["labels"]["severity"] == "critical"
    assert consumers["annotations"]["description"] == (
        f"Limit min_consumers: 2, declared at {source}:{limits_line}, on RabbitMQ queue rabbitmq/shop/queue/billing "
        f"({source}:{billing_line}).")
    age = by["TopologyMessageAgeHigh", "rabbitmq/shop/queue/billing"]
    assert age["expr"].endswith("} > 300")  # 5m, in the gauge's seconds
    assert "{{ $value | humanizeDuration }} old (limit max_age: 5m)" in age["annotations"]["summary"]
    assert ("TopologyConsumersLow", "rabbitmq/shop/queue/audit") not in by  # min_consumers 0: nothing to break
    assert by["TopologyRetryDepthHigh", "rabbitmq/shop/queue/billing.retry.10s"]["expr"].endswith("} > 10000")

    lag = by["TopologyConsumerLagHigh", "kafka/group/billing"]
    assert lag["labels"]["role"] == "group" and lag["labels"]["target"] == "events"
    assert "kafka/group/billing on target events, topic {{ $labels.topic }}: " in lag["annotations"]["summary"]
    assert "records behind" in lag["annotations"]["summary"]
    assert by["TopologyConsumerLagTimeHigh", "kafka/group/billing"]["expr"].endswith("} > 120")
    assert by["TopologyInFlightHigh", "sqs/queue/billing"]["expr"] == \
        'topology_in_flight{target="aws",address="sqs/queue/billing"} > 500'
    assert "entries behind" in by["TopologyConsumerLagHigh", "redis/group/orders/billing"]["annotations"]["summary"]
    assert by["TopologyStreamLengthHigh", "redis/stream/orders"]["labels"]["role"] == "stream"
    down = by["TopologyTargetDown", "cache"]
    assert down["expr"] == 'topology_up{target="cache"} == 0'
    assert down["labels"] == {"target": "cache", "severity": "critical"}


def test_built_in_defaults_say_so(tmp_path: Path) -> None:
    rules, _ = _generate(tmp_path, DEFAULTS, 60.0)
    by = _rules_by_alert_and_address(rules)
    missing = sorted(address for alert, address in by if alert == "TopologyObjectMissing")
    assert missing == ["rabbitmq///queue/orders", "rabbitmq///queue/orders.dlq", "rabbitmq///queue/orders.retry.1m",
                       "rabbitmq///queue/orders.retry.1s", "sqs/queue/jobs", "sqs/queue/jobs-dlq"]
    gone = by["TopologyObjectMissing", "sqs/queue/jobs-dlq"]
    assert gone["expr"] == 'topology_exists{target="local",address="sqs/queue/jobs-dlq"} == 0'
    assert gone["labels"]["severity"] == "critical" and "is not on the broker" in gone["annotations"]["summary"]
    assert sorted(key for key in by if key[0] != "TopologyObjectMissing") == [
                          ("TopologyConsumersLow", "rabbitmq///queue/orders"),
                          ("TopologyDeadLettersWaiting", "rabbitmq///queue/orders.dlq"),
                          ("TopologyDeadLettersWaiting", "sqs/queue/jobs-dlq"),
                          ("TopologyRetryDepthHigh", "rabbitmq///queue/orders.retry.1m"),
                          ("TopologyRetryDepthHigh", "rabbitmq///queue/orders.retry.1s"),
                          ("TopologyTargetDown", "local")]
    dlq = by["TopologyDeadLettersWaiting", "sqs/queue/jobs-dlq"]
    assert dlq["expr"] == 'topology_depth{target="local",address="sqs/queue/jobs-dlq"} > 0'
    assert dlq["annotations"]["description"].startswith(
        "Limit max_depth: 0, the built-in default for role dead_letter, on SQS dead-letter queue sqs/queue/jobs-dlq (")
    work = by["TopologyConsumersLow", "rabbitmq///queue/orders"]
    assert work["expr"] == 'topology_consumers{target="local",address="rabbitmq///queue/orders"} < 1'
    assert "the built-in default for role work" in work["annotations"]["description"]


def test_hostile_names_are_selected_and_named_exactly(promtool: str, tmp_path: Path) -> None:
    rules, tests = _generate(tmp_path, HOSTILE, 60.0)
    text = rules.read_text()
    assert "ünïcødé 🚀" in text  # written as it is, not as escapes
    by = _rules_by_alert_and_address(rules)
    depth = by["TopologyDepthHigh", HOSTILE_QUEUE]
    assert depth["expr"] == ('topology_depth{target="rabbit",address="rabbitmq/v\\"h{{ost}}/queue/quo\\"te\\\\back'
                             '\\\\\\\\slash {{ $value }} ünïcødé 🚀 }} {{"} > 7')
    # Labels and annotations are templates: the braces of the name are quoted, the value's are not.
    assert depth["labels"]["address"] == HOSTILE_QUEUE.replace("{{", '{{ "{{" }}')
    assert depth["annotations"]["summary"].endswith(
        ': {{ printf "%.0f" $value }} messages waiting (limit max_depth: 7)')

    # The alerts must carry the names as they are (promtool compares every label and annotation), and
    # series whose names differ by an escape must not fire them: add such decoys, all past their limits.
    suite = yaml.safe_load(tests.read_text())
    firing = [case for case in suite["tests"][0]["alert_rule_test"] if case.get("exp_alerts")]
    assert HOSTILE_QUEUE in {alert["exp_labels"].get("address") for case in firing for alert in case["exp_alerts"]}
    assert any(alert["exp_annotations"]["summary"].startswith(f"RabbitMQ queue {HOSTILE_QUEUE} on target rabbit: ")
               for case in firing for alert in case["exp_alerts"])
    decoys = []
    for series in suite["tests"][0]["input_series"]:
        for old, new in (('\\\\', '\\'), ('\\"', "'"), ("{{", "{")):
            if old in series["series"]:
                values = series["values"].split()
                decoys.append({"series": series["series"].replace(old, new),
                               "values": " ".join([str(float(values[-1]) + 1000)] * len(values))})
    assert len(decoys) >= 6
    suite["tests"][0]["input_series"] += decoys
    tests.write_text(yaml.safe_dump(suite, allow_unicode=True))
    tested = _promtool(promtool, "test", "rules", tests.name, cwd=tmp_path)
    assert tested.returncode == 0, tested.stdout + tested.stderr


# Each change breaks one rule the way a hand edit or a generator bug would; its tests must say so.
BREAKAGES = {
    "fires on the limit": ('address=\\"rabbitmq/shop/queue/billing.dlq\\"} > 0"',
                           'address=\\"rabbitmq/shop/queue/billing.dlq\\"} >= 0"', "TopologyDeadLettersWaiting"),
    "threshold off by one": ("} > 100000", "} > 100001", "TopologyConsumerLagHigh"),
    "minimum read as a maximum": ("} < 2", "} > 2", "TopologyConsumersLow"),
    "seconds read as milliseconds": ("} > 300\"", "} > 300000\"", "TopologyMessageAgeHigh"),
    "another object": ('topology_pending{target=\\"cache\\",address=\\"redis/group/orders/billing\\"}',
                       'topology_pending{target=\\"cache\\",address=\\"redis/group/orders/other\\"}',
                       "TopologyPendingHigh"),
    "a label lost": ('limit: "max_in_flight"\n          severity: "warning"\n', 'limit: "max_in_flight"\n',
                     "TopologyInFlightHigh"),
    "an annotation changed": ("messages delayed (limit max_delayed: 20)", "messages delayed",
                              "TopologyDelayedHigh"),
}


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_a_broken_rule_fails_its_tests(promtool: str, tmp_path: Path, breakage: str) -> None:
    rules, tests = _generate(tmp_path, ALL_FOUR, 60.0)
    old, new, alert = BREAKAGES[breakage]
    text = rules.read_text()
    assert text.count(old) == 1, old
    rules.write_text(text.replace(old, new))
    assert _promtool(promtool, "check", "rules", rules.name, cwd=tmp_path).returncode == 0  # still a valid file
    tested = _promtool(promtool, "test", "rules", tests.name, cwd=tmp_path)
    assert tested.returncode == 1, tested.stdout
    assert f"alertname: {alert}" in tested.stdout + tested.stderr


def test_a_rule_promtool_cannot_read_fails_the_check(promtool: str, tmp_path: Path) -> None:
    rules, _ = _generate(tmp_path, HOSTILE, 60.0)
    text = rules.read_text()
    # The quote in the vhost's name unescaped in PromQL (still valid YAML): the selector ends too early.
    assert 'address=\\"rabbitmq/v\\\\\\"h{{ost}}' in text
    rules.write_text(text.replace('address=\\"rabbitmq/v\\\\\\"h{{ost}}', 'address=\\"rabbitmq/v\\"h{{ost}}', 1))
    checked = _promtool(promtool, "check", "rules", rules.name, cwd=tmp_path)
    assert checked.returncode == 1
    assert "TopologyDepthHigh" in checked.stdout + checked.stderr


def test_no_watched_object_gives_an_empty_rule_file(promtool: str, tmp_path: Path) -> None:
    rules, tests = _generate(tmp_path, "version: 1\nkafka:\n  topics:\n    plain: {partitions: 1}\n", 60.0)
    assert yaml.safe_load(rules.read_text()) == {"groups": []}
    checked = _promtool(promtool, "check", "rules", rules.name, cwd=tmp_path)
    assert checked.returncode == 0 and "SUCCESS: 0 rules found" in checked.stdout, checked.stdout + checked.stderr
    tested = _promtool(promtool, "test", "rules", tests.name, cwd=tmp_path)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def _prometheus(path: str, method: str = "GET") -> Any:
    request = urllib.request.Request(f"{PROMETHEUS_URL}{path}", method=method)
    with urllib.request.urlopen(request, timeout=10) as response:
        body = response.read()
    return json.loads(body) if body.startswith(b"{") else body


def test_the_running_prometheus_loads_the_rules(tmp_path: Path) -> None:
    try:
        _prometheus("/api/v1/status/buildinfo")
    except (OSError, ValueError) as exc:
        pytest.fail(f"Prometheus is not answering at {PROMETHEUS_URL} ({exc}); {START}", pytrace=False)
    rules, _ = _generate(tmp_path, HOSTILE, 1.0)
    name = f"test-alerts-{uuid.uuid4().hex[:10]}.yml"
    target = PROMETHEUS_RULES_DIR / name
    staged = PROMETHEUS_RULES_DIR / f".{name}.partial"
    shutil.copyfile(rules, staged)
    staged.rename(target)  # Prometheus never reads half a file
    try:
        _prometheus("/-/reload", "POST")
        deadline, loaded = time.monotonic() + 30, []
        while time.monotonic() < deadline:
            groups = _prometheus("/api/v1/rules")["data"]["groups"]
            loaded = [rule for group in groups if group["file"] == str(target) for rule in group["rules"]]
            if len(loaded) == HOSTILE_RULES and all(rule["health"] == "ok" for rule in loaded):
                break
            time.sleep(0.2)
        assert len(loaded) == HOSTILE_RULES, loaded
        assert all(rule["health"] == "ok" for rule in loaded), [rule.get("lastError") for rule in loaded]
        by = {(rule["name"], rule["labels"].get("address")): rule for rule in loaded}
        queue = by["TopologyDepthHigh", HOSTILE_QUEUE.replace("{{", '{{ "{{" }}')]
        assert queue["duration"] == 1
        assert re.search(r'address="rabbitmq/v\\"h\{\{ost}}/queue/quo\\"te\\\\back', queue["query"]), queue["query"]
        assert queue["state"] == "inactive"  # no exporter serves these names
    finally:
        target.unlink(missing_ok=True)
        with contextlib.suppress(urllib.error.URLError):
            _prometheus("/-/reload", "POST")
