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
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["cycles_collected_later", "kept_until_exit"]


@contextmanager
def cycles_collected_later() -> Iterator[None]:
    """No cycle collection inside the block (nested blocks are fine); as before after it."""
    enabled = gc.isenabled()
    frozen = gc.get_freeze_count()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            if not frozen:
                # What the block made goes straight to the oldest generation, the young generations' counts
                # reset (freeze and unfreeze splice lists; neither walks them): else the collector, enabled with
                # millions of young objects counted, walks all of them at the next allocation. They are walked
                # at the next full collection, as any old object is; a cycle among them is freed then. Not
                # when something was frozen before (a program about to fork): unfreezing would thaw it too.
                gc.freeze()
                gc.unfreeze()
            gc.enable()


def kept_until_exit() -> None:
    """The command line, once it has compiled or planned: what exists now (the topology, the plan) stays
    until the process ends, so later collections (while applying) skip it instead of walking all of it
    each time. Cycles made from now on are still collected; those made while the collector was paused
    are kept, once (the exporter and `status --watch` freeze once, after compiling)."""
    gc.freeze()
