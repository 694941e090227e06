"""Prometheus alert rules for the declared limits, and promtool unit tests for them.

One rule per watched object and limit, over the exporter's gauges (named in `topology.monitor.series`):
`topology_depth{target="local",address="rabbitmq/shop/queue/billing.dlq"} > 0` held for `--for`. The
alert's name says what is wrong (TopologyDeadLettersWaiting, TopologyConsumerLagHigh, ...), the same
for every object; its labels say which object (broker, target, address, role, and topic for a Kafka
group), which limit and how urgent; its annotations name the object and the file and line that
declared the limit. One more rule per target fires when the exporter cannot read that target.

The promtool tests feed each rule a series that sits exactly on its limit for longer than `--for`,
then crosses it: no alert on the limit, none while the breach is younger than `--for`, the alert
with its labels and annotations once it is older.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from topology.brokers.registry import rules_for
from topology.core.monitor import LIMITS, METRICS, Declared, Watch
from topology.core.units import format_duration
from topology.format.compile import Topology
from topology.monitor.series import EXISTS_GAUGE, UP_GAUGE, gauge, labels, promql_string, selector, target_label

__all__ = ["ALERT_NAMES", "OBJECT_MISSING", "TARGET_DOWN", "alert_name", "prometheus_rules", "promtool_tests"]

# The alert of each limit: one name per kind of trouble, whatever the object.
ALERT_NAMES: dict[str, str] = {
    "max_depth": "TopologyDepthHigh",
    "max_unacked": "TopologyUnackedHigh",
    "max_in_flight": "TopologyInFlightHigh",
    "max_delayed": "TopologyDelayedHigh",
    "min_consumers": "TopologyConsumersLow",
    "max_age": "TopologyMessageAgeHigh",
    "max_lag": "TopologyConsumerLagHigh",
    "max_lag_time": "TopologyConsumerLagTimeHigh",
    "max_pending": "TopologyPendingHigh",
    "max_length": "TopologyStreamLengthHigh",
}
# Depth means something else in a dead-letter queue (a handler failed) and in a retry tier (retries pile up).
ROLE_DEPTH_ALERTS = {"dead_letter": "TopologyDeadLettersWaiting", "retry": "TopologyRetryDepthHigh"}
TARGET_DOWN = "TopologyTargetDown"
OBJECT_MISSING = "TopologyObjectMissing"  # a declared object is not on its broker: nothing else of it can fire

NOUNS = {"rabbitmq.queue": ("RabbitMQ", "queue"), "kafka.group": ("Kafka", "consumer group"),
         "kafka.topic": ("Kafka", "topic"), "sqs.queue": ("SQS", "queue"), "redis.stream": ("Redis", "stream"),
         "redis.group": ("Redis", "consumer group")}
ITEMS = {"kafka": "records", "redis": "entries"}  # what a group's lag counts
ROLE_WORDS = {"dead_letter": "dead-letter ", "retry": "retry "}
# What the summary says of the measured value ({v}: the value, as the annotation template prints it).
PHRASES = {
    "depth": "{v} {items} waiting",
    "unacked": "{v} messages unacknowledged",
    "in_flight": "{v} messages in flight",
    "delayed": "{v} messages delayed",
    "consumers": "{v} consumers",
    "age_seconds": "oldest message {v} old",
    "lag": "{v} {items} behind",
    "lag_seconds": "{v} behind",
    "pending": "{v} entries pending",
    "length": "{v} entries",
}
# How the annotation templates print $value: whole numbers for counts, Prometheus' own spelling for durations.
COUNT_VALUE = '{{ printf "%.0f" $value }}'
SECONDS_VALUE = "{{ $value | humanizeDuration }}"
TOPIC = "{{ $labels.topic }}"


def alert_name(watch: Watch, limit: str) -> str:
    """The alert of one of a watch's limits."""
    if limit == "max_depth" and watch.role in ROLE_DEPTH_ALERTS:
        return ROLE_DEPTH_ALERTS[watch.role]
    return ALERT_NAMES[limit]


def severity(watch: Watch, limit: str) -> str:
    """critical when nothing consumes a queue that expects consumers; warning otherwise (a dead-letter queue
    that fills is worth a look, not a page)."""
    return "critical" if limit == "min_consumers" else "warning"


@dataclass(frozen=True)
class Rule:
    """One alert rule: the watch and limit it stands for (None: a target's reachability)."""

    group: str
    alert: str
    expr: str
    labels: dict[str, str]
    annotations: dict[str, str]
    watch: Watch | None = None
    limit: str = ""  # "": the object's existence (OBJECT_MISSING), or a target's reachability
    threshold: float = 0.0
    target: str = ""


def rules(topology: Topology) -> list[Rule]:
    """The rules of `topology`, by broker then address and limit; then one per target for its reachability.
    A minimum of zero or less can never be breached and has no rule."""
    found: list[Rule] = []
    watches = sorted(topology.watches(), key=lambda w: (w.broker, target_label(w.target), w.address))
    for watch in watches:
        for limit in sorted(watch.limits, key=list(LIMITS).index):
            declared = watch.limits[limit]
            spec = LIMITS[limit]
            if limit in rules_for(watch.kind).alarm_only:  # no gauge to watch: the broker's own alarm does
                continue
            threshold = spec.threshold(declared.value)
            if spec.bound == "min" and threshold <= 0:
                continue
            comparison = ">" if spec.bound == "max" else "<"
            rule_labels = {**_object_labels(watch), "limit": limit, "severity": severity(watch, limit)}
            found.append(Rule(
                f"topology.{watch.broker}", alert_name(watch, limit),
                f"{selector(watch, spec.metric)} {comparison} {_number(threshold)}", rule_labels,
                {"summary": _summary(watch, limit, declared), "description": _description(watch, limit, declared)},
                watch, limit, threshold))
        origin = f", declared at {watch.origin.file}:{watch.origin.line}" if watch.origin else ""
        found.append(Rule(
            f"topology.{watch.broker}", OBJECT_MISSING, f"{selector(watch, EXISTS_GAUGE)} == 0",
            {**_object_labels(watch), "severity": "critical"},
            {"summary": _template_text(f"{_object(watch)} on target {target_label(watch.target)} is not on the broker"),
             "description": _template_text(f"{_object(watch)}{origin}, does not exist on the broker, so none of its "
                                           "limits can fire: run `topology plan` to see what apply would create.")},
            watch))
    for target in sorted({target_label(w.target) for w in watches}):
        found.append(Rule(
            "topology.targets", TARGET_DOWN, f"{UP_GAUGE}{{target={promql_string(target)}}} == 0",
            {"target": target, "severity": "critical"},
            {"summary": _template_text(f"topology exporter cannot read target {target}"),
             "description": _template_text(f"The last read of target {target} failed: the alerts of its queues, "
                                           "groups and streams cannot fire until it is read again.")},
            target=target))
    return found


def prometheus_rules(topology: Topology, *, hold: float) -> str:
    """A Prometheus rule file: one alert per watched object and limit, over the exporter's gauges; `hold`
    is the rules' `for:` in seconds."""
    lines = ["# Alert rules for the limits the topology files declare, over the gauges of `topology exporter`.",
             "# Generated by `topology alerts`: change the files' `monitor:` limits, not this file."]
    groups: dict[str, list[Rule]] = {}
    for rule in rules(topology):
        groups.setdefault(rule.group, []).append(rule)
    if not groups:
        return "\n".join([*lines, "groups: []", ""])
    lines.append("groups:")
    for name, members in groups.items():
        lines += [f"  - name: {_yaml(name)}", "    rules:"]
        for rule in members:
            lines += [f"      - alert: {_yaml(rule.alert)}", f"        expr: {_yaml(rule.expr)}",
                      f"        for: {_duration(hold)}"]
            lines += _mapping("labels", {key: _template_text(value) for key, value in rule.labels.items()}, 8)
            lines += _mapping("annotations", rule.annotations, 8)
    return "\n".join(lines) + "\n"


def promtool_tests(topology: Topology, *, hold: float, rules_file: str) -> str:
    """A promtool test file for `prometheus_rules(topology, hold=hold)` saved as `rules_file`.

    Every series sits on its limit for three evaluation steps, then crosses it; with a step of half of
    `hold` (or all of it, or a minute when `hold` is 0) the tests expect no alert on the limit (longer
    than `hold`), none while the breach is younger than `hold`, and every alert once it is older.
    """
    hold_ms = round(hold * 1000)
    step_ms = hold_ms // 2 if hold_ms >= 2 and hold_ms % 2 == 0 else (hold_ms or 60_000)
    steps_to_fire = hold_ms // step_ms
    breach_at = 3
    fire_at = breach_at + steps_to_fire
    length = fire_at + 2  # samples past the last evaluation, so no series goes stale before it
    found = rules(topology)
    series: list[tuple[str, list[float]]] = []
    expected: dict[str, list[tuple[dict[str, str], dict[str, str]]]] = {}
    for rule in found:
        expected.setdefault(rule.alert, []).append(_test_case(rule, series, breach_at, length))
    lines = ["# promtool unit tests for the alert rules `topology alerts` generated: `promtool test rules FILE`.",
             "# Generated by `topology alerts --format promtool-test`.",
             "rule_files:", f"  - {_yaml(rules_file)}",
             f"evaluation_interval: {_duration_ms(step_ms)}"]
    if not found:
        return "\n".join([*lines, "tests: []", ""])
    lines += ["tests:", f"  - interval: {_duration_ms(step_ms)}", "    input_series:"]
    for text, values in series:
        lines += [f"      - series: {_yaml(text)}", f"        values: {_yaml(' '.join(_number(v) for v in values))}"]
    lines.append("    alert_rule_test:")
    checks = [breach_at - 1] + ([fire_at - 1] if steps_to_fire else []) + [fire_at]
    for step in checks:
        for alert in sorted(expected):
            lines += [f"      - eval_time: {_duration_ms(step * step_ms)}", f"        alertname: {_yaml(alert)}"]
            if step < fire_at:
                lines.append("        exp_alerts: []")
                continue
            lines.append("        exp_alerts:")
            for alert_labels, texts in sorted(expected[alert], key=lambda e: sorted(e[0].items())):
                lines += _mapping("exp_labels", alert_labels, 10, first="- ")
                lines += _mapping("exp_annotations", texts, 12)
    return "\n".join(lines) + "\n"


def _test_case(rule: Rule, series: list[tuple[str, list[float]]], breach_at: int,
               length: int) -> tuple[dict[str, str], dict[str, str]]:
    """Add the input series of one rule (on its limit until `breach_at`, then past it); return the labels
    and the annotations its firing alert must have."""
    if rule.watch is None:
        up = {"target": rule.target}
        series.append((_series_text(UP_GAUGE, up), [1.0] * breach_at + [0.0] * (length - breach_at)))
        return {**up, **rule.labels}, _expand(rule.annotations, 0.0, "")
    if not rule.limit:  # OBJECT_MISSING: the object exists until `breach_at`, then is gone
        present = {key: value for key, value in labels(rule.watch).items() if value}
        series.append((_series_text(EXISTS_GAUGE, present), [1.0] * breach_at + [0.0] * (length - breach_at)))
        return {**present, **rule.labels}, _expand(rule.annotations, 0.0, "")
    spec = LIMITS[rule.limit]
    beyond = rule.threshold + 1 if spec.bound == "max" else rule.threshold - 1
    topics = rule.watch.topics if rule.watch.kind == "kafka.group" and rule.watch.topics else ("",)
    name = gauge(spec.metric)
    first = {key: value for key, value in labels(rule.watch, topics[0]).items() if value}
    series.append((_series_text(name, first), [rule.threshold] * breach_at + [beyond] * (length - breach_at)))
    for topic in topics[1:]:  # the group's other topics stay on the limit: their alerts must not fire
        series.append((_series_text(name, labels(rule.watch, topic)), [rule.threshold] * length))
    return {**first, **rule.labels}, _expand(rule.annotations, beyond, topics[0])


def _series_text(name: str, series_labels: Mapping[str, str]) -> str:
    inside = ",".join(f"{key}={promql_string(value)}" for key, value in series_labels.items() if value)
    return f"{name}{{{inside}}}"


def _expand(annotations: Mapping[str, str], value: float, topic: str) -> dict[str, str]:
    """The annotations as Prometheus expands their templates for a sample of `value` (on `topic`)."""
    out = {}
    for key, text in annotations.items():
        text = text.replace(COUNT_VALUE, f"{value:.0f}").replace(SECONDS_VALUE, _humanize_duration(value))
        out[key] = text.replace(TOPIC, topic).replace('{{ "{{" }}', "{{")
    return out


def _humanize_duration(seconds: float) -> str:
    """Prometheus' humanizeDuration, for the values the tests use (zero or more)."""
    if seconds == 0:
        return "0s"
    if seconds < 1:
        return f"{seconds * 1000:.4g}ms"
    whole = int(seconds)
    days, hours, minutes, secs = whole // 86400, whole // 3600 % 24, whole // 60 % 60, whole % 60
    if days:
        return f"{days}d {hours}h {minutes}m {secs}s"
    if hours:
        return f"{hours}h {minutes}m {secs}s"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{seconds:.4g}s"


def _object(watch: Watch) -> str:
    broker, noun = NOUNS.get(watch.kind, (watch.broker, watch.kind))
    return f"{broker} {ROLE_WORDS.get(watch.role, '')}{noun} {watch.address}"


def _object_labels(watch: Watch) -> dict[str, str]:
    every = labels(watch)
    return {key: every[key] for key in ("broker", "target", "address", "role")}


def _declared(limit: str, declared: Declared) -> str:
    value = format_duration(declared.value) if LIMITS[limit].duration else str(declared.value)
    return f"{limit}: {value}"


def _summary(watch: Watch, limit: str, declared: Declared) -> str:
    metric = LIMITS[limit].metric
    value = SECONDS_VALUE if METRICS[metric].unit == "seconds" else COUNT_VALUE
    measured = PHRASES[metric].format(v=value, items=ITEMS.get(watch.broker, "messages"))
    topic = f", topic {TOPIC}" if watch.kind == "kafka.group" else ""
    where = _template_text(f"{_object(watch)} on target {target_label(watch.target)}")
    return f"{where}{topic}: {measured} " + _template_text(f"(limit {_declared(limit, declared)})")


def _description(watch: Watch, limit: str, declared: Declared) -> str:
    origin = f" ({watch.origin.file}:{watch.origin.line})" if watch.origin else ""
    return _template_text(f"Limit {_declared(limit, declared)}, {declared.source}, on {_object(watch)}{origin}.")


def _template_text(text: str) -> str:
    """Literal text inside a rule's labels and annotations, which Prometheus reads as templates: `{{` would
    start an action."""
    return text.replace("{{", '{{ "{{" }}')


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _duration(seconds: float) -> str:
    return _duration_ms(round(seconds * 1000))


def _duration_ms(milliseconds: int) -> str:
    return format_duration(milliseconds) if milliseconds else "0s"


def _mapping(key: str, values: Mapping[str, str], indent: int, first: str = "") -> list[str]:
    pad = " " * indent
    lines = [f"{pad}{first}{key}:"]
    inner = " " * (indent + len(first) + 2)
    lines += [f"{inner}{name}: {_yaml(value)}" for name, value in values.items()]
    if not values:
        lines[0] += " {}"
    return lines


def _yaml(text: str) -> str:
    """`text` as a YAML double-quoted scalar: escapes for what YAML may not hold as it is, UTF-8 for the rest."""
    out = []
    for char in text:
        code = ord(char)
        if char in '\\"':
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif (code < 0x20 or 0x7F <= code < 0xA0 or 0xD800 <= code < 0xE000 or code in (0xFFFE, 0xFFFF, 0xFEFF)
              or char in "\u2028\u2029"):
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'
