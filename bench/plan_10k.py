"""Plan a generated ~10,000-resource topology against a local state that already matches it.

    .venv/bin/python bench/plan_10k.py [--queues N]

The baseline, measured in the same run, is compiling the same files alone (load, expand,
validate: what `topology validate` does); the ratio shows what inspecting the state file and
diffing add on top.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from validate_10k import generate

from topology.engine.session import Engine
from topology.format.compile import compile_topology


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queues", type=int, default=2400)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "big.topology.yaml"
        path.write_text(generate(args.queues))
        state = Path(folder) / "state.json"
        with Engine([str(path)], state=state) as engine:
            report = engine.apply(engine.plan())
        assert report.ok, report.failed
        compile_times, plan_times = [], []
        for _ in range(args.repeat):
            start = time.perf_counter()
            compile_topology([str(path)])
            compile_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            with Engine([str(path)], state=state) as engine:
                plan = engine.plan()
            plan_times.append(time.perf_counter() - start)
            assert plan.is_empty, plan.summary()
            resources = len(engine.topology.resources)
    base, total = statistics.median(compile_times), statistics.median(plan_times)
    print(f"resources: {resources}, live state matches (median of {args.repeat} runs)")
    print(f"baseline  compile only (load + expand + validate): {base * 1000:8.1f} ms")
    print(f"topology  plan (compile + inspect + diff):         {total * 1000:8.1f} ms   ratio {total / base:.2f}x")


if __name__ == "__main__":
    main()
