"""The daemon process of the deployment (`python -m vidpipe_dagster.daemon`): Dagster's daemons,
with a run queue that launches a project's next run when the previous one ends."""

from __future__ import annotations

import subprocess
import sys

from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus

from vidpipe_dagster_tests.dagster_stack import DagsterStack, deployment_environment, submit_projects, wait_for_runs

# Longer than the test may take: a run launched is a run the queue was told about.
NEVER_LOOKS_BY_ITSELF = 3600


def test_the_daemon_imports_of_vidpipe_only_what_the_slim_image_carries() -> None:
    probe = "import sys, vidpipe_dagster.daemon; print(sorted(m for m in sys.modules if m.startswith('vidpipe')))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True).stdout
    assert loaded.strip() == "['vidpipe_dagster', 'vidpipe_dagster.daemon', 'vidpipe_dagster.postgres_storage']"


def test_a_projects_next_run_is_launched_when_the_previous_ends_not_at_the_queues_next_look(deployment, postgres_url, tmp_path):
    # The same deployment, its dagster.yaml written again with the long interval.
    deployment_environment(tmp_path, postgres_url, dequeue_interval_seconds=NEVER_LOOKS_BY_ITSELF)

    with DagsterInstance.from_config(deployment["DAGSTER_HOME"]) as instance, DagsterStack(deployment, tmp_path / "stack-logs") as stack:
        stack.stop_sensors("inbox", "scene_sequencer")
        submit_projects(instance, "lighthouse")
        # Queued together; the project's limit lets the scene run only after the setup has ended.
        runs = [stack.launch_run("project_setup", "lighthouse"), stack.launch_run("scene", "lighthouse|001")]
        setup, scene = wait_for_runs(instance, runs, timeout=300)

        assert [setup.dagster_run.status, scene.dagster_run.status] == [DagsterRunStatus.SUCCESS] * 2
        (scene_launched,) = instance.all_logs(scene.dagster_run.run_id, of_type=DagsterEventType.RUN_STARTING)
        assert scene_launched.timestamp >= setup.end_time
