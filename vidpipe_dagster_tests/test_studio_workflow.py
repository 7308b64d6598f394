"""The day-to-day workflow against a real deployment: Dagster's webserver and daemon as separate
processes on Postgres, briefs dropped into the inbox, the CLI talking to the webserver."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dagster import DagsterRunStatus, RunsFilter

from vidpipe_dagster.artifacts import load_materialized
from vidpipe_dagster.partitions import PROJECT_TAG
from vidpipe_dagster.resources.storage import LocalBlobStore, file_sha256
from vidpipe_dagster_tests.dagster_stack import DagsterStack, wait_for, wait_for_runs


@pytest.fixture
def studio(deployment, tmp_path, monkeypatch):
    """The deployment with its sensors running (checked every 2 s), as a studio runs it."""
    monkeypatch.setenv("VIDPIPE_SENSOR_INTERVAL_SECONDS", "2")
    with DagsterStack({**deployment, "VIDPIPE_SENSOR_INTERVAL_SECONDS": "2"}, tmp_path / "stack-logs") as stack:
        yield stack


def vidpipe(stack, *args: str) -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).parent / "vidpipe"), "--url", f"http://127.0.0.1:{stack.port}", *args]
    result = subprocess.run(command, env=stack.environment, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result


def final_cut(instance, store, project: str):
    return load_materialized(instance, store, "final_video", project)


def test_briefs_dropped_in_the_inbox_become_videos_and_a_regeneration_cascades(deployment, deployment_instance, studio):
    store = LocalBlobStore(Path(deployment["VIDPIPE_STORAGE_URL"]))
    inbox = Path(deployment["VIDPIPE_HOME"]) / "inbox"
    inbox.mkdir(parents=True)
    for project in ("gulls", "tides"):
        brief = {"project_id": project, "prompt": f"{project} over a grey harbor", "scene_count": 2}
        (inbox / f"{project}.json").write_text(json.dumps(brief))
    (inbox / "broken.json").write_text('{"project_id": "broken"')

    for project in ("gulls", "tides"):
        cut = wait_for(lambda: final_cut(deployment_instance, store, project), 420, f"the final cut of {project}", interval=2)
        assert cut.data["scenes"] == {"001": 1, "002": 1}
    reason = next((inbox / "rejected").glob("broken*.reason.txt")).read_text()
    assert "not valid JSON" in reason

    vidpipe(studio, "regenerate", "gulls", "1", "--prompt", "the gulls scatter at a thunderclap")

    recut = wait_for(
        lambda: (cut := final_cut(deployment_instance, store, "gulls")) and cut.data["scenes"] == {"001": 2, "002": 2} and cut,
        420, "the recut of gulls with both scenes regenerated", interval=2,
    )
    assert recut.attempt == 2
    first = load_materialized(deployment_instance, store, "scene_clip", "gulls|001")
    # The extra direction is added to the scene's action in the keyframe prompts and the clip prompt.
    keyframes = load_materialized(deployment_instance, store, "scene_keyframes", "gulls|001")
    for prompt in [first.data["prompt"], *keyframes.data["prompts"].values()]:
        action = next(line for line in prompt.splitlines() if line.startswith("Action: "))
        assert action.endswith(" the gulls scatter at a thunderclap.")
    status = vidpipe(studio, "status", "gulls").stdout
    assert "001" in status and "accepted" in status and "final cut: attempt 2" in status
    assert not any(Path(deployment["VIDPIPE_WORKSPACE_ROOT"]).iterdir())


def project_runs(instance, project: str):
    return list(instance.get_run_records(RunsFilter(tags={PROJECT_TAG: project})))


def assert_never_overlapping(records) -> None:
    spans = sorted((r.start_time, r.end_time) for r in records if r.start_time)
    for (_, end), (start, _) in zip(spans, spans[1:]):
        assert end <= start, "two runs of one project overlapped"


def assert_nothing_half_written(objects: Path, project: str) -> None:
    """No partial object is visible, and every attempt's manifest names objects that are whole."""
    root = objects / "projects" / project
    assert not list(root.rglob(".partial-*"))
    for manifest in root.rglob("attempt-*.json"):
        artifact = json.loads(manifest.read_text())
        for stored in artifact["objects"].values():
            assert file_sha256(objects / stored["key"]) == (stored["size"], stored["sha256"])


def test_stop_terminates_mid_scene_without_leftovers_and_resume_and_backfill_carry_on(deployment, deployment_instance, studio):
    objects = Path(deployment["VIDPIPE_STORAGE_URL"])
    store = LocalBlobStore(objects)
    brief = Path(deployment["VIDPIPE_HOME"]).parent / "lanterns.json"
    brief.write_text(json.dumps({"project_id": "lanterns", "prompt": "paper lanterns rise over a river", "scene_count": 3}))
    vidpipe(studio, "submit", str(brief))

    def a_scene_run_started():
        return [r for r in project_runs(deployment_instance, "lanterns") if r.dagster_run.job_name == "scene" and r.dagster_run.status == DagsterRunStatus.STARTED]

    running = wait_for(a_scene_run_started, 300, "a scene run of lanterns to start", interval=0.5)[0].dagster_run.run_id
    assert "stopped; 1 run(s) terminated" in vidpipe(studio, "stop", "lanterns").stdout
    [stopped] = wait_for_runs(deployment_instance, [running], 120)
    assert stopped.dagster_run.status == DagsterRunStatus.CANCELED
    time.sleep(6)  # three sequencer ticks: a stopped project is not advanced
    assert not any(r.dagster_run.status in (DagsterRunStatus.QUEUED, DagsterRunStatus.STARTED) for r in project_runs(deployment_instance, "lanterns"))
    assert not any(Path(deployment["VIDPIPE_WORKSPACE_ROOT"]).iterdir())
    assert_nothing_half_written(objects, "lanterns")

    vidpipe(studio, "resume", "lanterns")
    first = wait_for(lambda: final_cut(deployment_instance, store, "lanterns"), 420, "the cut after resuming", interval=2)

    assert "scenes 002, 003 of lanterns" in vidpipe(studio, "backfill", "lanterns", "--scenes", "2-3").stdout
    wait_for(
        lambda: (cut := final_cut(deployment_instance, store, "lanterns")) and cut.attempt > first.attempt and cut.data["scenes"]["003"] >= 2 and cut,
        420, "the cut after the backfill", interval=2,
    )
    assert_never_overlapping(project_runs(deployment_instance, "lanterns"))
    assert all(r.dagster_run.tags.get(PROJECT_TAG) == "lanterns" for r in project_runs(deployment_instance, "lanterns"))
    assert_nothing_half_written(objects, "lanterns")
