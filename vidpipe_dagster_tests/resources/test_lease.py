"""Project leases: the rules on SQLite and Postgres, then real worker processes on one Postgres
that bypass the run queue (as in-process runs do) and are kept apart by the lease alone.

VIDPIPE_CONCURRENCY_REPEAT=10 runs each multi-process scenario ten times in a row.
"""

from __future__ import annotations

import logging
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterRunStatus, RunsFilter

from vidpipe_dagster.partitions import PROJECT_TAG
from vidpipe_dagster.resources.lease import LeaseUnavailable, ProjectLease, StaleLease
from vidpipe_dagster.resources.ledger import AttemptLedger, AttemptStatus
from vidpipe_dagster.resources.workspace import WorkspaceResource
from vidpipe_dagster_tests.dagster_stack import REPEAT, step_windows, submit_projects, wait_for
from vidpipe_dagster_tests.lease_worker import ENTERED, RELEASE, start_worker

SETUP_STEPS = {"brief", "storyboard", "character_sheets", "location_sheets"}


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'vidpipe.db'}"
    return request.getfixturevalue("postgres_url")


def test_a_busy_project_is_refused_after_the_timeout_naming_its_holder(database_url):
    ProjectLease(database_url=database_url).acquire("harbor", "run-a")
    started = time.monotonic()
    with pytest.raises(LeaseUnavailable, match=r"project 'harbor' is busy: its lease is held by run-a \(token 1\) until 20\d\d-"):
        ProjectLease(database_url=database_url, acquire_timeout_seconds=1).acquire("harbor", "run-b")
    assert time.monotonic() - started >= 1


def test_a_holder_reenters_with_its_token_and_a_release_hands_over_at_once(database_url):
    lease = ProjectLease(database_url=database_url)
    first = lease.acquire("harbor", "run-a")
    assert lease.acquire("harbor", "run-a").token == first.token == 1
    assert lease.try_acquire("harbor", "run-b") is None
    assert lease.try_acquire("lighthouse", "run-b").token == 1

    lease.release(first)

    successor = lease.try_acquire("harbor", "run-b")
    assert (successor.token, successor.took_over_from) == (2, None)


def test_an_expired_lease_is_taken_over_with_the_next_token_and_its_old_holder_refused(database_url):
    lease = ProjectLease(database_url=database_url, ttl_seconds=1)
    stalled = lease.acquire("harbor", "run-a")  # and never renewed, as by a worker that froze

    successor = lease.acquire("harbor", "run-b")

    assert (successor.token, successor.took_over_from) == (stalled.token + 1, "run-a")
    with pytest.raises(StaleLease, match=r"taken over: it is now held by run-b \(token 2\)"):
        stalled.check()
    # Once a renewal found it taken over, work is refused before it starts, without asking again.
    with pytest.raises(StaleLease, match=r"taken over: it is now held by run-b \(token 2\)"):
        stalled.assert_held()
    lease.release(stalled)
    assert lease.current("harbor").holder == "run-b"
    assert lease.try_acquire("harbor", "run-c") is None


def test_the_heartbeat_keeps_a_lease_past_its_ttl(database_url):
    lease = ProjectLease(database_url=database_url, ttl_seconds=1)
    with lease.holding("harbor", "run-a") as hold:
        time.sleep(2.5)
        assert lease.try_acquire("harbor", "run-b") is None
        hold.assert_held()
        hold.check()
    assert lease.try_acquire("harbor", "run-b").token == 2


def test_a_holder_not_renewed_for_a_ttl_refuses_work_before_anyone_takes_over(database_url):
    lease = ProjectLease(database_url=database_url, ttl_seconds=1)
    stalled = lease.acquire("harbor", "run-a")  # its heartbeat froze with it
    stalled.assert_held()
    time.sleep(1.1)

    with pytest.raises(StaleLease, match=r"project 'harbor' \(token 1, run-a\) was not renewed for 1 s, past its 1 s TTL"):
        stalled.assert_held()
    assert lease.current("harbor").holder == "run-a"


def test_a_commit_with_a_stale_token_is_refused_and_stores_nothing(database_url):
    ledger = AttemptLedger(database_url=database_url)
    lease = ProjectLease(database_url=database_url, ttl_seconds=1)
    stalled = lease.acquire("harbor", "run-a")
    attempt = ledger.allocate("storyboard", "harbor", "run-a")
    lease.acquire("harbor", "run-b")

    with pytest.raises(StaleLease), stalled.fenced() as connection:
        ledger.update("storyboard", "harbor", attempt, AttemptStatus.ACCEPTED, connection=connection)

    assert [record.status for record in ledger.attempts("storyboard", "harbor")] == [AttemptStatus.ALLOCATED]


class Workers:
    """Worker processes on the test's deployment; whatever is still running at the end is killed."""

    def __init__(self, environment: dict[str, str], folder: Path):
        self.environment, self.folder = environment, folder
        self.processes: list = []

    def start(self, name: str, project: str, gated: bool = False):
        worker = start_worker(self.environment, "project_setup", project, self.log(name), gate=self.gate if gated else None)
        self.processes.append(worker)
        return worker

    @property
    def gate(self) -> Path:
        return self.folder / "gate"

    def log(self, name: str) -> Path:
        return self.folder / f"{name}.log"

    def holding_mid_step(self, name: str, project: str):
        """A worker stopped inside its image model, and the run id under which it holds the lease."""
        worker = self.start(name, project, gated=True)
        wait_for(lambda: (self.gate / ENTERED).exists() or worker.poll() is not None, 120, "the worker to reach its image model")
        assert worker.poll() is None, self.log(name).read_text()[-3000:]
        return worker, ProjectLease(database_url=self.environment["VIDPIPE_DATABASE_URL"]).current(project).holder

    def succeeded(self, name: str, worker) -> None:
        assert worker.wait(timeout=180) == 0, self.log(name).read_text()[-3000:]

    def stop_all(self) -> None:
        for worker in self.processes:
            if worker.poll() is None:
                worker.kill()
                worker.wait()


@pytest.fixture
def workers(deployment, tmp_path) -> Iterator[Workers]:
    pool = Workers({**deployment, "VIDPIPE_LEASE_TTL_SECONDS": "3"}, tmp_path)
    try:
        yield pool
    finally:
        pool.stop_all()


def waiting_run(instance, project: str, holder: str) -> str:
    """The run that reports waiting for `holder`'s lease on the project."""

    def find() -> str | None:
        for run in instance.get_runs(RunsFilter(tags={PROJECT_TAG: project})):
            messages = [event.user_message for event in instance.all_logs(run.run_id)]
            if any(f"waiting for the lease of project {project!r}: held by {holder}" in m for m in messages):
                return run.run_id
        return None

    return wait_for(find, 120, "a second worker to wait for the lease", interval=0.5)


def current_lease(deployment, project: str):
    return ProjectLease(database_url=deployment["VIDPIPE_DATABASE_URL"]).current(project)


@pytest.mark.parametrize("round_", range(REPEAT))
def test_two_workers_on_one_project_take_turns(deployment, deployment_instance, workers, round_):
    instance = deployment_instance
    submit_projects(instance, "twin")
    first, first_run = workers.holding_mid_step("first", "twin")
    second = workers.start("second", "twin")
    second_run = waiting_run(instance, "twin", first_run)

    (workers.gate / RELEASE).touch()
    workers.succeeded("first", first)
    workers.succeeded("second", second)

    first_steps, second_steps = step_windows(instance, first_run), step_windows(instance, second_run)
    assert set(first_steps) == set(second_steps) == SETUP_STEPS
    assert max(end for _, end in first_steps.values()) <= min(start for start, _ in second_steps.values())
    assert current_lease(deployment, "twin").token == 2


@pytest.mark.parametrize("round_", range(REPEAT))
def test_a_killed_workers_project_is_taken_over_after_the_ttl_and_no_workspace_is_left(deployment, deployment_instance, workers, round_):
    instance = deployment_instance
    workspaces = Path(deployment["VIDPIPE_WORKSPACE_ROOT"])
    submit_projects(instance, "crash")
    first, first_run = workers.holding_mid_step("first", "crash")
    second = workers.start("second", "crash")
    second_run = waiting_run(instance, "crash", first_run)
    assert any(workspaces.iterdir()), "the first worker's step has a workspace"

    first.kill()  # SIGKILL: no clean-up of any kind
    first.wait()
    killed_at = time.time()
    workers.succeeded("second", second)

    steps = step_windows(instance, second_run)
    assert set(steps) == SETUP_STEPS
    # The lease was last renewed up to a heartbeat (a third of the 3 s TTL) before the kill: the
    # second worker took it over on expiry, not earlier.
    assert min(start for start, _ in steps.values()) >= killed_at + 1.5
    assert current_lease(deployment, "crash").token == 2
    # The dead worker's run no longer counts as in progress (it held a model pool slot).
    dead = instance.get_run_by_id(first_run)
    assert dead.status == DagsterRunStatus.FAILURE
    WorkspaceResource(root=str(workspaces)).sweep()
    assert not any(workspaces.iterdir())


@pytest.mark.parametrize("round_", range(REPEAT))
def test_a_stalled_worker_cannot_commit_once_its_lease_was_taken_over(deployment, deployment_instance, workers, round_):
    instance = deployment_instance
    submit_projects(instance, "stall")
    first, first_run = workers.holding_mid_step("first", "stall")

    first.send_signal(signal.SIGSTOP)  # frozen mid-step: no more heartbeats
    try:
        workers.succeeded("second", workers.start("second", "stall"))
    finally:
        (workers.gate / RELEASE).touch()
        first.send_signal(signal.SIGCONT)
    assert first.wait(timeout=120) == 1

    second_run = next(run.run_id for run in instance.get_runs(RunsFilter(tags={PROJECT_TAG: "stall"})) if run.run_id != first_run)
    assert "was taken over: it is now free (last token 2)" in workers.log("first").read_text()
    ledger = AttemptLedger(database_url=deployment["VIDPIPE_DATABASE_URL"])
    objects = Path(deployment["VIDPIPE_STORAGE_URL"]) / "projects" / "stall"
    for asset, folder in (("character_sheets", "characters"), ("location_sheets", "locations")):
        # The stalled worker's sheets never got an attempt: only the second worker's exist.
        assert [(a.attempt, a.run_id, a.status) for a in ledger.attempts(asset, "stall")] == [(1, second_run, AttemptStatus.ACCEPTED)]
        assert {re.match(r"attempt-(\d+)", path.name)[1] for path in (objects / folder).iterdir()} == {"001"}
        materializations = instance.fetch_materializations(AssetKey(asset), limit=10).records
        assert [record.run_id for record in materializations] == [second_run]


def test_heartbeat_trouble_goes_to_the_holders_log_naming_the_project(database_url):
    lines: list[str] = []

    class RunLog(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    run_log = logging.getLogger("test-run-log")
    run_log.addHandler(RunLog())
    lease = ProjectLease(database_url=database_url, ttl_seconds=1, heartbeat_seconds=0.3)
    with lease.holding("harbor", "run-a", progress=run_log) as hold:
        lease.release(hold)  # as if it expired and another worker came and went
        lease.acquire("harbor", "run-b")
        time.sleep(1)
    assert any("the lease of project 'harbor'" in line and "was taken over" in line for line in lines), lines
