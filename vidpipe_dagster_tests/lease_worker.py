"""A vidpipe worker in a process of its own, for tests that need several at once.

    python -m vidpipe_dagster_tests.lease_worker JOB PARTITION [--gate DIR]

It runs one partition of a job in this process, as `vidpipe demo` does: no run queue, so only the
project lease keeps two workers apart. With --gate, the image model stops inside its first call,
after creating DIR/entered, until DIR/release exists: the test then knows the worker is mid-step,
holding its project's lease, and can kill, stop or release it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from vidpipe_dagster.resources.models.local import LocalImageModel

ENTERED, RELEASE = "entered", "release"


class GatedImageModel(LocalImageModel):
    gate: str

    def reference_image(self, **kwargs):
        gate = Path(self.gate)
        if not (gate / RELEASE).exists():
            (gate / ENTERED).touch()
            while not (gate / RELEASE).exists():
                time.sleep(0.05)
        return super().reference_image(**kwargs)


def start_worker(environment: dict[str, str], job: str, partition: str, log: Path, gate: Path | None = None) -> subprocess.Popen:
    """Start a worker process with the deployment's environment; its output goes to `log`."""
    command = [sys.executable, "-m", "vidpipe_dagster_tests.lease_worker", job, partition]
    if gate is not None:
        gate.mkdir(parents=True, exist_ok=True)
        command += ["--gate", str(gate)]
    with open(log, "wb") as output:
        return subprocess.Popen(
            command, env={**os.environ, **environment}, stdout=output, stderr=subprocess.STDOUT,
            cwd=Path(__file__).resolve().parents[1],
        )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("job")
    parser.add_argument("partition")
    parser.add_argument("--gate")
    args = parser.parse_args()

    from dagster import DagsterInstance

    from vidpipe_dagster.artifacts import split_partition
    from vidpipe_dagster.definitions import build_defs
    from vidpipe_dagster.in_process import RunFailed, execute_partition

    defs = build_defs(**({"image_model": GatedImageModel(gate=args.gate)} if args.gate else {}))
    with DagsterInstance.get() as instance:
        try:
            execute_partition(defs, instance, args.job, args.partition, split_partition(args.partition)[0])
        except RunFailed as exc:
            print(exc, file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
