"""One project at a time on many workers: what the per-project run limit and the project lease
cost in throughput, and what one lease acquire and release cost.

20 runs over 5 projects (each project's setup, its two scenes and its cut, in that order) are
submitted together over GraphQL to Dagster's own webserver; the deployment's daemon
(vidpipe_dagster/daemon.py, whose queue looks when a run ends) runs K of them at a time (K = 1, 2,
4), never two of one project, each in a process forked by the deployment's run launcher.
Each K's stack first runs one warm-up run, unmeasured, as a daemon that has been up a while has
done: the first launch after the daemon starts loads the run workers' warm parent (printed apart,
at K=1). One Postgres, the local model backend, every model pool with a slot for each run: the
pools are not what is measured here (with K slots they were: the daemon holds back a queued run
whose first steps' pools look full, and counts a run started in the last 5 s as holding its first
steps' slots). The projects are submitted once the pipeline's sensors are stopped, so that no
sequencer queues runs of its own ahead of the measured ones.

  wall    from the first submission to the end of the last run
  ideal   each project's runs back to back (run start to end, as measured at K = 1), summed over
          the projects, divided by K: perfect packing with nothing between runs
  ratio   wall / ideal (the share of ideal is its inverse). What is above 1 is the queue's next
          look, each run worker's start-up, and CPU contention: at K=1 a run, with its ffmpeg,
          Postgres, the daemon and the webserver, already keeps this 2-core machine half busy.
  busy    the share of the machine's CPU time (all its processes, from /proc/stat) used from the
          first submission to the end of the last run
  at 100% the share of ideal the same CPU time would give if every core were busy throughout:
          ideal / (busy core-seconds / cores). A share above it needs less CPU, not better packing.
At K = 1 the time between runs, (wall - the runs' own time) / 20, is what a run costs beyond
its work, printed in its two parts: the queue's next look (from a run's end to the daemon's launch
of the next, its RUN_STARTING event) and the launch to the run's start (the fork, the worker's
instance, Dagster's run preamble).

Lease latency: acquire and release of uncontended leases on the same Postgres, from K threads
at once (the run-time path: one upsert to acquire, one update to release).

    python -m bench.concurrency [--lease-cycles 300]      (from the repository root)
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import NamedTuple

CONCURRENCY = (1, 2, 4)
PROJECTS = [f"bench-{name}" for name in ("amber", "birch", "cedar", "delta", "ember")]
WARM_UP = "bench-warm-up"
# Stage by stage, so every project is ready for its next run as early as it can be.
STAGES = [
    ("project_setup", lambda project: project),
    ("scene", lambda project: f"{project}|001"),
    ("scene", lambda project: f"{project}|002"),
    ("final_cut", lambda project: project),
]
RUNS = len(STAGES) * len(PROJECTS)


class Measured(NamedTuple):
    concurrency: int
    wall: float
    by_project: dict[str, list]
    busy_seconds: float | None
    launches: dict[str, float]
    cold_start: float


def measure_runs(root: Path, database_url: str, concurrency: int) -> tuple[float, dict[str, list], dict[str, float], float]:
    """Submit the runs with `concurrency` of them at a time; the first submission's time, each
    project's run records in the project's order, when the daemon launched each run, and the
    warm-up run's launch to start (the warm parent loading)."""
    from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus

    from vidpipe_dagster.pools import MODEL_POOLS, apply_pool_limits
    from vidpipe_dagster_tests.dagster_stack import DagsterStack, deployment_environment, submit_projects, wait_for_runs

    environment = deployment_environment(root, database_url, max_concurrent_runs=concurrency)
    os.environ.update(environment)
    with DagsterInstance.from_config(environment["DAGSTER_HOME"]) as instance:
        apply_pool_limits(instance, dict.fromkeys(MODEL_POOLS, RUNS))
        with DagsterStack(environment, root / "stack-logs") as stack:
            stack.stop_sensors("inbox", "scene_sequencer")
            submit_projects(instance, WARM_UP)
            (warm_up,) = wait_for_runs(instance, [stack.launch_run("project_setup", WARM_UP)], timeout=600)
            # Submitted only now: a sequencer that saw them at the daemon's start would have
            # queued their setups ahead of the runs measured here.
            submit_projects(instance, *PROJECTS)
            submitted = time.time()
            launched = [(project, stack.launch_run(job, partition(project))) for job, partition in STAGES for project in PROJECTS]
            # Looked at seldom: the runs' own records give the times, and this process's polling
            # would take CPU from the runs it measures.
            finished = wait_for_runs(instance, [run for _, run in launched], timeout=3600, interval=3)
            records = dict(zip([run for _, run in launched], finished))
        def launched_at(run_id: str) -> float:
            return instance.all_logs(run_id, of_type=DagsterEventType.RUN_STARTING)[0].timestamp

        launches = {run: launched_at(run) for run in records}
        cold_start = warm_up.start_time - launched_at(warm_up.dagster_run.run_id)
    failed = [run for run, record in [*records.items(), (WARM_UP, warm_up)] if record.dagster_run.status != DagsterRunStatus.SUCCESS]
    assert not failed, f"runs failed: {failed} (logs under {root})"
    by_project = {project: [records[run] for p, run in launched if p == project] for project in PROJECTS}
    for project, runs in by_project.items():
        for earlier, later in zip(runs, runs[1:]):
            assert earlier.end_time <= later.start_time, f"two runs of {project} overlapped"
    return submitted, by_project, launches, cold_start


def between_runs(by_project: dict[str, list], launches: dict[str, float]) -> tuple[float, float]:
    """At K=1, on average from one run's end to the daemon's launch of the next (the queue's next
    look), and from a launch to the run's start."""
    runs = sorted((r for runs in by_project.values() for r in runs), key=lambda r: r.start_time)
    looks = [launches[later.dagster_run.run_id] - earlier.end_time for earlier, later in zip(runs, runs[1:])]
    starts = [r.start_time - launches[r.dagster_run.run_id] for r in runs]
    return statistics.mean(looks), statistics.mean(starts)


class MachineCpu:
    """The whole machine's busy CPU time, sampled from /proc/stat every 0.1 s while in use, so that
    what was used between two moments can be read afterwards (None where /proc/stat is missing)."""

    def __init__(self):
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> MachineCpu:
        if os.path.exists("/proc/stat"):
            self._sampler.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        if self._sampler.is_alive():
            self._sampler.join()

    def _sample(self) -> None:
        ticks = os.sysconf("SC_CLK_TCK")
        while not self._stop.is_set():
            with open("/proc/stat") as stat:
                user, nice, system, idle, iowait, *rest = map(int, stat.readline().split()[1:])
            self.samples.append((time.time(), (user + nice + system + sum(rest)) / ticks))
            self._stop.wait(0.1)

    def busy_seconds(self, start: float, end: float) -> float | None:
        """Core-seconds the machine was busy from `start` to `end`, to the nearest samples."""
        def busy_at(moment: float) -> float:
            return min(self.samples, key=lambda sample: abs(sample[0] - moment))[1]

        return busy_at(end) - busy_at(start) if self.samples else None


def most_in_flight(by_project: dict[str, list]) -> int:
    edges = sorted((moment, change) for runs in by_project.values() for r in runs for moment, change in ((r.start_time, 1), (r.end_time, -1)))
    in_flight = peak = 0
    for _, change in edges:
        in_flight += change
        peak = max(peak, in_flight)
    return peak


def measure_lease(database_url: str, threads: int, cycles: int) -> tuple[list[float], list[float]]:
    """Milliseconds per acquire and per release, `cycles` of each per thread, `threads` at once."""
    from vidpipe_dagster.resources.lease import ProjectLease

    lease = ProjectLease(database_url=database_url)
    acquires, releases = [], []

    def worker(number: int) -> None:
        project, holder = f"bench-lease-{number}", f"bench-thread-{number}"
        for _ in range(cycles):
            started = time.perf_counter()
            hold = lease.acquire(project, holder)
            acquired = time.perf_counter()
            lease.release(hold)
            acquires.append((acquired - started) * 1000)
            releases.append((time.perf_counter() - acquired) * 1000)

    pool = [threading.Thread(target=worker, args=(number,)) for number in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return acquires, releases


def percentile(values: list[float], fraction: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[round(fraction * 100) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lease-cycles", type=int, default=300, help="acquire/release cycles per thread")
    args = parser.parse_args()

    from vidpipe_dagster_tests.services import fresh_database, postgres_server

    rows, latency = [], {}
    with tempfile.TemporaryDirectory() as scratch, postgres_server(Path(scratch) / "pg") as server:
        for concurrency in CONCURRENCY:
            with fresh_database(server) as database_url:
                started = time.perf_counter()
                with MachineCpu() as cpu:
                    submitted, by_project, launches, cold_start = measure_runs(Path(scratch) / f"k{concurrency}", database_url, concurrency)
                latency[concurrency] = measure_lease(database_url, concurrency, args.lease_cycles)
            ended = max(r.end_time for runs in by_project.values() for r in runs)
            wall = ended - submitted
            rows.append(Measured(concurrency, wall, by_project, cpu.busy_seconds(submitted, ended), launches, cold_start))
            print(f"K={concurrency}: {RUNS} runs in {wall:.1f} s (measured in {time.perf_counter() - started:.0f} s)", flush=True)

    one_at_a_time = rows[0]
    serial = {project: sum(r.end_time - r.start_time for r in runs) for project, runs in one_at_a_time.by_project.items()}
    cores = os.cpu_count()
    print(f"\nper-project serial time at K=1 (s): {', '.join(f'{p}: {t:.1f}' for p, t in serial.items())}; cores: {cores}")
    look, start = between_runs(one_at_a_time.by_project, one_at_a_time.launches)
    print(f"between runs at K=1: {(one_at_a_time.wall - sum(serial.values())) / RUNS:.2f} s a run; on average the queue's next look "
          f"{look:.2f} s and the launch to the run's start {start:.2f} s (the warm-up's launch to start: {one_at_a_time.cold_start:.2f} s, "
          "the warm parent loading)")
    print(f"{'K':>3} {'wall s':>8} {'ideal s':>8} {'ratio':>6} {'share':>6} {'most runs at once':>18} {'busy':>6} {'at 100%':>8}")
    for concurrency, wall, by_project, busy_seconds, *_ in rows:
        ideal = sum(serial.values()) / concurrency
        busy, ceiling = ("n/a", "n/a") if busy_seconds is None else (f"{busy_seconds / (cores * wall):.2f}", f"{ideal / (busy_seconds / cores):.2f}")
        print(f"{concurrency:>3} {wall:>8.1f} {ideal:>8.1f} {wall / ideal:>6.2f} {ideal / wall:>6.2f} {most_in_flight(by_project):>18} {busy:>6} {ceiling:>8}")

    print(f"\nlease latency, ms ({args.lease_cycles} cycles per thread, uncontended projects)")
    print(f"{'threads':>8} {'acquire p50':>12} {'acquire p99':>12} {'release p50':>12} {'release p99':>12}")
    for threads, (acquires, releases) in latency.items():
        print(f"{threads:>8} {percentile(acquires, 0.5):>12.2f} {percentile(acquires, 0.99):>12.2f} "
              f"{percentile(releases, 0.5):>12.2f} {percentile(releases, 0.99):>12.2f}")


if __name__ == "__main__":
    main()
