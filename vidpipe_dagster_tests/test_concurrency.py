"""Many runs at once through Dagster's own webserver and daemon, as separate processes on Postgres:
the run queue keeps each project to one run at a time, and the model pools cap calls across
projects. Runs are launched over GraphQL with nothing but their partition, as the UI does.

VIDPIPE_CONCURRENCY_REPEAT=10 runs each scenario ten times in a row.
"""

from __future__ import annotations

import os
import signal
import time

import pytest
from dagster import AssetKey, DagsterEventType, DagsterRunStatus, RunsFilter

from vidpipe_dagster.partitions import PROJECT_TAG
from vidpipe_dagster.pools import apply_pool_limits
from vidpipe_dagster_tests.dagster_stack import REPEAT, step_windows, submit_projects, wait_for, wait_for_runs

SETUP_ASSETS = ["brief", "storyboard", "character_sheets", "location_sheets"]


def overlap(first: tuple[float, float], second: tuple[float, float]) -> bool:
    return first[0] < second[1] and second[0] < first[1]


def window(record) -> tuple[float, float]:
    return record.start_time, record.end_time


@pytest.mark.parametrize("round_", range(REPEAT))
def test_a_project_runs_one_run_at_a_time_while_another_project_proceeds(dagster_stack, deployment_instance, round_):
    instance = deployment_instance
    submit_projects(instance, "alpha", "beta")

    # Submitted together from the launchpad, partitions only: three runs of alpha, one of beta.
    alpha = [
        dagster_stack.launch_run("project_setup", "alpha"),
        dagster_stack.launch_run("scene", "alpha|001"),
        dagster_stack.launch_run("scene", "alpha|002"),
    ]
    beta = [dagster_stack.launch_run("project_setup", "beta")]
    # And beta's first scene from a backfill, whose run the backfill daemon creates later.
    backfill = dagster_stack.launch_asset_backfill(["scene_keyframes", "scene_clip"], ["beta|001"])
    beta += wait_for(
        lambda: [run.run_id for run in instance.get_runs(RunsFilter(tags={"dagster/backfill": backfill}))],
        120, "the backfill daemon to create beta's scene run",
    )
    records = {r.dagster_run.run_id: r for r in wait_for_runs(instance, alpha + beta, timeout=300)}

    assert {r.dagster_run.status for r in records.values()} == {DagsterRunStatus.SUCCESS}, dagster_stack.log("daemon")[-3000:]
    # Nobody tagged these runs: the run coordinator derived the project from the partition.
    assert [records[run].dagster_run.tags.get(PROJECT_TAG) for run in alpha + beta] == ["alpha"] * 3 + ["beta"] * 2
    alpha_windows = sorted(window(records[run]) for run in alpha)
    beta_windows = sorted(window(records[run]) for run in beta)
    for windows in (alpha_windows, beta_windows):
        for earlier, later in zip(windows, windows[1:]):
            assert earlier[1] <= later[0], f"two runs of one project overlapped: {windows}"
    # beta did not queue behind alpha: its setup ran while alpha's runs were being worked through.
    assert overlap(window(records[beta[0]]), (alpha_windows[0][0], alpha_windows[-1][1])), (alpha_windows, beta_windows)


@pytest.mark.parametrize("round_", range(REPEAT))
def test_with_one_video_model_slot_no_two_clips_render_at_once_across_projects(dagster_stack, deployment_instance, round_):
    instance = deployment_instance
    projects = ["cyan", "dune", "echo"]
    submit_projects(instance, *projects)
    assert apply_pool_limits(instance, {"video_model": 1, "image_model": 3, "text_model": 3}) == {
        "video_model": 1, "image_model": 3, "text_model": 3,
    }
    setups = wait_for_runs(instance, [dagster_stack.launch_run("project_setup", p) for p in projects], timeout=300)
    assert all(r.dagster_run.status == DagsterRunStatus.SUCCESS for r in setups)

    scenes = wait_for_runs(instance, [dagster_stack.launch_run("scene", f"{p}|001") for p in projects], timeout=300)

    assert all(r.dagster_run.status == DagsterRunStatus.SUCCESS for r in scenes)
    steps = sorted((step_windows(instance, r.dagster_run.run_id) for r in scenes), key=lambda s: s["scene_clip"])
    for earlier, later in zip(steps, steps[1:]):
        assert earlier["scene_clip"][1] <= later["scene_clip"][0], f"two clips rendered at once: {steps}"
    # Not because the runs happened to come one after another: a clip whose keyframes were ready
    # waited for the slot.
    assert any(later["scene_keyframes"][1] < earlier["scene_clip"][1] for earlier, later in zip(steps, steps[1:])), steps


def worker_pid(instance, run_id: str) -> int | None:
    """The process id of a run's worker, once it has started a step."""
    for event in instance.all_logs(run_id, of_type=DagsterEventType.STEP_START):
        return event.dagster_event.pid
    return None


@pytest.mark.parametrize("round_", range(REPEAT))
def test_a_run_whose_worker_is_killed_is_failed_and_retried_without_a_person(dagster_stack, deployment_instance, round_):
    instance = deployment_instance
    submit_projects(instance, "gamma")
    (setup,) = wait_for_runs(instance, [dagster_stack.launch_run("project_setup", "gamma")], timeout=300)
    assert setup.dagster_run.status == DagsterRunStatus.SUCCESS

    doomed = dagster_stack.launch_run("scene", "gamma|001")
    os.kill(wait_for(lambda: worker_pid(instance, doomed), 120, "the scene run to start a step"), signal.SIGKILL)
    killed_at = time.time()
    retry = wait_for(
        lambda: [run.run_id for run in instance.get_runs(RunsFilter(tags={"dagster/parent_run_id": doomed}))],
        180, "the killed run to be failed and retried",
    )
    (retried,) = wait_for_runs(instance, retry, timeout=300)

    assert instance.get_run_by_id(doomed).status == DagsterRunStatus.FAILURE
    assert retried.dagster_run.status == DagsterRunStatus.SUCCESS, dagster_stack.log("daemon")[-3000:]
    assert retried.dagster_run.tags[PROJECT_TAG] == "gamma"
    assert [record.run_id for record in instance.fetch_materializations(AssetKey("scene_clip"), limit=1).records] == retry
    # The dead run held the only image model slot: the reaper freed it once the lease expired,
    # well before Dagster's own clean-up of ended runs' slots would have.
    assert retried.start_time < killed_at + instance.run_monitoring_settings["free_slots_after_run_end_seconds"]
    assert "cleared 1 dead lease holder(s)" in dagster_stack.log("daemon")
