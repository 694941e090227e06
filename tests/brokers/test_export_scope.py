"""`topology export --include/--exclude`: a newcomer on a shared broker adopts one team's objects, by
vhost, by name glob or by kind, and the file it gets validates and plans empty on its own."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from tests.cli import topology, with_file
from tests.conftest import AWS_ENDPOINT_URL, KAFKA_BOOTSTRAP, RABBITMQ_URL, REDIS_URL, RabbitVhost, unique
from topology.format.compile import compile_topology


def _rabbitmq(vhost: str) -> str:
    return f"""version: 1
targets:
  main: {{kind: rabbitmq, url: "{RABBITMQ_URL}"}}
rabbitmq:
  target: main
  vhosts:
    {vhost}:
      exchanges:
        orders: {{type: topic}}
        unrelated: {{type: fanout}}
      queues:
        billing:
          bindings:
            - {{exchange: orders, routing_key: "order.*"}}
        shipping: {{}}
"""


def _export(folder: Path, target: str, *args: str, kind: str | None = None) -> tuple[str, dict[str, Any]]:
    out = folder / "exported.topology.yaml"
    result = topology("export", "--target", target, *(("--kind", kind) if kind else ()), *args, "--to", str(out),
                      cwd=folder)
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    return text, yaml.safe_load(text)


def _plans_empty(folder: Path, env: dict[str, str]) -> None:
    exported = str(folder / "exported.topology.yaml")
    assert topology("validate", exported, cwd=folder, env=env).returncode == 0
    plan = topology("plan", exported, "--detailed-exitcode", cwd=folder, env=env)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "No changes" in plan.stdout


def test_one_vhost_of_a_shared_broker(tmp_path: Path, rabbitmq_vhost: RabbitVhost, rabbitmq_api: Any) -> None:
    vhost = rabbitmq_vhost.name
    assert with_file(tmp_path, _rabbitmq(vhost), "apply", "--auto-approve").returncode == 0
    other = unique("other")  # another team's vhost on the same broker
    rabbitmq_api.put(f"/api/vhosts/{other}").raise_for_status()
    try:
        text, document = _export(tmp_path, f"live={RABBITMQ_URL}", "--include", f"rabbitmq/{vhost}/*",
                                 "--include", f"rabbitmq/vhost/{vhost}")
    finally:
        rabbitmq_api.delete(f"/api/vhosts/{other}")
    assert list(document["rabbitmq"]["vhosts"]) == [vhost]
    assert sorted(document["rabbitmq"]["vhosts"][vhost]["exchanges"]) == ["orders", "unrelated"]
    assert f"# Scope: rabbitmq/{vhost}/*, rabbitmq/vhost/{vhost} (addresses)." in text
    # The permission of the user the fixture connects as nests under that user: its real tags come too.
    assert "# Added because the objects in scope need them to be declared: rabbitmq/user/guest.\n" in text
    assert document["rabbitmq"]["users"]["guest"]["tags"] == ["administrator"]
    _plans_empty(tmp_path, {"TOPOLOGY_TARGET_LIVE": RABBITMQ_URL})


def test_a_binding_brings_its_exchange_and_nothing_else(tmp_path: Path, rabbitmq_vhost: RabbitVhost) -> None:
    vhost = rabbitmq_vhost.name
    assert with_file(tmp_path, _rabbitmq(vhost), "apply", "--auto-approve").returncode == 0
    text, document = _export(tmp_path, f"live={RABBITMQ_URL}", "--include", f"rabbitmq/{vhost}/queue/*",
                             "--include", f"rabbitmq/{vhost}/binding/*", "--exclude", "*/shipping")
    declared = document["rabbitmq"]["vhosts"][vhost]
    assert sorted(declared["queues"]) == ["billing"]
    assert sorted(declared["exchanges"]) == ["orders"]  # the binding's source, not `unrelated`
    assert ("# Added because the objects in scope need them to be declared: "
            f"rabbitmq/{vhost}/exchange/orders, rabbitmq/vhost/{vhost}.\n") in text
    _plans_empty(tmp_path, {"TOPOLOGY_TARGET_LIVE": RABBITMQ_URL})


def test_by_kind_across_vhosts_is_what_the_globs_say(tmp_path: Path, rabbitmq_vhost: RabbitVhost) -> None:
    vhost = rabbitmq_vhost.name
    assert with_file(tmp_path, _rabbitmq(vhost), "apply", "--auto-approve").returncode == 0
    _, document = _export(tmp_path, f"live={RABBITMQ_URL}", "--include", "*/exchange/*",
                          "--exclude", "*/exchange/amq.*")
    declared = document["rabbitmq"]["vhosts"][vhost]
    assert sorted(declared) == ["exchanges"] and sorted(declared["exchanges"]) == ["orders", "unrelated"]
    assert not any(name.startswith("amq.") for v in document["rabbitmq"]["vhosts"].values()
                   for name in v.get("exchanges", {}))


def test_a_kafka_group_brings_the_topics_it_reads(tmp_path: Path, kafka_prefix: str) -> None:
    text = f"""version: 1
targets:
  events: {{kind: kafka, bootstrap_servers: "{KAFKA_BOOTSTRAP}"}}
kafka:
  target: events
  topics:
    {kafka_prefix}orders: {{partitions: 2}}
    {kafka_prefix}audit: {{}}
  consumer_groups:
    {kafka_prefix}billing: {{topics: [{kafka_prefix}orders]}}
"""
    assert with_file(tmp_path, text, "apply", "--auto-approve").returncode == 0
    exported, document = _export(tmp_path, f"events={KAFKA_BOOTSTRAP}", "--include",
                                 f"kafka/group/{kafka_prefix}*", kind="kafka")
    assert sorted(document["kafka"]["topics"]) == [f"{kafka_prefix}orders"]
    assert sorted(document["kafka"]["consumer_groups"]) == [f"{kafka_prefix}billing"]
    assert "rabbitmq" not in document and f"kafka/topic/{kafka_prefix}orders." in exported
    _plans_empty(tmp_path, {"TOPOLOGY_TARGET_EVENTS": KAFKA_BOOTSTRAP})


def test_a_scope_that_matches_nothing_is_an_empty_file_that_says_so(tmp_path: Path) -> None:
    text, document = _export(tmp_path, f"live={RABBITMQ_URL}", "--include", "rabbitmq/no-such-vhost-*")
    assert "# Scope: rabbitmq/no-such-vhost-* (addresses)." in text
    assert not document.get("rabbitmq", {}).get("vhosts")


def test_a_local_state_exports_a_part_as_state_and_refuses_yaml_in_one_sentence(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    example = Path(__file__).resolve().parents[2] / "examples" / "shop.topology.yaml"
    applied = topology("apply", str(example), "--env", "dev", "--state", str(state), "--auto-approve", cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr
    part = topology("export", "--target", "local", "--state", str(state), "--format", "state",
                    "--include", "kafka/*", "--exclude", "kafka/group/*", cwd=tmp_path)
    assert part.returncode == 0, part.stderr
    assert sorted(json.loads(part.stdout)["resources"]) == ["kafka/topic/shop.orders", "kafka/topic/shop.orders.dlt"]
    refused = topology("export", "--target", "local", "--state", str(state), "--include", "kafka/*", cwd=tmp_path)
    assert refused.returncode == 1
    assert refused.stderr == "Error: --format yaml is not available for a local target; use --format state\n"


def test_names_that_look_like_variables_come_back_as_they_are(tmp_path: Path, rabbitmq_vhost: RabbitVhost,
                                                              rabbitmq_api: Any) -> None:
    """A live name holding `${HOME}` or `$$` is written so that `${VAR}` substitution reads it back as it is
    (`$${HOME}`), in keys and values alike: re-created from the file, nothing is renamed."""
    from urllib.parse import quote

    vhost = rabbitmq_vhost.name
    names = ["cost-${HOME}", "two$$dollars", "plain$"]
    for name in names:
        rabbitmq_api.put(f"/api/queues/{rabbitmq_vhost.path}/{quote(name, safe='')}",
                         json={"durable": True, "arguments": {"x-dead-letter-exchange": "",
                                                             "x-dead-letter-routing-key": name}}).raise_for_status()
    text, _ = _export(tmp_path, f"live={RABBITMQ_URL}", "--include", f"rabbitmq/{vhost}/queue/*")
    assert "cost-$${HOME}" in text and "two$$$dollars" in text and "plain$:" in text
    assert "url: ${TOPOLOGY_TARGET_LIVE}" in text  # the target's reference is meant to be read
    env = {"TOPOLOGY_TARGET_LIVE": RABBITMQ_URL, "HOME": "/elsewhere"}
    _plans_empty(tmp_path, env)
    rendered = topology("render", str(tmp_path / "exported.topology.yaml"), cwd=tmp_path, env=env)
    assert rendered.returncode == 0, rendered.stderr
    for name in names:
        assert f"rabbitmq/{vhost}/queue/{name}" in rendered.stdout


def test_names_holding_template_marks_and_line_breaks_come_back_as_they_are(
        tmp_path: Path, redis_prefix: tuple[Any, str]) -> None:
    """A file is rendered by jinja2 before it is read as YAML: a live name holding `{{`, `{%` or `{#` (in a
    key, a value or a comment) is written so that rendering gives it back, and a name holding a line break
    never ends the header's comment line (the rest of the name would be read as YAML)."""
    client, prefix = redis_prefix
    streams = [f"{prefix}a{{{{x}}}}", f"{prefix}b{{#c", f"{prefix}nl\nversion: 2\u2028x: 1"]
    for key in streams:
        client.xadd(key, {"f": "v"})
        client.xgroup_create(key, "{%g", id="0")
    client.xreadgroup("{%g", "{#consumer", {streams[0]: ">"})  # a consumer, said in a comment
    env = {"TOPOLOGY_TARGET_LIVE": REDIS_URL}
    out = tmp_path / "exported.topology.yaml"  # a template now: read by topology, not by a YAML parser
    exported = topology("export", "--target", f"live={REDIS_URL}", "--kind", "redis", "--include",
                        f"redis/group/{prefix}*", "--include", "x{{y}}{#z", "--to", str(out), cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    text = out.read_text()
    assert "{{ '{' }}#consumer (1 pending)" in text and "\\u2028x: 1" in text
    _plans_empty(tmp_path, env)
    declared = compile_topology([str(tmp_path / "exported.topology.yaml")], environ=env).resources
    assert sorted(a for a in declared if a.startswith("redis/group/")) == sorted(
        f"redis/group/{key}/{{%g" for key in streams)


def test_a_kind_glob_finds_redis_streams_as_the_address_globs_say(tmp_path: Path,
                                                                  redis_prefix: tuple[Any, str]) -> None:
    """Address globs are matched as fnmatch matches them (`[!x]`, a literal backslash), however Redis's SCAN
    patterns differ, and a glob naming no broker (`*/stream/...`) reaches Redis's streams too."""
    client, prefix = redis_prefix
    for key in ("s.one", "s[x]", "s\\b", "t.two"):
        client.xadd(prefix + key, {"f": "v"})
    cases = {f"*/stream/{prefix}s*": ["s.one", "s[x]", "s\\b"], f"r*/stream/{prefix}t*": ["t.two"],
             f"redis/stream/{prefix}s[!.]*": ["s[x]", "s\\b"], f"redis/stream/{prefix}s\\b": ["s\\b"],
             f"redis/stream/{prefix}s[[]x]": ["s[x]"]}
    for glob, expected in cases.items():
        _, document = _export(tmp_path, f"live={REDIS_URL}", "--include", glob, kind="redis")
        assert sorted(document["redis"]["streams"]) == [prefix + key for key in expected], glob



def test_a_chain_of_dead_letter_queues_is_followed_to_its_end(tmp_path: Path) -> None:
    """Each queue's redrive target needs declaring (else expansion would make it with defaults, and plan
    would change a live queue the scope left out), however long the chain: 12 queues, one selected."""
    import boto3

    sqs = boto3.client("sqs", endpoint_url=AWS_ENDPOINT_URL, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    prefix = unique("chain")
    urls: list[str] = []
    try:
        for index in reversed(range(12)):
            attributes = {"MessageRetentionPeriod": "86400"}
            if urls:
                arn = sqs.get_queue_attributes(QueueUrl=urls[-1], AttributeNames=["QueueArn"])["Attributes"]
                attributes["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": arn["QueueArn"],
                                                          "maxReceiveCount": "3"})
            urls.append(sqs.create_queue(QueueName=f"{prefix}-q{index}", Attributes=attributes)["QueueUrl"])
        _, document = _export(tmp_path, f"live={AWS_ENDPOINT_URL}", "--include", f"sqs/queue/{prefix}-q0",
                              kind="aws")
        assert sorted(document["sqs"]["queues"]) == sorted(f"{prefix}-q{index}" for index in range(12))
        _plans_empty(tmp_path, {"TOPOLOGY_TARGET_LIVE": AWS_ENDPOINT_URL})
    finally:
        for url in urls:
            sqs.delete_queue(QueueUrl=url)


def test_exchanges_bound_both_ways_bring_each_other_once(tmp_path: Path, rabbitmq_vhost: RabbitVhost,
                                                         rabbitmq_api: Any) -> None:
    vhost, path = rabbitmq_vhost.name, rabbitmq_vhost.path
    for name in ("left", "right", "apart"):
        rabbitmq_api.put(f"/api/exchanges/{path}/{name}", json={"type": "topic"}).raise_for_status()
    for source, destination in (("left", "right"), ("right", "left")):
        rabbitmq_api.post(f"/api/bindings/{path}/e/{source}/e/{destination}",
                          json={"routing_key": "#"}).raise_for_status()
    text, document = _export(tmp_path, f"live={RABBITMQ_URL}", "--include",
                             f"rabbitmq/{vhost}/exchange-binding/*")
    assert sorted(document["rabbitmq"]["vhosts"][vhost]["exchanges"]) == ["left", "right"]
    assert text.count(f"rabbitmq/{vhost}/exchange/left") == 1
    _plans_empty(tmp_path, {"TOPOLOGY_TARGET_LIVE": RABBITMQ_URL})


def test_what_comes_along_is_found_by_its_name_as_written(tmp_path: Path, rabbitmq_vhost: RabbitVhost,
                                                          rabbitmq_api: Any) -> None:
    """The objects a scope needs are found by reading the export as the file will be read: a binding's
    exchange named `x-${HOME}` comes along, not an exchange named after the environment's HOME."""
    from urllib.parse import quote

    vhost, path = rabbitmq_vhost.name, rabbitmq_vhost.path
    home = "/elsewhere"
    for exchange in ("x-${HOME}", f"x-{home}"):
        rabbitmq_api.put(f"/api/exchanges/{path}/{quote(exchange, safe='')}",
                         json={"type": "fanout", "durable": True}).raise_for_status()
    rabbitmq_api.put(f"/api/queues/{path}/q", json={"durable": True}).raise_for_status()
    rabbitmq_api.post(f"/api/bindings/{path}/e/{quote('x-${HOME}', safe='')}/q/q",
                      json={"routing_key": ""}).raise_for_status()
    out = tmp_path / "exported.topology.yaml"
    exported = topology("export", "--target", f"live={RABBITMQ_URL}", "--include", f"rabbitmq/{vhost}/binding/*",
                        "--to", str(out), cwd=tmp_path, env={"HOME": home})
    assert exported.returncode == 0, exported.stderr
    text = out.read_text()
    assert f"declared: rabbitmq/{vhost}/exchange/x-${{HOME}}" in text and "        x-$${HOME}:\n" in text
    assert f"x-{home}" not in text
    _plans_empty(tmp_path, {"TOPOLOGY_TARGET_LIVE": RABBITMQ_URL, "HOME": home})
