"""No orphans: a refused publish removes what it uploaded; a worker killed between allocation and
publish leaves an attempt the lease reaper abandons and `vidpipe gc` clears after the grace period."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterRunStatus, build_sensor_context

from vidpipe_dagster.artifacts import PendingArtifact, commit_artifact, manifest_key, object_key
from vidpipe_dagster.cli import main
from vidpipe_dagster.definitions import build_defs
from vidpipe_dagster.partitions import PROJECT_TAG
from vidpipe_dagster.reaper import lease_reaper
from vidpipe_dagster.resources.lease import ProjectLease, StaleLease
from vidpipe_dagster.resources.ledger import AttemptLedger, AttemptStatus
from vidpipe_dagster.resources.storage import BlobStoreResource

PARTITION = "film|001"

# Uploads one attempt's clip and is killed (SIGKILL: no clean-up of any kind) before it publishes.
KILLED_WORKER = """
import os, signal, sys
from pathlib import Path
from vidpipe_dagster.artifacts import PendingArtifact, commit_artifact
from vidpipe_dagster.resources.ledger import AttemptLedger
from vidpipe_dagster.resources.storage import BlobStoreResource
database, storage, workspace, run_id = sys.argv[1:]
pending = PendingArtifact(files={"clip.mp4": Path(workspace) / "clip.mp4"}, workspace=Path(workspace))
commit_artifact(
    store=BlobStoreResource(url=storage).open(), ledger=AttemptLedger(database_url=database), asset="scene_clip",
    partition="film|001", pending=pending, run_id=run_id, before_publish=lambda: os.kill(os.getpid(), signal.SIGKILL),
)
"""


def pending_clip(tmp_path: Path) -> PendingArtifact:
    workspace = tmp_path / "workspace"
    workspace.mkdir(exist_ok=True)
    (workspace / "clip.mp4").write_bytes(b"not really a video, but bytes to store")
    return PendingArtifact(files={"clip.mp4": workspace / "clip.mp4"}, workspace=workspace)


@pytest.fixture(params=["local", "gcs"])
def storage_url(request, tmp_path: Path) -> str:
    if request.param == "local":
        return str(tmp_path / "objects")
    return f"gs://{request.getfixturevalue('gcs_bucket')}/objects"


def test_a_publish_refused_for_a_stale_token_removes_what_it_uploaded(tmp_path, storage_url):
    database = f"sqlite:///{tmp_path / 'vidpipe.db'}"
    ledger, store = AttemptLedger(database_url=database), BlobStoreResource(url=storage_url).open()
    lease = ProjectLease(database_url=database, ttl_seconds=1)
    stalled = lease.acquire("film", "run-a")
    time.sleep(1.1)
    lease.acquire("film", "run-b")

    with pytest.raises(StaleLease):
        commit_artifact(store=store, ledger=ledger, asset="scene_clip", partition=PARTITION, pending=pending_clip(tmp_path), run_id="run-a", before_publish=stalled.check)

    [record] = ledger.attempts("scene_clip", PARTITION)
    assert (record.status, record.objects) == (AttemptStatus.ABANDONED, [])
    assert "StaleLease" in record.note
    with pytest.raises(FileNotFoundError):
        store.get_bytes(object_key("scene_clip", PARTITION, 1, "clip.mp4"))


def test_a_worker_killed_before_publishing_leaves_an_attempt_the_reaper_abandons_and_gc_clears(tmp_path, vidpipe_env, monkeypatch, capsys):
    home = vidpipe_env / "dagster_home"
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text("")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    database, storage = f"sqlite:///{vidpipe_env / 'vidpipe.db'}", str(vidpipe_env / "objects")
    ledger, store = AttemptLedger(database_url=database), BlobStoreResource(url=storage).open()
    lease = ProjectLease(database_url=database, ttl_seconds=1)
    with DagsterInstance.get() as instance:
        job = build_defs().resolve_job_def("scene")
        dying, alive = (instance.create_run_for_job(job, tags={PROJECT_TAG: p}, status=DagsterRunStatus.STARTED).run_id for p in ("film", "other"))
        lease.acquire("film", dying)
        workspace = pending_clip(tmp_path).workspace
        killed = subprocess.run([sys.executable, "-c", KILLED_WORKER, database, storage, str(workspace), dying], capture_output=True, text=True)
        assert killed.returncode == -9, killed.stderr
        ledger.allocate("scene_clip", "other|001", alive)  # a live run's attempt, in flight
        clip, manifest = object_key("scene_clip", PARTITION, 1, "clip.mp4"), manifest_key("scene_clip", PARTITION, 1)
        assert ledger.attempts("scene_clip", PARTITION)[0].objects == [clip, manifest]
        assert store.get_bytes(clip)  # uploaded, and no manifest will ever name it
        time.sleep(1.1)  # the dead worker's lease expires

        resources = {"lease": lease, "ledger": ledger, "blob_store": BlobStoreResource(url=storage)}
        with build_sensor_context(instance=instance, resources=resources) as context:
            skip = lease_reaper(context)

        assert instance.get_run_by_id(dying).status == DagsterRunStatus.FAILURE
    assert "1 attempt(s) abandoned, 0 object(s) removed" in skip.skip_message  # within the grace period
    statuses = {record.partition: record.status for record in ledger.with_status(AttemptStatus.ABANDONED) + ledger.with_status(AttemptStatus.ALLOCATED)}
    assert statuses == {PARTITION: AttemptStatus.ABANDONED, "other|001": AttemptStatus.ALLOCATED}
    assert store.get_bytes(clip)

    assert main(["gc", "--grace-seconds", "0"]) == 0

    assert capsys.readouterr().out.splitlines() == [f"removed {clip}", "0 attempt(s) abandoned, 1 object(s) removed"]
    with pytest.raises(FileNotFoundError):
        store.get_bytes(clip)
    assert ledger.attempts("scene_clip", PARTITION)[0].objects == []
    assert main(["gc", "--grace-seconds", "0"]) == 0
    assert capsys.readouterr().out.splitlines() == ["0 attempt(s) abandoned, 0 object(s) removed"]
