"""A bounded thread pool for reads that a Ctrl-C may cut short."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

__all__ = ["reading_pool"]


@contextmanager
def reading_pool(workers: int) -> Iterator[ThreadPoolExecutor]:
    """A pool of at most `workers` threads for reads. Left by an error, it starts none of the reads still
    queued and waits only for the running ones (so nothing is still reading through a connection the
    caller closes next). Left by a Ctrl-C, it does not wait for those either: the command line then ends
    the process at once (`cli.main`), even with thousands of reads queued on a slow network."""
    pool = ThreadPoolExecutor(max_workers=max(1, workers))
    try:
        yield pool
    except KeyboardInterrupt:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
