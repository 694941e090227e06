"""Apply's waves over the dependency graph, with and without drivers that take a change in the same batch as
a prerequisite (`Driver.together`: RabbitMQ's definitions import orders what it creates itself).

Generated plans (any graph, creates, updates and deletes, any failures, any `together`) are run through
the waves as apply runs them; whatever the input, no change is attempted before what it needs, except
beside it in the same batch, after it, where its driver said so."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from topology.brokers.base import ChangeResult
from topology.engine.apply import _Waves
from topology.engine.plan import Change, Plan

Together = Callable[[Change, Change], bool]


@st.composite
def _plans(draw: st.DrawFn) -> tuple[Plan, set[str], set[str], set[tuple[str, str]]]:
    """A plan in apply's order (forward changes before deletes, each after what it depends on), the addresses
    that fail, those a Ctrl-C leaves unstarted, and the (change, prerequisite) pairs a driver takes together."""
    count = draw(st.integers(1, 14))
    forward: list[Change] = []
    deletes: list[Change] = []
    for index in range(count):
        earlier = [c.address for c in forward + deletes]
        depends = tuple(draw(st.lists(st.sampled_from(earlier), max_size=3, unique=True))) if earlier else ()
        action = draw(st.sampled_from(["create", "create", "update", "replace", "delete"]))
        change = Change(address=f"x/{index}", kind="test.thing", target=draw(st.sampled_from(["a", "b"])),
                        action=action, depends_on=depends)
        (deletes if action == "delete" else forward).append(change)
    changes = forward + deletes
    addresses = [c.address for c in changes]
    failing = set(draw(st.lists(st.sampled_from(addresses), max_size=4)))
    unstarted = set(draw(st.lists(st.sampled_from(addresses), max_size=1)))
    pairs = set(draw(st.lists(st.tuples(st.sampled_from(addresses), st.sampled_from(addresses)), max_size=20)))
    return Plan(source_digest="", live_digests={}, changes=tuple(changes)), failing, unstarted, pairs


def _needs(plan: Plan) -> dict[str, set[str]]:
    """What apply must finish before each change, as the engine's docs say: the changes of what it depends on;
    for a delete, every other change but deletes, and the deletes of what depends on it."""
    forward = {c.address for c in plan.changes if c.action != "delete"}
    return {c.address: forward | {d.address for d in plan.changes if d.action == "delete" and c.address in d.depends_on
                                  and d.address != c.address}
            if c.action == "delete" else {d for d in c.depends_on if d in forward and d != c.address}
            for c in plan.changes}


def _run(plan: Plan, failing: set[str], together: Together | None,
         unstarted: set[str] | None = None) -> tuple[list[list[str]], _Waves]:
    """The waves as apply runs them, each batch's results as a driver that fails `failing` reports them
    (ignoring what it was taken together with); a Ctrl-C leaves `unstarted` unstarted and ends the apply."""
    waves = _Waves(plan, together)
    ran: list[list[str]] = []
    while wave := waves.next():
        ran.append([c.address for c in wave])
        results = [ChangeResult(c.address, False, started=False) if c.address in (unstarted or set())
                   else ChangeResult(c.address, c.address not in failing) for c in wave]
        waves.record(waves.behind_failures(results), None)
        if not all(r.started for r in results):
            waves.interrupt()
            break
    return ran, waves


def _check(plan: Plan, failing: set[str], unstarted: set[str], together: Together | None) -> None:
    ran, waves = _run(plan, failing, together, unstarted)
    report, prerequisites = waves.report, _needs(plan)
    assert {a: waves.prerequisites(a) for a in waves.by_address} == prerequisites
    by_address = {c.address: c for c in plan.changes}
    order = {a: index for wave in ran for index, a in enumerate(wave)}  # place in its batch
    attempted = [a for wave in ran for a in wave if a not in report.interrupted]
    assert sorted(attempted + report.not_attempted + report.interrupted) == sorted(by_address), "each once"
    assert sorted(attempted) == sorted(report.applied + list(report.failed))
    wave_of = {a: index for index, wave in enumerate(ran) for a in wave}
    for address in attempted:
        for needed in prerequisites[address]:
            assert needed in wave_of, f"{address} ran though {needed} never did"
            if wave_of[needed] < wave_of[address]:
                assert needed in report.applied, f"{address} ran after {needed} failed"
                continue
            assert wave_of[needed] == wave_of[address], f"{address} ran before {needed}"
            assert together is not None and together(by_address[address], by_address[needed]), \
                f"{address} ran beside {needed} without its driver taking them together"
            assert order[needed] < order[address], f"{address} comes before {needed} in its batch"
            if needed not in report.applied:  # taken together with what failed: failed too
                assert address in report.failed, f"{address} counted as done though {needed} failed"
    for address in report.not_attempted:  # only what needs something that failed, or was itself left out
        assert prerequisites[address] & (set(report.failed) | set(report.not_attempted)), address
    for index, wave in enumerate(ran):  # nothing that could run (or join this wave) waits for a later one
        before = {a for earlier in ran[:index] for a in earlier if a in report.applied}
        later = [a for a in by_address if wave_of.get(a, len(ran)) > index and a not in report.interrupted]
        for address in later:
            waiting = prerequisites[address] - before
            assert waiting, f"{address} could have run in wave {index}"
            if together is not None and by_address[address].action != "delete" and waiting <= set(wave):
                assert not all(together(by_address[address], by_address[p]) for p in waiting), \
                    f"{address} could have joined wave {index}"


@settings(max_examples=300, deadline=None)
@given(_plans())
def test_waves_never_run_a_change_before_what_it_needs(
        drawn: tuple[Plan, set[str], set[str], set[tuple[str, str]]]) -> None:
    plan, failing, unstarted, pairs = drawn

    def together(change: Change, prerequisite: Change) -> bool:
        return change.target == prerequisite.target and (change.address, prerequisite.address) in pairs

    _check(plan, failing, unstarted, None)
    _check(plan, failing, unstarted, together)


def test_a_chain_a_driver_takes_together_is_one_wave_after_what_it_does_not() -> None:
    vhost = Change(address="v", kind="rabbitmq.vhost", target="r", action="create")
    queue = Change(address="q", kind="rabbitmq.queue", target="r", action="create", depends_on=("v",))
    exchange = Change(address="e", kind="rabbitmq.exchange", target="r", action="create", depends_on=("v",))
    binding = Change(address="b", kind="rabbitmq.binding", target="r", action="create", depends_on=("e", "q"))
    plan = Plan(source_digest="", live_digests={}, changes=(vhost, exchange, queue, binding))

    def imported(change: Change, prerequisite: Change) -> bool:
        return "rabbitmq.vhost" not in (change.kind, prerequisite.kind)

    assert _run(plan, set(), imported)[0] == [["v"], ["e", "q", "b"]]
    assert _run(plan, set(), None)[0] == [["v"], ["e", "q"], ["b"]]
    _, waves = _run(plan, {"v"}, imported)
    assert waves.report.failed == {"v": "failed"} and sorted(waves.report.not_attempted) == ["b", "e", "q"]
    _, waves = _run(plan, {"q"}, imported)  # the import made the binding, but its queue failed
    assert waves.report.applied == ["v", "e"]
    assert waves.report.failed == {"q": "failed", "b": "made all the same, but `q`, which it needs, failed; "
                                   "apply again once it is fixed"}


def test_what_the_waves_hold_grows_with_the_plan_not_with_deletes_times_creates() -> None:
    """A plan pruning thousands of objects beside thousands of creates: every delete waits for every create,
    which is said once (it used to be copied into each delete's set: 200 million entries for 10,000 deletes
    beside 20,000 creates, more memory than a machine has)."""
    creates = [Change(address=f"q/{i}", kind="test.thing", target="a", action="create") for i in range(2000)]
    deletes = [Change(address=f"old/{i}", kind="test.thing", target="a", action="delete") for i in range(2000)]
    plan = Plan(source_digest="", live_digests={}, changes=tuple(creates + deletes))
    ran, waves = _run(plan, set(), None)
    assert [len(wave) for wave in ran] == [2000, 2000]
    assert sum(len(own) for own in waves.own.values()) + len(waves.forward) <= 2 * len(plan.changes)
    assert waves.prerequisites("old/7") == {c.address for c in creates}
