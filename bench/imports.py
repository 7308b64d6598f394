"""How long loading vidpipe takes, against loading Dagster alone.

Each measurement is a fresh Python process, timed from start to exit (interpreter start included,
as a user or the code server pays it). The three are interleaved within each round, in a rotating
order, so a busy moment on a shared machine hits them alike; ratios are per round, min and median
over the rounds:
  dagster       `import dagster`
  definitions   `import vidpipe_dagster.definitions` (what the code server loads)
  help          `vidpipe --help`

    python -m bench.imports [--rounds 9]      (from the repository root)
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = {
    "dagster": [sys.executable, "-c", "import dagster"],
    "definitions": [sys.executable, "-c", "import vidpipe_dagster.definitions"],
    "help": [str(Path(sys.executable).with_name("vidpipe")), "--help"],
}


def _seconds(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()

    for command in COMMANDS.values():  # warm the file cache and the bytecode
        _seconds(command)
    names = list(COMMANDS)
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(args.rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            times[name].append(_seconds(COMMANDS[name]))
        print(f"round {round_index + 1}: " + "  ".join(f"{name} {times[name][-1]:.3f} s" for name in names), flush=True)

    def summary(values: list[float], unit: str) -> str:
        return f"min {min(values):.2f}{unit} / median {statistics.median(values):.2f}{unit}"

    print()
    for name in names:
        print(f"{name:12} {summary(times[name], ' s')}")
    for name in ("definitions", "help"):
        ratios = [mine / dagster for mine, dagster in zip(times[name], times["dagster"], strict=True)]
        print(f"{name}/dagster per round: {summary(ratios, '×')}")


if __name__ == "__main__":
    main()
