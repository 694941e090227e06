"""The exporter's series, named in one place: what `topology exporter` serves and `topology alerts` selects.

For every watched object (`Topology.watches()`) and every metric its broker measures (the names of
`core.monitor.METRICS`), one gauge in the metric's unit (seconds for `*_seconds`):

    topology_<metric>{broker="...", target="...", address="...", role="...", topic="..."}

- `broker`: rabbitmq, kafka, sqs or redis (`Watch.broker`);
- `target`: the name of the target the object lives on; an object of no named target is read from
  the embedded local target and says `local` (`target_label`);
- `address`: the object's address (`Watch.address`), e.g. `rabbitmq/shop/queue/billing.dlq`;
- `role`: dead_letter, retry, work, group or stream (`Watch.role`);
- `topic`: the topic of a Kafka group's per-topic gauges (`Reading.part`), empty for everything else
  (Prometheus treats an empty label as no label).

A metric the broker cannot tell (a `Reading` without it) has no sample, never a made-up 0.

For every target: `topology_up{target, broker}` is 1 when the last read of that target succeeded and
0 when it failed. (The exporter serves more beside these, such as the limits as `topology_limit`; the
alert rules use only the gauges above.)

The alert rules select a gauge by `target` and `address` only (`selector`), which is one object on
one target; every series of a Kafka group (one per topic) is compared with the group's limit.
"""

from __future__ import annotations

from topology.core.monitor import Watch

__all__ = ["EXISTS_GAUGE", "LABELS", "LOCAL_TARGET", "PREFIX", "UP_GAUGE", "UP_LABELS", "gauge", "labels",
           "promql_string", "selector", "target_label"]

PREFIX = "topology_"
LABELS = ("broker", "target", "address", "role", "topic")  # of every topology_<metric> gauge, in this order
UP_GAUGE = "topology_up"
EXISTS_GAUGE = "topology_exists"  # of every watched object (labels as its gauges'): 0 when it is not on the broker
UP_LABELS = ("target", "broker")
LOCAL_TARGET = "local"  # what an object of no named target is read from, and its `target` label


def gauge(metric: str) -> str:
    """The gauge of a metric of `core.monitor.METRICS`: depth -> topology_depth."""
    return PREFIX + metric


def target_label(target: str | None) -> str:
    """The `target` label of an object on `target` (None: the embedded local target)."""
    return target or LOCAL_TARGET


def labels(watch: Watch, part: str = "") -> dict[str, str]:
    """The labels of a watched object's gauges; `part` is the topic of a Kafka group's per-topic reading."""
    return {"broker": watch.broker, "target": target_label(watch.target), "address": watch.address,
            "role": watch.role, "topic": part}


def promql_string(value: str) -> str:
    """`value` as a PromQL double-quoted string literal: backslashes, quotes and control characters escaped
    (PromQL reads Go's escapes); other characters, any Unicode, as they are."""
    out = []
    for char in value:
        if char in '\\"':
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif char == "\r":
            out.append("\\r")
        elif ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0 or char in "\u2028\u2029":
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def selector(watch: Watch, metric: str) -> str:
    """The PromQL selector of one object's gauge: topology_depth{target="local",address="rabbitmq/..."}; a
    name with the prefix already (topology_exists) is taken as it is."""
    name = metric if metric.startswith(PREFIX) else gauge(metric)
    return (f"{name}{{target={promql_string(target_label(watch.target))},"
            f"address={promql_string(watch.address)}}}")
