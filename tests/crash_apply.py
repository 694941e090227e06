"""`python -m tests.crash_apply N[:SIGNAL...] ARGS...`: the topology command line, SIGKILLed by itself after N
driver batches of an apply, as a crash or a power cut would stop it (for the contract suite's convergence
test); or sent the signals named (`3:SIGINT`, `3:SIGINT:SIGINT`), as a user's Ctrl-C would be. N = 0 sends
them as the targets are about to be inspected, before any change."""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from topology.engine.session import Engine


def _killing_apply(limit: int, signals: list[signal.Signals]) -> Any:
    original = Engine.apply

    def apply(self: Engine, plan: Any, **options: Any) -> Any:
        batches = [0]

        def after_batch(target: str, results: Any) -> None:
            batches[0] += 1
            if batches[0] == limit:
                for number in signals:
                    os.kill(os.getpid(), number)

        return original(self, plan, **options, after_batch=after_batch)

    return apply


def _signalled_plan(signals: list[signal.Signals]) -> Any:
    original = Engine.plan

    def plan(self: Engine, *args: Any, **options: Any) -> Any:
        for number in signals:
            os.kill(os.getpid(), number)
        return original(self, *args, **options)

    return plan


if __name__ == "__main__":
    # As a terminal's Ctrl-C reaches it: a test run started in the background inherits SIGINT ignored, which
    # Python (rightly) keeps, and the interrupt would never arrive.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    count, *names = sys.argv.pop(1).split(":")
    sent = [signal.Signals[n] for n in names or ["SIGKILL"]]
    if int(count):
        Engine.apply = _killing_apply(int(count), sent)  # type: ignore[method-assign]
    else:
        Engine.plan = _signalled_plan(sent)  # type: ignore[method-assign]
    from topology.cli import main

    sys.argv[0] = "topology"
    main()
