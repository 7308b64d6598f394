"""How long loading vidpipe takes, against loading Dagster alone.

Each measurement is a fresh Python process, timed from start to exit (interpreter start included,
as a user or the code server pays it): its wall time, and its own CPU time (user + system, from
wait4), which a busy machine disturbs far less. They are interleaved within each round, in a
rotating order, so a busy moment on a shared machine hits them alike; ratios are per round, min
and median over the rounds:
  dagster       `import dagster`
  definitions   `import vidpipe_dagster.definitions` (what the code server and every run load)
  help          `vidpipe --help`
With `--before DIR` (an earlier checkout's package, e.g. `git archive <commit> vidpipe_dagster |
tar -x -C DIR`), its definitions and help are measured in the same rounds.

    python -m bench.imports [--rounds 9] [--before DIR]      (from the repository root)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

HELP = "from vidpipe_dagster.cli import main\nsys.exit(main(['--help']))"
DEFINITIONS = "import vidpipe_dagster.definitions"


def _python(statement: str, tree: str | None = None) -> list[str]:
    prelude = "import sys\n"
    if tree is not None:
        # The editable install's finder would answer for vidpipe_dagster before sys.path does.
        prelude += f"sys.meta_path[:] = [f for f in sys.meta_path if not f.__module__.startswith('__editable__')]\nsys.path.insert(0, {tree!r})\n"
    return [sys.executable, "-c", prelude + statement]


def _seconds(command: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of one process running `command`."""
    started = time.perf_counter()
    pid = os.posix_spawn(command[0], command, os.environ, file_actions=[(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0)])
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{command} failed")
    return wall, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--before", metavar="DIR", help="a folder holding an earlier vidpipe_dagster package")
    args = parser.parse_args()

    commands = {"dagster": _python("import dagster"), "definitions": _python(DEFINITIONS), "help": _python(HELP)}
    if args.before:
        commands |= {"definitions before": _python(DEFINITIONS, args.before), "help before": _python(HELP, args.before)}
    for command in commands.values():  # warm the file cache and the bytecode
        _seconds(command)
    names = list(commands)
    times: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(args.rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            wall, used = _seconds(commands[name])
            times[name].append(wall)
            cpu[name].append(used)
        print(f"round {round_index + 1}: " + "  ".join(f"{name} {times[name][-1]:.3f} s" for name in names), flush=True)

    def summary(values: list[float], unit: str) -> str:
        return f"min {min(values):.2f}{unit} / median {statistics.median(values):.2f}{unit}"

    print()
    for name in names:
        print(f"{name:20} wall {summary(times[name], ' s')}   cpu {summary(cpu[name], ' s')}")
    for name in names[1:]:
        for kind, seconds in (("wall", times), ("cpu", cpu)):
            ratios = [mine / dagster for mine, dagster in zip(seconds[name], seconds["dagster"], strict=True)]
            print(f"{name + ' / dagster':30} {kind:4} per round: {summary(ratios, '×')}")


if __name__ == "__main__":
    main()
