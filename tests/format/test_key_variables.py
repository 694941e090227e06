"""`${VAR}` in a mapping key (a vhost, topic or queue named from the environment) is substituted like a
value: never created as the literal text, and every problem under it still points at its line."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.cli import with_file
from topology.format.compile import compile_topology

_FILE = """version: 1
rabbitmq:
  vhosts:
    ${VHOST}:
      queues:
        ${TEAM:-billing}.work:
          max_length: 10
kafka:
  topics:
    ${PREFIX}.orders: {partitions: 3}
"""


def _compile(tmp_path: Path, text: str, environ: dict[str, str]) -> tuple[list[str], list[str]]:
    path = tmp_path / "t.topology.yaml"
    path.write_text(text)
    topology = compile_topology([str(path)], environ=environ)
    problems = [f"{p.location.line if p.location else '?'}: {p.message}" for p in topology.errors]
    return sorted(topology.resources), problems


def test_keys_take_the_environment_and_their_defaults(tmp_path: Path) -> None:
    addresses, problems = _compile(tmp_path, _FILE, {"VHOST": "shop-prod", "PREFIX": "prod"})
    assert problems == []
    assert addresses == ["kafka/topic/prod.orders", "rabbitmq/shop-prod/queue/billing.work",
                         "rabbitmq/vhost/shop-prod"]
    assert not any("$" in address for address in addresses)


def test_an_unset_variable_in_a_key_is_a_located_error_not_a_literal_name(tmp_path: Path) -> None:
    result = with_file(tmp_path, _FILE, "validate", env={"PREFIX": "prod", "VHOST": "shop"})
    assert result.returncode == 0, result.stdout + result.stderr
    unset = with_file(tmp_path, _FILE, "validate", env={"PREFIX": "prod"})
    assert unset.returncode == 1
    assert ('t.topology.yaml:4:5 rabbitmq.vhosts["${VHOST}"]: environment variable VHOST is not set '
            "(export VHOST, or write ${VHOST:-default} to give a default)\n1 error, ") in unset.stdout + unset.stderr
    assert "Traceback" not in unset.stderr


def test_a_problem_under_a_renamed_key_points_at_its_own_line(tmp_path: Path) -> None:
    text = _FILE.replace("max_length: 10", "max_length: lots")
    _, problems = _compile(tmp_path, text, {"VHOST": "shop", "PREFIX": "p"})
    assert len(problems) == 1 and problems[0].startswith("7: "), problems


def test_two_keys_that_become_one_are_refused_where_they_are_written(tmp_path: Path) -> None:
    text = "version: 1\nkafka:\n  topics:\n    orders: {}\n    ${NAME}: {partitions: 3}\n"
    _, problems = _compile(tmp_path, text, {"NAME": "orders"})
    assert problems == ["5: the key `${NAME}` becomes `orders`, which is declared beside it as well"]
    _, empty = _compile(tmp_path, text, {"NAME": ""})
    assert empty == ["5: the key `${NAME}` becomes ``, which is empty"]


_SAFE = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=20)


@given(vhost=_SAFE, prefix=_SAFE, team=st.one_of(st.none(), _SAFE))
@settings(max_examples=40, deadline=None)
def test_every_key_is_substituted_and_no_literal_survives(tmp_path_factory: object, vhost: str, prefix: str,
                                                         team: str | None) -> None:
    from pytest import TempPathFactory

    assert isinstance(tmp_path_factory, TempPathFactory)
    environ = {"VHOST": vhost, "PREFIX": prefix, **({"TEAM": team} if team is not None else {})}
    addresses, problems = _compile(tmp_path_factory.mktemp("keys"), _FILE, environ)
    assert problems == []
    assert addresses == sorted([f"kafka/topic/{prefix}.orders", f"rabbitmq/{vhost}/queue/{team or 'billing'}.work",
                                f"rabbitmq/vhost/{vhost}"])
