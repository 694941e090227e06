"""`python -m tests.crash_apply N ARGS...`: the topology command line, SIGKILLed by itself after N driver
batches of an apply, as a crash or a power cut would stop it (for the contract suite's convergence test)."""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from topology.engine.session import Engine


def _killing_apply(limit: int) -> Any:
    original = Engine.apply

    def apply(self: Engine, plan: Any, **options: Any) -> Any:
        batches = [0]

        def after_batch(target: str, results: Any) -> None:
            batches[0] += 1
            if batches[0] >= limit:
                os.kill(os.getpid(), signal.SIGKILL)

        return original(self, plan, **options, after_batch=after_batch)

    return apply


if __name__ == "__main__":
    limit = int(sys.argv.pop(1))
    Engine.apply = _killing_apply(limit)  # type: ignore[method-assign]
    from topology.cli import main

    sys.argv[0] = "topology"
    main()
