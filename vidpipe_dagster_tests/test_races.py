"""Many workers, one scene: 8 OS processes each store 25 attempts of the same scene clip at once,
against one PostgreSQL database and one bucket, through the real write path.

CI runs the race a few times; VIDPIPE_RACE_REPEAT=20 runs it twenty times in a row.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import queue
import shutil
import tempfile
import traceback
from pathlib import Path

import pytest
from google.cloud import storage

from vidpipe_dagster.artifacts import PendingArtifact, commit_artifact, manifest_key, object_key, read_manifest
from vidpipe_dagster.domain import StoredArtifact
from vidpipe_dagster.resources.gcs import GcsBlobStore
from vidpipe_dagster.resources.ledger import AttemptLedger, AttemptStatus
from vidpipe_dagster.resources.storage import ObjectAlreadyExists

WORKERS = 8
ATTEMPTS_EACH = 25
ASSET, PARTITION = "scene_clip", "race|001"
PREFIX = "vidpipe"
CLAIM_KEY = "projects/race/claim.txt"


def content(worker: int, number: int) -> bytes:
    return f"worker {worker}, write {number}\n".encode() + os.urandom(256)


def race_worker(worker: int, database_url: str, emulator: str, bucket: str, start, results) -> None:
    """One worker: on the starting signal, try to claim one shared key, then store attempts."""
    os.environ["STORAGE_EMULATOR_HOST"] = emulator
    workspace = Path(tempfile.mkdtemp(prefix=f"race-{worker}-"))
    try:
        ledger = AttemptLedger(database_url=database_url)
        store = GcsBlobStore(bucket, PREFIX)
        start.wait(timeout=120)
        try:
            store.put_bytes(CLAIM_KEY, f"worker {worker}".encode())
            claimed = True
        except ObjectAlreadyExists:
            claimed = False
        written = []
        for number in range(ATTEMPTS_EACH):
            clip = workspace / f"clip-{number}.mp4"
            clip.write_bytes(content(worker, number))
            artifact = commit_artifact(
                store=store, ledger=ledger, asset=ASSET, partition=PARTITION,
                pending=PendingArtifact(files={"clip.mp4": clip}, workspace=workspace),
                run_id=f"worker-{worker}",
            )
            written.append((number, artifact.model_dump_json()))
        results.put((worker, claimed, written))
    except BaseException:
        results.put((worker, None, traceback.format_exc()))
    finally:
        shutil.rmtree(workspace, ignore_errors=True)


def run_race(database_url: str, emulator: str, bucket: str) -> dict[int, tuple[bool, list[tuple[int, StoredArtifact]]]]:
    spawn = multiprocessing.get_context("spawn")
    start, results = spawn.Barrier(WORKERS), spawn.Queue()
    processes = [
        spawn.Process(target=race_worker, args=(worker, database_url, emulator, bucket, start, results))
        for worker in range(WORKERS)
    ]
    for process in processes:
        process.start()
    outcome = {}
    try:
        for _ in range(WORKERS):
            worker, claimed, written = results.get(timeout=240)
            assert claimed is not None, f"worker {worker} failed:\n{written}"
            outcome[worker] = (claimed, [(n, StoredArtifact.model_validate_json(a)) for n, a in written])
    except queue.Empty:
        pytest.fail("a race worker neither finished nor failed within 240 s")
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
    return outcome


@pytest.mark.parametrize("round_", range(int(os.environ.get("VIDPIPE_RACE_REPEAT", "3"))))
def test_eight_workers_storing_attempts_of_one_scene_lose_and_overwrite_nothing(
    round_, postgres_url, gcs_emulator, gcs_bucket
):
    outcome = run_race(postgres_url, gcs_emulator, gcs_bucket)

    total = WORKERS * ATTEMPTS_EACH
    attempts = {a.attempt: (worker, n, a) for worker, (_, written) in outcome.items() for n, a in written}
    assert sorted(attempts) == list(range(1, total + 1)), "attempt numbers are unique and contiguous"
    writers = [attempts[number][0] for number in range(1, total + 1)]
    assert sum(a != b for a, b in zip(writers, writers[1:])) > WORKERS, "the workers really ran at once"
    assert sum(claimed for claimed, _ in outcome.values()) == 1, "exactly one worker created the shared key"

    ledger = AttemptLedger(database_url=postgres_url)
    log = ledger.attempts(ASSET, PARTITION)
    assert [(r.attempt, r.status, r.run_id) for r in log] == [
        (number, AttemptStatus.STORED, f"worker-{attempts[number][0]}") for number in range(1, total + 1)
    ]

    # Listing here is the test's own audit; no code path of vidpipe lists the bucket.
    objects = {blob.name: blob for blob in storage.Client(project=None).list_blobs(gcs_bucket)}
    expected = {CLAIM_KEY}
    for number in range(1, total + 1):
        expected |= {object_key(ASSET, PARTITION, number, "clip.mp4"), manifest_key(ASSET, PARTITION, number)}
    assert set(objects) == {f"{PREFIX}/{key}" for key in expected}, "every object present exactly once, nothing else"

    store = GcsBlobStore(gcs_bucket, PREFIX)
    claimer = next(worker for worker, (claimed, _) in outcome.items() if claimed)
    assert store.get_bytes(CLAIM_KEY) == f"worker {claimer}".encode()
    for number, (worker, write, artifact) in attempts.items():
        clip = artifact.objects["clip.mp4"]
        assert objects[f"{PREFIX}/{clip.key}"].generation == clip.generation, "still its first generation"
        data = store.get_bytes(clip.key)
        assert hashlib.sha256(data).hexdigest() == clip.sha256
        assert data.startswith(f"worker {worker}, write {write}\n".encode()), "the bytes its writer wrote"
        assert read_manifest(store, ASSET, PARTITION, number) == artifact
