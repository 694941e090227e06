"""How long the command line takes to start: `topology --help` and `topology validate` of the shop
example, against `python -c pass` (the interpreter's own start, the floor), measured in the same run.

    .venv/bin/python bench/cli_start.py [--rounds 15]

Each round runs every command once, the order rotating; the medians are printed, with the ratio to
the floor and the aim from the issue that asked for them.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "topology --help": [sys.executable, "-m", "topology", "--help"],
    "topology validate shop": [sys.executable, "-m", "topology", "validate", "examples/shop.topology.yaml"],
}
AIMS = {"topology --help": 0.08, "topology validate shop": 0.15}


def _time(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    names = list(COMMANDS)
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_number in range(args.rounds):
        shift = round_number % len(names)
        for name in names[shift:] + names[:shift]:
            times[name].append(_time(COMMANDS[name]))
    floor = statistics.median(times["python -c pass"])
    print(f"medians of {args.rounds} rounds, the order rotating")
    for name in names:
        median = statistics.median(times[name])
        aim = f"   aim < {AIMS[name]:.2f} s" if name in AIMS else ""
        print(f"{name:24} {median:6.3f} s   {median / floor:5.1f}x python -c pass{aim}")


if __name__ == "__main__":
    main()
