"""Runs forked from a warm parent, through Dagster's own webserver and daemon on Postgres: each run
names its worker, the deployment's processes can tell whether that worker lives, and a parent
that cannot load what it was told to fails the run with the reason instead of hanging the queue."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import yaml
from dagster import AssetKey, DagsterEventType, DagsterInstance, DagsterRun, DagsterRunStatus
from dagster._core.launcher import WorkerStatus

from vidpipe_dagster.embedded_instance import write_embedded_dagster_yaml
from vidpipe_dagster.run_launcher import WORKER_HOST_TAG, WORKER_PID_TAG, ForkingRunLauncher
from vidpipe_dagster_tests.dagster_stack import DagsterStack, submit_projects, wait_for, wait_for_runs
from vidpipe_dagster_tests.test_concurrency import worker_pid


def test_the_launcher_imports_only_dagster() -> None:
    probe = "import sys, vidpipe_dagster.run_launcher; print(sorted(m for m in sys.modules if m.startswith('vidpipe')))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True).stdout
    assert loaded.strip() == "['vidpipe_dagster', 'vidpipe_dagster.run_launcher']"


def test_each_run_names_its_worker_which_is_seen_alive_then_gone(dagster_stack, deployment_instance):
    instance = deployment_instance
    submit_projects(instance, "north", "south")
    setups = wait_for_runs(instance, [dagster_stack.launch_run("project_setup", p) for p in ("north", "south")], timeout=300)
    assert [r.dagster_run.status for r in setups] == [DagsterRunStatus.SUCCESS] * 2, dagster_stack.log("daemon")[-3000:]
    for record in setups:
        tags = record.dagster_run.tags
        assert tags[WORKER_HOST_TAG] == socket.gethostname()
        started = [e.message for e in instance.all_logs(record.dagster_run.run_id, of_type=DagsterEventType.ENGINE_EVENT) if "Started process" in e.message]
        assert started == [f"Started process for run (pid: {tags[WORKER_PID_TAG]})."]
    assert setups[0].dagster_run.tags[WORKER_PID_TAG] != setups[1].dagster_run.tags[WORKER_PID_TAG]

    # The test's own instance reads the same dagster.yaml: its launcher is the one the webserver
    # and the run monitor use to look for a run's worker.
    scene = dagster_stack.launch_run("scene", "north|001")
    pid = wait_for(lambda: worker_pid(instance, scene), 120, "the scene run to start a step")
    running = instance.get_run_by_id(scene)
    assert int(running.tags[WORKER_PID_TAG]) == pid
    assert instance.run_launcher.check_run_worker_health(running).status == WorkerStatus.RUNNING
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: instance.run_launcher.check_run_worker_health(running).status == WorkerStatus.NOT_FOUND, 30, "the killed worker to be seen gone")
    assert f"run worker process {pid} is gone" in instance.run_launcher.check_run_worker_health(running).msg


def test_on_the_embedded_instance_a_project_is_set_up_and_filmed_by_forked_workers(tmp_path, monkeypatch):
    """`vidpipe dev`'s instance: SQLite storages whose pooled connections the parent must not
    hand down to its children."""
    environment = {
        "VIDPIPE_HOME": str(tmp_path / "vidpipe"),
        "DAGSTER_HOME": str(write_embedded_dagster_yaml(tmp_path / "vidpipe" / "dagster_home")),
        "VIDPIPE_STORAGE_URL": str(tmp_path / "objects"),
        "VIDPIPE_WORKSPACE_ROOT": str(tmp_path / "workspaces"),
        "VIDPIPE_MODEL_BACKEND": "local",
    }
    monkeypatch.delenv("VIDPIPE_DATABASE_URL", raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    with DagsterInstance.from_config(environment["DAGSTER_HOME"]) as instance, DagsterStack(environment, tmp_path / "stack-logs") as stack:
        stack.stop_sensors("inbox", "scene_sequencer")
        submit_projects(instance, "east")
        runs = [stack.launch_run("project_setup", "east"), stack.launch_run("scene", "east|001")]
        records = wait_for_runs(instance, runs, timeout=300)

        assert [r.dagster_run.status for r in records] == [DagsterRunStatus.SUCCESS] * 2, stack.log("daemon")[-3000:]
        assert all(r.dagster_run.tags[WORKER_HOST_TAG] == socket.gethostname() for r in records)
        assert instance.get_latest_materialization_event(AssetKey("scene_clip")).run_id == runs[1]


def test_a_preload_module_that_does_not_import_fails_the_run_naming_it(deployment, tmp_path):
    home = deployment["DAGSTER_HOME"]
    config = yaml.safe_load(open(os.path.join(home, "dagster.yaml")).read())
    config["run_launcher"]["config"]["preload_modules"].append("vidpipe_dagster.no_such_module")
    with open(os.path.join(home, "dagster.yaml"), "w") as file:
        yaml.safe_dump(config, file)

    with DagsterInstance.from_config(home) as instance, DagsterStack(deployment, tmp_path / "stack-logs") as stack:
        stack.stop_sensors("inbox", "scene_sequencer")
        submit_projects(instance, "west")
        (failed,) = wait_for_runs(instance, [stack.launch_run("project_setup", "west")], timeout=300)

        assert failed.dagster_run.status == DagsterRunStatus.FAILURE
        errors = [
            e.dagster_event.engine_event_data.error.to_string()
            for e in instance.all_logs(failed.dagster_run.run_id, of_type=DagsterEventType.ENGINE_EVENT)
            if e.dagster_event.engine_event_data.error is not None
        ]
        assert any("preload_modules names 'vidpipe_dagster.no_such_module', which does not import here" in error for error in errors), errors


def a_run(**tags: str) -> DagsterRun:
    return DagsterRun(job_name="scene", run_id="f0f0f0f0-0000-0000-0000-000000000000", status=DagsterRunStatus.STARTED, tags=tags)


def test_run_monitoring_leaves_alone_a_run_it_cannot_see_and_fails_one_whose_worker_is_gone() -> None:
    launcher = ForkingRunLauncher()
    # Executed in its own process (`vidpipe demo`, `materialize()`): no worker of this launcher.
    in_process = launcher.check_run_worker_health(a_run())
    assert in_process.status == WorkerStatus.RUNNING and "the lease reaper watches it" in in_process.msg
    elsewhere = launcher.check_run_worker_health(a_run(**{WORKER_HOST_TAG: "another-machine", WORKER_PID_TAG: "12"}))
    assert elsewhere.status == WorkerStatus.RUNNING and "it runs on another-machine" in elsewhere.msg

    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    gone = launcher.check_run_worker_health(a_run(**{WORKER_HOST_TAG: socket.gethostname(), WORKER_PID_TAG: str(ended.pid)}))
    assert gone.status == WorkerStatus.NOT_FOUND and f"run worker process {ended.pid} is gone" in gone.msg
