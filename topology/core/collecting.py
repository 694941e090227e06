"""Python's cycle collector, paused while topology builds large object graphs that hold no garbage cycles.

Reading files, expanding them and planning make millions of small dicts and tuples, all kept until
the run ends. Every so many allocations the collector walks the whole growing heap looking for
cycles it will not find: measured, it was most of a 30,000-resource no-op plan on the local target.
Reference counting still frees everything else at once; the collector runs again after the block, which
hands what it made to the oldest generation instead of walking it (0.1 s of a 30,000-resource Redis
no-op plan).
"""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["cycles_collected_later", "kept_until_exit"]

_lock = threading.Lock()
_depth = 0  # blocks open, in any thread: the collector is enabled again when the last one ends
_enabled = False  # whether it was enabled when the first one began
_kept = False  # the process keeps what it made until it ends (the command line): see kept_until_exit


@contextmanager
def cycles_collected_later() -> Iterator[None]:
    """No cycle collection inside the block, nor while a block is open in another thread; as before after
    the last one ends."""
    global _depth, _enabled
    with _lock:
        if _depth == 0:
            _enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _enabled:
                _hand_over()
                gc.enable()


def _hand_over() -> None:
    """What the blocks made, handed to the oldest generation with the young generations' counts reset: else
    the collector, enabled with millions of young objects counted, walks all of them at the next
    allocation. Freeze and unfreeze splice lists and walk nothing (with the GIL); the objects are walked at
    the next full collection, as any old object is, and a cycle among them is freed then. The command line
    keeps them frozen instead. Nothing is done when something else is frozen (a program about to fork):
    unfreezing would thaw it too."""
    if _kept:
        gc.freeze()
    elif gc.get_freeze_count() == 0 and getattr(sys, "_is_gil_enabled", lambda: True)():
        gc.freeze()
        gc.unfreeze()


def kept_until_exit() -> None:
    """The command line, once it has compiled or planned: what exists now (the topology, the plan) stays
    until the process ends, so later collections (while applying) skip it instead of walking all of it
    each time. Cycles made from now on outside a paused block are still collected; what a paused block
    makes is kept frozen too."""
    global _kept
    _kept = True
    gc.freeze()
