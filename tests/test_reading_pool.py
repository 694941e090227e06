"""A Ctrl-C while thousands of reads are queued ends the command promptly: the reading pool starts none
of the queued reads and does not wait for the running one (brokers/aws inspect, the health reads, the
targets of a plan), and the command line ends the process without joining it. Left by an error, the
pool starts no queued read but lets the running one end, as its connection is closed next."""

from __future__ import annotations

import threading

import pytest

from topology.core.pool import reading_pool


class _SlowReads:
    """Reads that record their start and wait for `release` (at most `wait` seconds) before they end."""

    def __init__(self, wait: float) -> None:
        self.release = threading.Event()
        self.running = threading.Event()
        self.started: list[int] = []
        self.wait = wait

    def read(self, number: int) -> int:
        self.started.append(number)
        self.running.set()
        self.release.wait(timeout=self.wait)
        return number


def test_leaving_by_an_interrupt_starts_no_queued_read_and_waits_for_none() -> None:
    reads = _SlowReads(wait=30)  # the slow read: still running when the block is left
    with pytest.raises(KeyboardInterrupt), reading_pool(1) as pool:
        futures = [pool.submit(reads.read, n) for n in range(1000)]
        assert reads.running.wait(timeout=30)
        raise KeyboardInterrupt  # as Ctrl-C lands in the main thread
    assert reads.started == [0]  # left at once: the running read still waits, and no queued one started
    assert sum(f.cancelled() for f in futures) == 999
    reads.release.set()
    assert futures[0].result(timeout=30) == 0


def test_leaving_by_an_error_starts_no_queued_read_but_waits_for_the_running_one() -> None:
    reads = _SlowReads(wait=0.5)  # never released: the read ends by itself, after the error is raised

    def fail_once_running() -> None:
        assert reads.running.wait(timeout=30)
        raise OSError("a target cannot be read")

    with pytest.raises(OSError), reading_pool(1) as pool:
        futures = [pool.submit(reads.read, n) for n in range(100)]
        fail_once_running()
    assert reads.started == [0] and futures[0].done() and sum(f.cancelled() for f in futures) == 99


def test_leaving_normally_waits_for_every_read() -> None:
    with reading_pool(4) as pool:
        futures = [pool.submit(lambda n: n * 2, n) for n in range(100)]
    assert all(f.done() for f in futures) and sum(f.result() for f in futures) == 9900
