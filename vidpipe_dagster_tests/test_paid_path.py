"""The one path of every paid call, end to end: a Veo operation survives its worker's death without
being paid twice, identical requests are answered from storage, and a run that would overspend
stops before the call and waits for a person. Real PostgreSQL, the loopback Vertex server, and
Dagster runs of the real assets."""

from __future__ import annotations

import multiprocessing
import os
import time
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa
from dagster import DagsterEventType
from google.cloud import storage

from vidpipe_dagster.artifacts import load_materialized
from vidpipe_dagster.domain import ModelCall, StoredObject
from vidpipe_dagster.in_process import execute_partition
from vidpipe_dagster.resources.controls import ProjectControls
from vidpipe_dagster.resources.database import engine_for
from vidpipe_dagster.resources.gcs import COPIED_FROM, GcsBlobStore
from vidpipe_dagster.resources.models.local import LocalImageModel, LocalJudge, LocalVideoModel
from vidpipe_dagster.resources.models.vertex import VertexVideoModel
from vidpipe_dagster.resources.paid_calls import ChargeStatus
from vidpipe_dagster.resources.tables import charges, paid_operations
from vidpipe_dagster_tests.assets.test_scenes import run_scene, set_up_project
from vidpipe_dagster_tests.paid_workers import SCENE, PricedVideoModel, paid_calls_for, polling_worker, step_for
from vidpipe_dagster_tests.resources.models.test_vertex import (  # noqa: F401 - fixtures
    TOKEN,
    _no_ambient_google_credentials,
    b64,
    clip_args,
    done_with,
    fake_vertex,
    pending,
    settings,
    veo_mp4,
)

VEO_6S_SILENT_MICROS = 1_200_000


def start_polling_then_kill(postgres_url: str, objects: str, fake_vertex, clip: dict) -> None:
    """A worker starts the clip's operation and polls it; it is killed mid-poll (SIGKILL: no
    cleanup runs), once the operation is on record and has been polled a few times."""
    fake_vertex.script("predictLongRunning", pending())
    fake_vertex.script("fetchPredictOperation", *[pending() for _ in range(5000)])
    worker = multiprocessing.get_context("spawn").Process(
        target=polling_worker, args=(postgres_url, objects, fake_vertex.url, TOKEN, "crash-film", clip)
    )
    worker.start()
    deadline = time.monotonic() + 120
    with engine_for(postgres_url).connect() as connection:
        while time.monotonic() < deadline:
            recorded = connection.execute(sa.select(sa.func.count()).select_from(paid_operations)).scalar_one()
            if recorded and len(fake_vertex.sent("fetchPredictOperation")) >= 3:
                break
            assert worker.is_alive(), "the polling worker died by itself"
            time.sleep(0.05)
        else:
            pytest.fail("the worker never recorded its operation and polled it")
    worker.kill()
    worker.join(timeout=30)
    fake_vertex._script["fetchPredictOperation"].clear()


def veo_clip(tmp_path: Path, out: str) -> dict:
    args = clip_args(tmp_path)
    return {
        "prompt": args["prompt"], "start_frame": str(args["start_frame"]), "end_frame": str(args["end_frame"]),
        "out": str(tmp_path / out / "clip.mp4"), "size": [640, 360], "seed": args["seed"],
    }


def call_clip(step, model, clip: dict) -> ModelCall:
    return step.bind(model).clip(
        **{**clip, "scene": SCENE, "start_frame": Path(clip["start_frame"]), "end_frame": Path(clip["end_frame"]),
           "out": Path(clip["out"]), "size": tuple(clip["size"])}
    )


def charge_rows(postgres_url: str, project: str) -> list[tuple[str, str, int | None]]:
    with engine_for(postgres_url).connect() as connection:
        return [
            (row.status, row.run_id, row.actual_micros)
            for row in connection.execute(sa.select(charges).where(charges.c.project_id == project).order_by(charges.c.id))
        ]


def test_a_worker_killed_while_polling_is_resumed_and_veo_is_paid_once(postgres_url, tmp_path, fake_vertex, settings, veo_mp4):
    objects = str(tmp_path / "objects")
    start_polling_then_kill(postgres_url, objects, fake_vertex, veo_clip(tmp_path, "dead"))
    fake_vertex.script("fetchPredictOperation", done_with({"bytesBase64Encoded": b64(veo_mp4), "mimeType": "video/mp4"}))

    calls = paid_calls_for(postgres_url, objects)
    assert calls.budget("crash-film").reserved_micros == VEO_6S_SILENT_MICROS, "the dead worker's reservation is held"
    model = VertexVideoModel(settings=settings, poll_interval_s=0.01)
    clip = veo_clip(tmp_path, "takeover")
    call = call_clip(step_for(calls, "crash-film", "run-that-takes-over"), model, clip)

    assert len(fake_vertex.sent("predictLongRunning")) == 1, "the operation was resumed, not started again"
    assert call.usage["resumed_operations"] == 1 and "operations" not in call.usage
    assert Path(clip["out"]).stat().st_size > 0
    assert calls.stored_result(call.request_key) is not None, "its result is stored under the request key"
    assert charge_rows(postgres_url, "crash-film") == [(ChargeStatus.SETTLED, "run-that-takes-over", VEO_6S_SILENT_MICROS)]
    state = calls.budget("crash-film")
    assert (state.spent_micros, state.reserved_micros) == (VEO_6S_SILENT_MICROS, 0)

    polls = len(fake_vertex.requests)
    again = call_clip(step_for(calls, "crash-film", "a-retry"), model, veo_clip(tmp_path, "retry"))
    assert len(fake_vertex.requests) == polls, "a retry of the same request asks Vertex nothing"
    assert again.reused and again.cost_usd == 0 and again.reused_from == "scene_clip[crash-film|001] run run-that"


def test_an_operation_older_than_its_timeout_counts_as_spent_and_is_not_resumed(postgres_url, tmp_path, fake_vertex, settings, veo_mp4):
    objects = str(tmp_path / "objects")
    start_polling_then_kill(postgres_url, objects, fake_vertex, veo_clip(tmp_path, "dead"))
    time.sleep(0.5)
    fake_vertex.script("predictLongRunning", pending())
    fake_vertex.script("fetchPredictOperation", done_with({"bytesBase64Encoded": b64(veo_mp4), "mimeType": "video/mp4"}))

    calls = paid_calls_for(postgres_url, objects)
    model = VertexVideoModel(settings=settings, poll_interval_s=0.01, operation_timeout_s=0.4)
    call = call_clip(step_for(calls, "crash-film", "late-run"), model, veo_clip(tmp_path, "late"))

    assert len(fake_vertex.sent("predictLongRunning")) == 2 and call.usage["operations"] == 1
    assert [status for status, _, _ in charge_rows(postgres_url, "crash-film")] == [ChargeStatus.ABANDONED, ChargeStatus.SETTLED]
    assert calls.budget("crash-film").spent_micros == 2 * VEO_6S_SILENT_MICROS, "the abandoned operation counts as spent"


# --- Reuse across regenerations, in Dagster runs -----------------------------------------------

CALLS: Counter[str] = Counter()


class CountingVideoModel(LocalVideoModel):
    def clip(self, **kwargs) -> ModelCall:
        CALLS["clip"] += 1
        return super().clip(**kwargs)


class CountingImageModel(LocalImageModel):
    def keyframe(self, **kwargs) -> ModelCall:
        CALLS["keyframe"] += 1
        return super().keyframe(**kwargs)


class CountingJudge(LocalJudge):
    def judge(self, **kwargs):
        CALLS["judge"] += 1
        return super().judge(**kwargs)


def materialization_metadata(result, asset: str) -> dict:
    (materialization,) = result.asset_materializations_for_node(asset)
    return {key: value.value for key, value in materialization.metadata.items()}


def reused_copy_of(store, stored: StoredObject, source_key: str) -> bool:
    """Whether `stored` was made inside the store from `source_key`, no byte sent again: on the
    emulator, GCS's own record says it was rewritten from that key; locally, both names are one file."""
    if isinstance(store, GcsBlobStore):
        client = storage.Client(project=None)
        copy, source = (client.bucket(store.bucket_name).get_blob(f"{store.prefix}/{key}") for key in (stored.key, source_key))
        return copy.metadata.get(COPIED_FROM) == source_key and (copy.md5_hash, copy.crc32c) == (source.md5_hash, source.crc32c)
    return os.path.samefile(store.root / stored.key, store.root / source_key)


@pytest.mark.parametrize("storage_kind", ["local", "gcs"])
def test_a_regenerate_with_identical_config_calls_no_model_and_a_changed_prompt_calls_one(
    vidpipe_env, instance, postgres_url, monkeypatch, request, storage_kind
):
    monkeypatch.setenv("VIDPIPE_DATABASE_URL", postgres_url)
    if storage_kind == "gcs":
        monkeypatch.setenv("VIDPIPE_STORAGE_URL", f"gs://{request.getfixturevalue('gcs_bucket')}/objects")
    defs, store = set_up_project(
        instance, "reuse-film", video_model=CountingVideoModel(), image_model=CountingImageModel(), quality_judge=CountingJudge()
    )
    CALLS.clear()
    assert run_scene(defs, instance, "reuse-film|001").success
    assert CALLS == {"keyframe": 2, "clip": 1, "judge": 3}, "both keyframes are judged before the clip"
    first = load_materialized(instance, store, "scene_clip", "reuse-film|001")

    CALLS.clear()
    again = run_scene(defs, instance, "reuse-film|001")
    assert again.success and sum(CALLS.values()) == 0, "identical requests: every answer reused"
    reused = load_materialized(instance, store, "scene_clip", "reuse-film|001")
    assert reused.attempt == first.attempt + 1, "the reused answer is stored as its own attempt"
    assert reused.objects["clip.mp4"].sha256 == first.objects["clip.mp4"].sha256
    # Lineage names the original attempt exactly, and the stored answer its clip was copied from.
    origin = reused.facts["model"]["reused_from_attempt"]
    assert reused.facts["model"]["reused"] and reused.facts["model"]["reused_from"] == f"scene_clip[reuse-film|001] attempt {first.attempt}"
    assert (origin["asset"], origin["partition"], origin["attempt"]) == ("scene_clip", "reuse-film|001", first.attempt)
    assert origin["attempt_objects"] == {"clip.mp4": first.objects["clip.mp4"].key}
    answer_key = origin["source_objects"]["clip.mp4"]
    assert reused.objects["clip.mp4"].copied_from == first.objects["clip.mp4"].copied_from == answer_key
    assert reused_copy_of(store, reused.objects["clip.mp4"], answer_key)
    metadata = materialization_metadata(again, "scene_clip")
    assert metadata["reused_calls"] == 2  # the clip and its judgement
    assert metadata["reused_from_attempt"] == f"scene_clip[reuse-film|001] attempt {first.attempt}"
    assert metadata["model"]["reused_from_attempt"]["attempt"] == first.attempt

    CALLS.clear()
    assert run_scene(defs, instance, "reuse-film|001", clip={"prompt_override": "the lantern gutters out"}).success
    assert CALLS == {"keyframe": 2, "clip": 1, "judge": 3}, "a changed prompt amends the scene: new requests for keyframes and clip"

    CALLS.clear()
    assert run_scene(defs, instance, "reuse-film|001", clip={"force": True}, only=["scene_clip"]).success
    assert CALLS == {"clip": 1, "judge": 1}, "force makes a fresh call"

    final = defs.resolve_job_def("final_cut").execute_in_process(instance=instance, partition_key="reuse-film")
    metadata = materialization_metadata(final, "final_video")
    assert metadata["cost_spent_usd"] == 0.0 and metadata["reused_calls"] >= 4
    scene = metadata["cost_by_partition"]["reuse-film|001"]
    assert scene["spent_usd"] == 0.0 and scene["reused_calls"] >= 4 and scene["paid_calls"] >= 6


class PricedLocalVideoModel(LocalVideoModel):
    """Renders locally, billed as Veo 3.1 (silent): $0.20 a second."""

    model: str = "veo-3.1-generate-001"

    def clip(self, **kwargs) -> ModelCall:
        call = super().clip(**kwargs)
        return call.model_copy(update={"usage": {"video_seconds": kwargs["scene"].duration_s}})


def test_a_call_over_budget_fails_the_run_at_once_and_waits_for_a_person(vidpipe_env, instance, postgres_url, monkeypatch, tmp_path):
    monkeypatch.setenv("VIDPIPE_DATABASE_URL", postgres_url)
    defs, store = set_up_project(instance, "tight-film", video_model=PricedLocalVideoModel())
    calls = paid_calls_for(postgres_url, str(tmp_path / "unused"))
    calls.set_budget("tight-film", 0.50)

    refused = defs.resolve_job_def("scene").execute_in_process(instance=instance, partition_key="tight-film|001", raise_on_error=False)
    assert not refused.success
    failures = [event for event in refused.all_events if event.is_step_failure]
    assert len(failures) == 1 and "over the budget: spent $0.00, reserved $0.00, limit $0.50" in str(failures[0].step_failure_data.error)
    assert not [event for event in refused.all_events if event.event_type == DagsterEventType.STEP_UP_FOR_RETRY], "no retry"
    assert ProjectControls(database_url=postgres_url).states()["tight-film"][0] is True, "the project waits for a person"
    assert calls.budget("tight-film").spent_micros == 0

    calls.set_budget("tight-film", 40)  # what `vidpipe budget tight-film --set 40` does
    ProjectControls(database_url=postgres_url).set_paused("tight-film", False)  # `vidpipe resume tight-film`
    paid = run_scene(defs, instance, "tight-film|001")
    assert paid.success
    clip = load_materialized(instance, store, "scene_clip", "tight-film|001")
    duration = clip.facts["duration_s"]
    assert clip.facts["model"]["cost_usd"] == pytest.approx(0.20 * round(duration))
    assert materialization_metadata(paid, "scene_clip")["cost_usd"] == pytest.approx(0.20 * round(duration))
    assert calls.budget("tight-film").spent_micros == round(0.20 * round(duration) * 1_000_000)
    execute_partition(defs, instance, "final_cut", "tight-film", "tight-film")


class VideoModelStoppedMidCall(PricedVideoModel):
    """The call never returns: its worker is stopped inside it (a terminated run, a dying worker)."""

    def clip(self, **kwargs) -> ModelCall:
        raise KeyboardInterrupt


def test_a_reservation_left_inside_a_call_is_taken_over_not_reserved_twice(postgres_url, tmp_path):
    calls = paid_calls_for(postgres_url, str(tmp_path / "objects"))
    calls.set_budget("stopped-film", 2.00)  # room for one 6 s clip at $1.20, not two
    frame = tmp_path / "frame.png"
    frame.write_bytes(b"a frame")
    clip = {"prompt": "the kite lands", "scene": SCENE, "start_frame": frame, "end_frame": frame, "size": (64, 36), "seed": 1}

    with pytest.raises(KeyboardInterrupt):
        step_for(calls, "stopped-film", "stopped-run").bind(VideoModelStoppedMidCall()).clip(**clip, out=tmp_path / "a.mp4")
    assert calls.budget("stopped-film").reserved_micros == VEO_6S_SILENT_MICROS, "a stopped call may have been billed"

    call = step_for(calls, "stopped-film", "next-run").bind(PricedVideoModel()).clip(**clip, out=tmp_path / "b.mp4")
    assert call.cost_usd == pytest.approx(1.20)
    assert charge_rows(postgres_url, "stopped-film") == [(ChargeStatus.SETTLED, "next-run", VEO_6S_SILENT_MICROS)]
    state = calls.budget("stopped-film")
    assert (state.spent_micros, state.reserved_micros) == (VEO_6S_SILENT_MICROS, 0)
