"""Python's cycle collector around topology's big builds (`core/collecting.py`): paused inside, and what the
block made handed to the oldest generation at its end. Nothing is leaked by it, nothing a program froze
itself (as before a fork) is thawed, and blocks in several threads keep it paused until the last ends."""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Iterator

import pytest

from topology.core import collecting
from topology.core.collecting import cycles_collected_later


class _Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the collector frees it


@pytest.fixture(autouse=True)
def _a_library_process(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """As in a program using topology as a library, nothing frozen: not the command line, which keeps
    everything (tests that ran it in this process froze what they made)."""
    monkeypatch.setattr(collecting, "_kept", False)
    gc.unfreeze()
    assert gc.isenabled() and gc.get_freeze_count() == 0
    yield
    gc.unfreeze()


def test_a_cycle_made_inside_is_freed_by_the_next_full_collection() -> None:
    with cycles_collected_later():
        assert not gc.isenabled()
        made = _Node()
        watched = weakref.ref(made)
        del made
    assert gc.isenabled()
    assert watched() is not None  # not collected inside the block
    gc.collect()
    assert watched() is None


def test_what_a_program_froze_stays_frozen() -> None:
    kept = [_Node() for _ in range(100)]
    gc.freeze()
    before = gc.get_freeze_count()
    with cycles_collected_later():
        [_Node() for _ in range(100)]
    assert gc.get_freeze_count() >= before - 100  # a few frozen temporaries may be freed; a thaw leaves 0
    gc.unfreeze()
    with cycles_collected_later():  # frozen by another thread while the block ran
        gc.freeze()
        frozen = gc.get_freeze_count()
    assert gc.get_freeze_count() >= frozen - 100
    del kept


def test_nested_blocks_keep_it_paused_until_the_outer_one_ends() -> None:
    with cycles_collected_later():
        with cycles_collected_later():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0  # handed over, not kept frozen


def test_blocks_in_two_threads_keep_it_paused_until_the_last_one_ends() -> None:
    entered, leave = threading.Event(), threading.Event()

    def other() -> None:
        with cycles_collected_later():
            entered.set()
            leave.wait(10)

    thread = threading.Thread(target=other)
    thread.start()
    assert entered.wait(10)
    with cycles_collected_later():
        pass
    assert not gc.isenabled()  # the other thread's block is still open
    leave.set()
    thread.join(10)
    assert gc.isenabled()


def test_the_command_line_keeps_what_the_blocks_made(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(collecting, "_kept", True)
    with cycles_collected_later():
        made = [_Node() for _ in range(10)]
    assert gc.get_freeze_count() >= len(made)
