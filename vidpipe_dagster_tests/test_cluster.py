"""The deployment's topology as separate processes on this machine (no container engine here):
`dagster api grpc` serving vidpipe, a webserver and a daemon loading deploy/workspace.yaml with
the production dagster.yaml (default run launcher instead of Docker's), Postgres, and the GCS
emulator holding the objects and every step's compute logs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
from google.cloud import storage

from vidpipe_dagster.artifacts import load_materialized
from vidpipe_dagster.media.probe import probe
from vidpipe_dagster.partitions import PROJECT_TAG
from vidpipe_dagster.resources.storage import BlobStoreResource
from vidpipe_dagster_tests.dagster_stack import DEPLOYMENT_WORKSPACE, CodeServer, DagsterStack, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(600)]

PROJECTS = ("harbor", "meadow")


def compute_log_texts(bucket: str, run_id: str) -> dict[str, str]:
    """The compute logs of a run, as stored in the bucket: object name -> text."""
    client = storage.Client()
    blobs = client.list_blobs(bucket, prefix=f"dagster-compute-logs/storage/{run_id}/")
    return {blob.name: blob.download_as_text() for blob in blobs}


def test_two_films_finish_through_the_grpc_code_server_even_when_it_is_killed_mid_run(gcs_deployment, tmp_path):
    environment = {**gcs_deployment, "VIDPIPE_SENSOR_INTERVAL_SECONDS": "2", "VIDPIPE_LEASE_TTL_SECONDS": "10"}
    store = BlobStoreResource(url=environment["VIDPIPE_STORAGE_URL"]).open()
    inbox = Path(environment["VIDPIPE_INBOX_URL"])
    inbox.mkdir(parents=True)
    logs = tmp_path / "cluster-logs"

    with (
        CodeServer(environment, logs) as code_server,
        DagsterStack({**environment, **code_server.environment}, logs, workspace=DEPLOYMENT_WORKSPACE),
        DagsterInstance.from_config(environment["DAGSTER_HOME"]) as instance,
    ):
        for project in PROJECTS:
            brief = {"project_id": project, "prompt": f"a {project} at first light", "scene_count": 2}
            (inbox / f"{project}.json").write_text(json.dumps(brief))

        def a_scene_run_started():
            runs = instance.get_run_records(RunsFilter(job_name="scene", statuses=[DagsterRunStatus.STARTED]))
            return runs[0] if runs else None

        in_flight = wait_for(a_scene_run_started, 300, "a scene run to start", interval=0.5).dagster_run
        code_server.kill()
        code_server.start()

        cuts = {
            project: wait_for(lambda: load_materialized(instance, store, "final_video", project), 420, f"the final cut of {project}", interval=2)
            for project in PROJECTS
        }
        for project, cut in cuts.items():
            assert cut.data["scenes"] == {"001": 1, "002": 1}, project
            video = cut.objects["final.mp4"]
            assert video.uri.startswith(f"gs://{environment['VIDPIPE_STORAGE_URL'][5:].split('/')[0]}/"), video.uri
            film = store.get_file(video.key, tmp_path / f"{project}.mp4")
            assert probe(film).frame_count > 0, project
        # The run the code server was serving when it died finished too: its worker outlived it.
        assert instance.get_run_by_id(in_flight.run_id).status == DagsterRunStatus.SUCCESS

        final_run = instance.get_run_records(RunsFilter(job_name="final_cut", tags={PROJECT_TAG: PROJECTS[0]}), limit=1)[0].dagster_run
        texts = compute_log_texts(environment["VIDPIPE_COMPUTE_LOG_BUCKET"], final_run.run_id)
        errors = [text for name, text in texts.items() if name.endswith(".err")]
        assert errors, f"no compute logs of run {final_run.run_id} in the bucket: {sorted(texts)}"
        assert any("final_video" in text and "STEP_SUCCESS" in text for text in errors), errors
