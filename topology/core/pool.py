"""A bounded thread pool for reads that a Ctrl-C may cut short."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

__all__ = ["reading_pool"]


@contextmanager
def reading_pool(workers: int) -> Iterator[ThreadPoolExecutor]:
    """A pool of at most `workers` threads for reads. Left by an error or a Ctrl-C, it starts none of the
    reads still queued and does not wait for the running ones (a read changes nothing), so the command
    ends promptly even with thousands of objects queued on a slow network."""
    pool = ThreadPoolExecutor(max_workers=max(1, workers))
    try:
        yield pool
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
