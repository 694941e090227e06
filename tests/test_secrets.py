"""Secrets never print and never enter a plan file, whatever characters they hold.

A property over passwords drawn with every character that is reserved in URLs: put in a target's URL
(percent-encoded as the user should, and raw as a careless user would) or in a Kafka client setting
or an AWS secret key, the password never appears in anything `validate`, `render`, `plan --out`
or `apply` print or write, on every broker kind and every failure path: the real brokers refusing
the credentials, a port where nothing listens, a URL that cannot be parsed.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.cli import topology
from tests.conftest import AWS_ENDPOINT_URL, KAFKA_BOOTSTRAP, RABBITMQ_URL, REDIS_URL
from topology.core.secrets import BrokerURL, Secret, parse_url
from topology.errors import InputError, redact_url

RESERVED = ":/?#[]@!$&'()*+,;=% "
PASSWORDS = st.text(alphabet=st.sampled_from(RESERVED + "abcXYZ019-_.~\\\"é"), min_size=4, max_size=16).map(
    lambda middle: f"Pw{middle}Z9")


def _forms(password: str) -> list[str]:
    """Every way the password could show up: as is, percent-encoded, and encoded the form way."""
    return [password, quote(password, safe=""), quote(password), quote(password, safe="").replace("%20", "+")]


def _host(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}"


def _documents(password: str, encoded: bool) -> dict[str, str]:
    pw = quote(password, safe="") if encoded else password
    yaml_pw = pw.replace("\\", "\\\\").replace('"', '\\"')
    rabbit = f"http://guest:{yaml_pw}@{_host(RABBITMQ_URL)}"
    redis = f"redis://topology-nobody:{yaml_pw}@{_host(REDIS_URL)}/0"
    secret = password.replace("\\", "\\\\").replace('"', '\\"')
    timeouts = "connect_timeout: 2s, timeout: 3s"
    return {
        "rabbitmq": f'version: 1\ntargets:\n  t: {{kind: rabbitmq, url: "{rabbit}", {timeouts}}}\n'
                    "rabbitmq:\n  target: t\n  vhosts:\n    v: {queues: {q: {}}}\n",
        "rabbitmq-nowhere": f'version: 1\ntargets:\n  t: {{kind: rabbitmq, url: "http://u:{yaml_pw}@127.0.0.1:9", '
                            f"{timeouts}}}\nrabbitmq:\n  target: t\n  vhosts:\n    v: {{queues: {{q: {{}}}}}}\n",
        "redis": f'version: 1\ntargets:\n  t: {{kind: redis, url: "{redis}", {timeouts}}}\n'
                 "redis:\n  target: t\n  streams:\n    s: {}\n",
        "kafka": f"version: 1\ntargets:\n  t:\n    kind: kafka\n    bootstrap_servers: {KAFKA_BOOTSTRAP}\n"
                 f"    connect_timeout: 2s\n    timeout: 3s\n    config: {{security.protocol: SASL_PLAINTEXT, "
                 f'sasl.mechanism: PLAIN, sasl.username: u, sasl.password: "{secret}"}}\n'
                 "kafka:\n  target: t\n  topics:\n    t.one: {}\n",
    }


def _outputs(folder: Path, document: str, env: dict[str, str] | None = None) -> str:
    (folder / "t.topology.yaml").write_text(document)
    seen = []
    for args in (("validate",), ("render",), ("plan", "--out", "p.json"),
                 ("apply", "--auto-approve")):
        result = topology(args[0], "t.topology.yaml", *args[1:], cwd=folder, env=env, timeout=60)
        seen += [result.stdout, result.stderr]
    if (folder / "p.json").exists():
        seen.append((folder / "p.json").read_text())
    return "\n".join(seen)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(password=PASSWORDS, encoded=st.booleans())
def test_a_password_never_appears_in_any_output_or_plan_file(tmp_path: Path, password: str, encoded: bool) -> None:
    for name, document in _documents(password, encoded).items():
        output = _outputs(tmp_path, document)
        assert "Traceback" not in output, (name, output)
        for form in _forms(password):
            assert form not in output, (name, form, output)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(password=PASSWORDS)
def test_an_aws_secret_key_never_appears_in_any_output(tmp_path: Path, password: str) -> None:
    document = (f'version: 1\ntargets:\n  t: {{kind: aws, region: us-east-1, endpoint_url: "{AWS_ENDPOINT_URL}", '
                "connect_timeout: 2s, timeout: 3s}\nsqs:\n  target: t\n  queues:\n    q: {}\n")
    output = _outputs(tmp_path, document, env={"AWS_ACCESS_KEY_ID": "AKIDTOPOLOGYTEST",
                                              "AWS_SECRET_ACCESS_KEY": password})
    assert "Traceback" not in output
    for form in _forms(password):
        assert form not in output, (form, output)


@given(password=PASSWORDS)
def test_the_secret_types_hide_the_value_in_every_rendering(password: str) -> None:
    secret = Secret(password)
    assert secret.reveal() == password
    for shown in (str(secret), repr(secret), f"{secret}", f"{secret!r}", "%s" % (secret,)):  # noqa: UP031
        assert password not in shown
    url = parse_url(f"redis://user:{quote(password, safe='')}@cache.internal:6380/2", what="the url")
    assert isinstance(url, BrokerURL) and url.password is not None and url.password.reveal() == password
    assert parse_url(url.reveal(), what="the url").password == url.password  # reveal() round-trips
    for control in "\t\n\r":  # urlsplit would drop them from the password silently
        with pytest.raises(InputError, match="control character"):
            parse_url(f"redis://user:a{control}b@cache.internal:6380/2", what="the url")
    for shown in (str(url), repr(url), f"{url}", redact_url(url.reveal())):
        assert all(form not in shown for form in _forms(password)), shown
        assert "cache.internal:6380" in shown
