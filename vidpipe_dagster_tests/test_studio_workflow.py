"""The day-to-day workflow against a real deployment: Dagster's webserver and daemon as separate
processes on Postgres, briefs dropped into the inbox, the CLI talking to the webserver."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from vidpipe_dagster.artifacts import load_materialized
from vidpipe_dagster.resources.storage import LocalBlobStore
from vidpipe_dagster_tests.dagster_stack import DagsterStack, wait_for


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
    assert first.data["prompt"].startswith("the gulls scatter at a thunderclap")
    status = vidpipe(studio, "status", "gulls").stdout
    assert "001" in status and "accepted" in status and "final cut: attempt 2" in status
    assert not any(Path(deployment["VIDPIPE_WORKSPACE_ROOT"]).iterdir())
