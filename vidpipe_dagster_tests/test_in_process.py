"""A whole project, materialized in this process on the embedded defaults."""

from __future__ import annotations

import json
from importlib import resources as package_files

import pytest
from dagster import AssetKey, AssetRecordsFilter

from vidpipe_dagster.artifacts import ATTEMPT, load_materialized
from vidpipe_dagster.definitions import build_defs
from vidpipe_dagster.in_process import RunFailed, execute_partition, failure_reason, run_project
from vidpipe_dagster.intake import submit_brief
from vidpipe_dagster.media.frames import first_frame, last_frame, ssim
from vidpipe_dagster.media.probe import probe


def sample_brief(**changes) -> dict:
    raw = json.loads(package_files.files("vidpipe_dagster").joinpath("samples/lighthouse.json").read_text())
    return {**raw, **changes}


def latest_metadata(instance, asset: str, partition: str) -> dict:
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey(asset), asset_partitions=[partition]), limit=1
    ).records
    assert records, f"{asset}[{partition}] was not materialized"
    return {key: value.value for key, value in records[0].asset_materialization.metadata.items()}


def test_four_scene_project_becomes_one_video(vidpipe_env, instance, tmp_path):
    defs = build_defs()
    store = defs.resources["blob_store"].open()
    brief = submit_brief(instance, store, sample_brief(project_id="harbor-e2e"))

    final = run_project(defs, instance, store, brief.project_id)

    cut = store.get_file(final.objects["final.mp4"].key, tmp_path / "final.mp4")
    facts = probe(cut)
    board = load_materialized(instance, store, "storyboard", "harbor-e2e").data
    durations = [scene["duration_s"] for scene in board["scenes"]]
    assert len(durations) == 4
    assert facts.duration_s == pytest.approx(sum(durations), abs=0.2)
    assert facts.frame_count == sum(durations) * 24
    assert (facts.width, facts.height, facts.video_codec, facts.pixel_format) == (640, 360, "h264", "yuv420p")

    clips = []
    for scene in ("001", "002", "003", "004"):
        clip = load_materialized(instance, store, "scene_clip", f"harbor-e2e|{scene}")
        assert clip.objects["clip.mp4"].key == f"projects/harbor-e2e/scenes/{scene}/clip/attempt-001.mp4"
        clips.append(store.get_file(clip.objects["clip.mp4"].key, tmp_path / f"{scene}.mp4"))
    # A continuous scene opens on the last frame of the one before; a cut on a newly drawn frame.
    for previous, following, scene in zip(clips, clips[1:], board["scenes"][1:]):
        joined = ssim(last_frame(previous), first_frame(following))
        assert joined >= 0.9 if scene["transition_in"] == "continuous" else joined < 0.9

    metadata = latest_metadata(instance, "final_video", "harbor-e2e")
    assert metadata[ATTEMPT] == 1
    assert metadata["final/uri"].endswith("projects/harbor-e2e/final/attempt-001.mp4")
    assert metadata["final/size"] == cut.stat().st_size
    assert metadata["duration_s"] == pytest.approx(sum(durations), abs=0.2)
    assert metadata["resolution"] == "640x360"
    assert metadata["scene_attempts"] == {"001": 1, "002": 1, "003": 1, "004": 1}
    assert metadata["upstream_attempts"]["scene_clip[harbor-e2e|003]"] == 1
    assert (tmp_path / "workspaces").exists() and not any((tmp_path / "workspaces").iterdir())

    keyframes = latest_metadata(instance, "scene_keyframes", "harbor-e2e|002")
    assert keyframes["upstream_attempts"]["scene_clip[harbor-e2e|001]"] == 1


def test_a_scene_before_its_predecessor_fails_clearly_and_leaves_no_workspace(vidpipe_env, instance, tmp_path):
    defs = build_defs()
    store = defs.resources["blob_store"].open()
    submit_brief(instance, store, sample_brief(project_id="out-of-order"))
    defs.resolve_job_def("project_setup").execute_in_process(instance=instance, partition_key="out-of-order")

    result = defs.resolve_job_def("scene").execute_in_process(
        instance=instance, partition_key="out-of-order|002", raise_on_error=False
    )

    assert not result.success
    failure = next(event for event in result.all_events if event.is_step_failure)
    message = failure_reason(failure.step_failure_data.error)
    assert "scene_clip[out-of-order|001] first" in message
    assert not any((tmp_path / "workspaces").iterdir())


def test_a_phantom_scene_is_refused_with_the_storyboard_length(vidpipe_env, instance):
    defs = build_defs()
    store = defs.resources["blob_store"].open()
    submit_brief(instance, store, sample_brief(project_id="short-one", scene_count=2, scene_hints=[]))
    submit_brief(instance, store, sample_brief(project_id="long-one", scene_count=3, scene_hints=[]))
    for project in ("short-one", "long-one"):
        defs.resolve_job_def("project_setup").execute_in_process(instance=instance, partition_key=project)

    with pytest.raises(RunFailed, match="has 2 scenes"):
        execute_partition(defs, instance, "scene", "short-one|003", "short-one")


def test_a_skipped_scene_is_left_out_and_the_next_opens_on_the_last_kept_one(vidpipe_env, instance, tmp_path):
    defs = build_defs()
    store = defs.resources["blob_store"].open()
    controls = defs.resources["controls"]
    # One place and time throughout, so every scene after the first goes on from the one before.
    hints = [
        "Night in the lamp room: the keeper trims the wick",
        "The keeper polishes the great lens",
        "The keeper winds the brass clockwork",
        "The keeper watches the beam sweep the sea",
    ]
    brief = submit_brief(instance, store, sample_brief(project_id="skip-two", scene_hints=hints))
    controls.skip_scene("skip-two", "002", "the gulls look wrong")

    final = run_project(defs, instance, store, brief.project_id, skipped=controls.skipped("skip-two"))

    board = load_materialized(instance, store, "storyboard", "skip-two").data
    assert [scene["transition_in"] for scene in board["scenes"]][2] == "continuous"
    durations = {scene["number"]: scene["duration_s"] for scene in board["scenes"]}
    assert load_materialized(instance, store, "scene_clip", "skip-two|002") is None
    cut = probe(store.get_file(final.objects["final.mp4"].key, tmp_path / "final.mp4"))
    assert cut.duration_s == pytest.approx(durations[1] + durations[3] + durations[4], abs=0.2)
    scene_one, scene_three = (
        store.get_file(load_materialized(instance, store, "scene_clip", f"skip-two|{key}").objects["clip.mp4"].key, tmp_path / f"{key}.mp4")
        for key in ("001", "003")
    )
    assert ssim(last_frame(scene_one), first_frame(scene_three)) >= 0.9
    keyframes = latest_metadata(instance, "scene_keyframes", "skip-two|003")
    assert keyframes["upstream_attempts"]["scene_clip[skip-two|001]"] == 1
    metadata = latest_metadata(instance, "final_video", "skip-two")
    assert metadata["scene_count"] == 3
    assert metadata["scene_attempts"] == {"001": 1, "003": 1, "004": 1}
    assert metadata["skipped_scenes"] == {"002": "the gulls look wrong"}
    review = store.get_bytes(final.objects["review.html"].key).decode()
    assert "skipped: the gulls look wrong" in review
    assert latest_metadata(instance, "scene_clip", "skip-two|003")["frame_strip"].startswith("**accepted attempt 1**")
    assert "| 004 | " in latest_metadata(instance, "storyboard", "skip-two")["storyboard"]
