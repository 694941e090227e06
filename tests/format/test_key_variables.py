"""`${VAR}` in a mapping key (a vhost, topic or queue named from the environment) is substituted like a
value: never created as the literal text, and every problem under it still points at its line."""

from __future__ import annotations

import time
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.cli import with_file
from topology.format.compile import compile_topology
from topology.format.load import YAML_DEPTH_LIMIT, Positions

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


def test_keys_collide_only_when_their_final_names_do(tmp_path: Path) -> None:
    # `$${A}` is the name `${A}` itself (as export writes a live name holding `${`), `${A}` is A's value: two
    # names, and a key that becomes the text another key was written as is no clash either.
    text = "version: 1\nredis:\n  streams:\n    $${A}: {}\n    ${A}: {}\n"
    addresses, problems = _compile(tmp_path, text, {"A": "z"})
    assert problems == [] and addresses == ["redis/stream/${A}", "redis/stream/z"]
    exported = "version: 1\nredis:\n  streams:\n    $$$${A}: {}\n    $${A}: {}\n"  # live `$${A}` and `${A}`
    addresses, problems = _compile(tmp_path, exported, {})
    assert problems == [] and addresses == ["redis/stream/$${A}", "redis/stream/${A}"]
    swapped = "version: 1\nredis:\n  streams:\n    ${A}: {}\n    ${B}: {}\n"
    addresses, problems = _compile(tmp_path, swapped, {"A": "${B}", "B": "q"})
    assert problems == [] and addresses == ["redis/stream/${B}", "redis/stream/q"]


def test_a_clash_is_said_at_each_key_that_becomes_a_name_declared_otherwise(tmp_path: Path) -> None:
    text = "version: 1\nkafka:\n  topics:\n    ${A}: {}\n    orders: {}\n    ${B}: {}\n"
    _, problems = _compile(tmp_path, text, {"A": "orders", "B": "orders"})
    assert problems == ["4: the key `${A}` becomes `orders`, which is declared beside it as well",
                        "6: the key `${B}` becomes `orders`, which is declared beside it as well"]


def test_a_top_level_key_never_becomes_vars_or_environments(tmp_path: Path) -> None:
    # Both are read before anything is substituted: content under a key that only becomes one would be lost.
    for section in ("vars", "environments"):
        _, problems = _compile(tmp_path, "version: 1\n${S}:\n  prod: {}\n", {"S": section})
        assert problems == [f"2: the key `${{S}}` becomes `{section}`, which is read before variables are "
                            "substituted"], problems


def test_renaming_positions_is_linear_in_the_paths_under_the_key() -> None:
    # A file's positions hold a path per value (up to 500,000), each up to 64 deep; one `${VAR}` key at the
    # top renames them all. Prefix by prefix this took 12 s for 100,000 paths.
    positions = Positions("f")
    trunk = tuple(f"k{depth}" for depth in range(YAML_DEPTH_LIMIT - 1))
    for depth in range(len(trunk) + 1):
        positions.values[trunk[:depth]] = positions.keys[trunk[:depth]] = (depth + 1, 1)
    for index in range(100_000):
        positions.values[(*trunk, f"l{index}")] = positions.keys[(*trunk, f"l{index}")] = (index, 1)
    started = time.perf_counter()
    positions.rename({trunk[:1]: "renamed", trunk[:40]: "deep"})
    elapsed = time.perf_counter() - started
    assert positions.values[("renamed", *trunk[1:39], "deep", *trunk[40:], "l7")] == (7, 1)
    assert positions.keys[("renamed",)] == (2, 1) and positions.values[()] == (1, 1)
    assert len(positions.values) == len(trunk) + 1 + 100_000
    assert elapsed < 3.0, f"{elapsed:.1f} s"


def test_a_dollar_written_as_an_escape_is_substituted_like_one_written_plainly(tmp_path: Path) -> None:
    """Substitution is skipped for a file whose text holds neither `$` nor `\\`; an escape still writes one."""
    for written in ('"\\x24{PREFIX}.orders"', '"\\u0024{PREFIX}.orders"', '"\\U00000024{PREFIX}.orders"'):
        text = f"version: 1\nkafka:\n  topics:\n    {written}: {{partitions: 3}}\n"
        assert _compile(tmp_path, text, {"PREFIX": "prod"}) == (["kafka/topic/prod.orders"], []), written
    plain = "version: 1\nkafka:\n  topics:\n    orders: {partitions: 3}\n"
    assert _compile(tmp_path, plain, {"PREFIX": "prod"}) == (["kafka/topic/orders"], [])
