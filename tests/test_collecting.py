"""Python's cycle collector around topology's big builds (`core/collecting.py`): paused inside, and what the
block made handed to the oldest generation at its end. Nothing is leaked by it, and nothing a program froze
itself (as before a fork) is thawed."""

from __future__ import annotations

import gc
import weakref

from topology.core.collecting import cycles_collected_later


class _Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the collector frees it


def test_a_cycle_made_inside_is_freed_by_the_next_full_collection() -> None:
    assert gc.isenabled()
    with cycles_collected_later():
        assert not gc.isenabled()
        made = _Node()
        watched = weakref.ref(made)
        del made
    assert gc.isenabled()
    assert watched() is not None  # not collected inside the block
    gc.collect()
    assert watched() is None


def test_what_a_program_froze_before_stays_frozen() -> None:
    kept = [_Node() for _ in range(100)]
    gc.freeze()
    try:
        before = gc.get_freeze_count()
        assert before >= 100
        with cycles_collected_later():
            [_Node() for _ in range(100)]
        assert gc.get_freeze_count() == before
    finally:
        gc.unfreeze()
    del kept


def test_inside_a_block_the_collector_stays_paused_until_the_outer_one_ends() -> None:
    with cycles_collected_later():
        with cycles_collected_later():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0  # handed over, not kept frozen
