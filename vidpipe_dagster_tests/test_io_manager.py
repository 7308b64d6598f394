"""The production configuration end to end: objects in a GCS bucket, the ledger in PostgreSQL, and
lineage that names the exact attempt of every input."""

from __future__ import annotations

import hashlib

from google.cloud import storage

from vidpipe_dagster.artifacts import ATTEMPT, PendingArtifact, commit_artifact, load_materialized, materialized_attempt
from vidpipe_dagster.definitions import build_defs
from vidpipe_dagster.in_process import execute_partition, run_project
from vidpipe_dagster.intake import submit_brief
from vidpipe_dagster.resources.ledger import AttemptStatus
from vidpipe_dagster_tests.test_in_process import latest_metadata, sample_brief

PROJECT = "gcs-lineage"


def test_a_downstream_load_uses_the_accepted_attempt_not_a_newer_rejected_one(
    vidpipe_env, instance, gcs_bucket, postgres_url, monkeypatch, tmp_path
):
    monkeypatch.setenv("VIDPIPE_STORAGE_URL", f"gs://{gcs_bucket}/vidpipe")
    monkeypatch.setenv("VIDPIPE_DATABASE_URL", postgres_url)
    defs = build_defs()
    # Outside a run, Dagster resolves the resources' EnvVar settings only when asked to.
    store = defs.resources["blob_store"].process_config_and_initialize().open()
    ledger = defs.resources["ledger"].process_config_and_initialize()
    submit_brief(instance, store, sample_brief(project_id=PROJECT, scene_count=2, scene_hints=[]))
    run_project(defs, instance, store, PROJECT)

    scene_2 = f"{PROJECT}|002"
    accepted = load_materialized(instance, store, "scene_clip", scene_2)
    clip = accepted.objects["clip.mp4"]
    blob = storage.Client(project=None).bucket(gcs_bucket).get_blob(f"vidpipe/{clip.key}")
    metadata = latest_metadata(instance, "scene_clip", scene_2)
    assert metadata["clip/uri"] == f"gs://{gcs_bucket}/vidpipe/{clip.key}"
    assert (metadata["clip/generation"], metadata["clip/size"]) == (blob.generation, blob.size)
    assert metadata["clip/sha256"] == hashlib.sha256(blob.download_as_bytes()).hexdigest()

    # A newer attempt of scene 2 is stored and then rejected, as a failed regeneration leaves it.
    workspace = tmp_path / "regeneration"
    workspace.mkdir()
    newer = commit_artifact(
        store=store, ledger=ledger, asset="scene_clip", partition=scene_2,
        pending=PendingArtifact(files={"clip.mp4": store.get_file(clip.key, workspace / "clip.mp4")}, workspace=workspace),
        run_id=None,
    )
    ledger.update("scene_clip", scene_2, newer.attempt, AttemptStatus.REJECTED)
    assert newer.attempt > accepted.attempt

    execute_partition(defs, instance, "final_cut", PROJECT, PROJECT)

    final = latest_metadata(instance, "final_video", PROJECT)
    assert final[ATTEMPT] == 2 == materialized_attempt(instance, "final_video", PROJECT)
    assert final["scene_attempts"]["002"] == accepted.attempt
    assert final["upstream_attempts"][f"scene_clip[{scene_2}]"] == accepted.attempt
    assert final["final/generation"] > 0 and len(final["final/sha256"]) == 64
    statuses = {r.attempt: r.status for r in ledger.attempts("scene_clip", scene_2)}
    assert (statuses[accepted.attempt], statuses[newer.attempt]) == (AttemptStatus.ACCEPTED, AttemptStatus.REJECTED)
