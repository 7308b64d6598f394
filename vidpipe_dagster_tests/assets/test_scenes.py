"""Scene assets: judged retries, regeneration, and picking the accepted attempt."""

from pathlib import Path

import pytest
from dagster import AssetKey, ConfigurableResource
from PIL import Image

from vidpipe_dagster.artifacts import PendingArtifact, commit_artifact, load_materialized, read_manifest
from vidpipe_dagster.definitions import build_defs
from vidpipe_dagster.intake import submit_brief
from vidpipe_dagster.in_process import execute_partition
from vidpipe_dagster.media.ffmpeg import render_clip
from vidpipe_dagster.media.frames import extract_last_frame
from vidpipe_dagster.quality import MEASURER_VERSION
from vidpipe_dagster.resources.ledger import AttemptStatus


class FadingVideoModel(ConfigurableResource):
    """Stands in for a paid video API that sometimes returns a black clip: this one does unless
    the prompt asks to keep the subject lit (which the judge's correction does)."""

    always_black: bool = False
    default_resolution: str = "360p"

    def clip(self, *, prompt, scene, start_frame, end_frame, out, size, seed, audio=False):
        from vidpipe_dagster.domain import ModelCall

        if self.always_black or "keep the subject lit" not in prompt:
            black = out.parent / "black.png"
            Image.new("RGB", size).save(black)
            start_frame = end_frame = black
        render_clip(start_frame, end_frame, out, duration_s=scene.duration_s, fps=24, size=size)
        return ModelCall(model="fading-test-model", seconds=0.0)


def set_up_project(instance, project: str, scene_count: int = 1, **overrides):
    defs = build_defs(**overrides)
    store = defs.resources["blob_store"].process_config_and_initialize().open()  # its URL read from the environment
    submit_brief(instance, store, {"project_id": project, "prompt": "a lantern in the fog", "scene_count": scene_count})
    execute_partition(defs, instance, "project_setup", project, project)
    return defs, store


def run_scene(defs, instance, partition: str, *, clip=None, keyframes=None, only=None, raise_on_error=True):
    ops = {}
    if clip:
        ops["scene_clip"] = {"config": clip}
    if keyframes:
        ops["scene_keyframes"] = {"config": keyframes}
    return defs.resolve_job_def("scene").execute_in_process(
        instance=instance,
        partition_key=partition,
        run_config={"ops": ops},
        asset_selection=[AssetKey(name) for name in only] if only else None,
        raise_on_error=raise_on_error,
    )


def check_result(result):
    return next(event.event_specific_data for event in result.all_events if event.event_type_value == "ASSET_CHECK_EVALUATION")


def test_a_failing_clip_is_retried_with_a_corrected_prompt(vidpipe_env, instance):
    defs, store = set_up_project(instance, "fog-retry", video_model=FadingVideoModel())

    result = run_scene(defs, instance, "fog-retry|001")

    ledger = defs.resources["ledger"]
    attempts = ledger.attempts("scene_clip", "fog-retry|001")
    assert [(a.attempt, a.status) for a in attempts] == [(1, AttemptStatus.REJECTED), (2, AttemptStatus.ACCEPTED)]
    assert attempts[0].scores["black_ratio"] == 1.0 and attempts[0].scores["passed"] is False
    assert attempts[1].scores["passed"] is True
    accepted = load_materialized(instance, store, "scene_clip", "fog-retry|001")
    assert accepted.attempt == 2
    # Correction by rewrite: the new prompt keeps the old one whole and adds the judge's fix.
    assert accepted.data["prompt"].startswith(accepted.data["previous_prompt"])
    assert "keep the subject lit" in accepted.data["prompt"] and "keep the subject lit" not in accepted.data["previous_prompt"]
    assert accepted.facts["rewrite"]["model"] == "local-rewrite"
    rejected_quality = read_manifest(store, "scene_clip", "fog-retry|001", 1).facts["quality"]
    assert rejected_quality["grades"]["technical_quality"] == "FAIL" and rejected_quality["verdict"] != "ACCEPT"
    assert {"department": "gaffer", "severity": "critical", "suggested_fix": "keep the subject lit; avoid fading to black"}.items() <= rejected_quality["issues"][0].items()
    assert attempts[0].scores["grades"] == rejected_quality["grades"]  # the ledger keeps the grades too
    materialization = result.asset_materializations_for_node("scene_clip")[0]
    assert isinstance(materialization.metadata["score"].value, float) and materialization.metadata["attempts"].value == 2
    rejected = read_manifest(store, "scene_clip", "fog-retry|001", 1)
    assert rejected.objects["clip.mp4"].key.endswith("clip/attempt-001.mp4")
    assert store.get_bytes(rejected.objects["clip.mp4"].key)  # kept, never overwritten
    assert check_result(result).passed


def test_when_no_attempt_reaches_the_pass_bar_the_step_fails_naming_why(vidpipe_env, instance):
    defs, store = set_up_project(instance, "always-dark", video_model=FadingVideoModel(always_black=True))

    result = run_scene(defs, instance, "always-dark|001", clip={"quality": {"max_attempts": 2}}, raise_on_error=False)

    assert not result.success
    failure = next(event for event in result.all_events if event.event_type_value == "STEP_FAILURE")
    message = failure.event_specific_data.error_display_string
    assert "no attempt of 2 reached the pass bar 0.7" in message and "technical_quality FAIL" in message
    statuses = [a.status for a in defs.resources["ledger"].attempts("scene_clip", "always-dark|001")]
    assert statuses == [AttemptStatus.REJECTED, AttemptStatus.REJECTED]
    assert load_materialized(instance, store, "scene_clip", "always-dark|001") is None

    # Forced, the first attempt is taken whatever it scores, and flagged.
    forced = run_scene(defs, instance, "always-dark|001", clip={"force": True}, only=["scene_clip"])
    materialization = forced.asset_materializations_for_node("scene_clip")[0]
    assert materialization.metadata["quality_flag"].value == "forced"
    assert not check_result(forced).passed and "black" in check_result(forced).description


def test_a_person_can_pick_an_earlier_attempt_and_the_cut_uses_it(vidpipe_env, instance):
    defs, store = set_up_project(instance, "pick-one")
    run_scene(defs, instance, "pick-one|001")
    run_scene(defs, instance, "pick-one|001", clip={"prompt_override": "the lantern swings in the wind"}, only=["scene_clip"])
    assert load_materialized(instance, store, "scene_clip", "pick-one|001").attempt == 2

    run_scene(defs, instance, "pick-one|001", clip={"use_attempt": 1}, only=["scene_clip"])
    execute_partition(defs, instance, "final_cut", "pick-one", "pick-one")

    assert load_materialized(instance, store, "scene_clip", "pick-one|001").attempt == 1
    assert load_materialized(instance, store, "final_video", "pick-one").data["scenes"] == {"001": 1}
    with pytest.raises(Exception, match="has no stored attempt 9"):
        run_scene(defs, instance, "pick-one|001", clip={"use_attempt": 9}, only=["scene_clip"])


def test_regenerating_only_the_end_keyframe_keeps_the_start(vidpipe_env, instance, tmp_path: Path):
    defs, store = set_up_project(instance, "new-end")
    run_scene(defs, instance, "new-end|001")
    before = load_materialized(instance, store, "scene_keyframes", "new-end|001")

    run_scene(defs, instance, "new-end|001", keyframes={"regenerate": "end", "prompt_override": "now at night"}, only=["scene_keyframes"])

    after = load_materialized(instance, store, "scene_keyframes", "new-end|001")
    assert after.attempt == before.attempt + 1
    assert after.objects["start.png"].sha256 == before.objects["start.png"].sha256
    assert after.objects["end.png"].sha256 != before.objects["end.png"].sha256


def test_the_cut_carries_a_chart_of_every_attempts_score(vidpipe_env, instance, tmp_path: Path):
    defs, store = set_up_project(instance, "charted", video_model=FadingVideoModel())
    run_scene(defs, instance, "charted|001")
    execute_partition(defs, instance, "final_cut", "charted", "charted")

    cut = load_materialized(instance, store, "final_video", "charted")
    assert cut.facts["attempt_scores"]["001"] == [
        {"attempt": 1, "score": pytest.approx(0.0, abs=0.5), "passed": False, "accepted": False},
        {"attempt": 2, "score": pytest.approx(1.0, abs=0.2), "passed": True, "accepted": True},
    ]
    chart = store.get_file(cut.objects["scores.png"].key, tmp_path / "scores.png")
    with Image.open(chart) as image:
        assert image.size == (720, 360)
        colours = {colour for _, colour in image.getcolors(maxcolors=100_000)}
    assert (46, 160, 67) in colours and (207, 34, 46) in colours  # a passed and a failed attempt


def test_each_clip_is_decoded_once_and_the_check_reads_the_stored_measures(vidpipe_env, instance, tmp_path):
    defs, store = set_up_project(instance, "one-pass", scene_count=2)
    run_scene(defs, instance, "one-pass|001")

    result = run_scene(defs, instance, "one-pass|002")

    clip = load_materialized(instance, store, "scene_clip", "one-pass|002")
    statistics = clip.facts["frame_statistics"]
    assert statistics["measurer_version"] == MEASURER_VERSION and statistics["decodes"] == 1
    assert statistics["frames"] == clip.facts["frame_count"]
    keyframes = load_materialized(instance, store, "scene_keyframes", "one-pass|002")
    assert keyframes.data["opening"] == "continuous"
    # Scene 2 opens on the last frame scene 1's one decode stored: the very picture decoding its end gives.
    first = load_materialized(instance, store, "scene_clip", "one-pass|001")
    assert keyframes.objects["start.png"].sha256 == first.objects["last.png"].sha256
    decoded_end = extract_last_frame(store.get_file(first.objects["clip.mp4"].key, tmp_path / "first.mp4"), tmp_path / "end.png")
    assert decoded_end.read_bytes() == store.get_bytes(first.objects["last.png"].key)
    assert statistics["continuity_reference"] == keyframes.objects["start.png"].sha256
    assert round(statistics["continuity_ssim"], 4) == clip.facts["quality"]["continuity_ssim"] > 0.85
    # The judge graded what the one decode measured, and the check took no decode of its own.
    assert clip.facts["quality"]["black_ratio"] == round(statistics["black_ratio"], 4)
    check = check_result(result)
    assert check.metadata["measured"].value == f"stored (measurer v{MEASURER_VERSION})"
    assert check.metadata["decodes"].value == 0


@pytest.mark.parametrize(
    ("stored", "why"),
    [(None, "none stored"), ({"measurer_version": MEASURER_VERSION - 1}, f"stored by measurer v{MEASURER_VERSION - 1}")],
)
def test_the_check_measures_again_when_the_stored_measures_are_missing_or_older(vidpipe_env, instance, tmp_path, stored, why):
    defs, store = set_up_project(instance, "re-measure")
    first = check_result(run_scene(defs, instance, "re-measure|001"))
    current = load_materialized(instance, store, "scene_clip", "re-measure|001")
    # The same clip as an attempt stored before this measurer (no measures) or by an older one.
    facts = {name: value for name, value in current.facts.items() if name != "frame_statistics"}
    if stored is not None:
        facts["frame_statistics"] = {**current.facts["frame_statistics"], **stored}
    (tmp_path / "old").mkdir()
    older = commit_artifact(
        store=store, ledger=defs.resources["ledger"], asset="scene_clip", partition="re-measure|001", run_id=None,
        pending=PendingArtifact(
            workspace=tmp_path / "old", files={"clip.mp4": store.get_file(current.objects["clip.mp4"].key, tmp_path / "old" / "clip.mp4")},
            data=current.data, facts=facts, upstream=current.upstream,
        ),
    )

    again = check_result(run_scene(defs, instance, "re-measure|001", clip={"use_attempt": older.attempt}, only=["scene_clip"]))

    assert again.metadata["attempt"].value == older.attempt
    assert again.metadata["measured"].value == f"now ({why}{', now v' + str(MEASURER_VERSION) if stored else ''})"
    assert again.metadata["decodes"].value == 1
    assert (again.passed, again.metadata["score"].value, again.metadata["verdict"].value) == (
        first.passed, first.metadata["score"].value, first.metadata["verdict"].value
    )
    assert again.metadata["measures"].value == first.metadata["measures"].value
