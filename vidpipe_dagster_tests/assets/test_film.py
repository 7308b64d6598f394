"""The film a project asks the models for: every stored prompt carries the vision, the state and the
rules; cuts open on new frames; a prompt change reaches every model call of its scene."""

from __future__ import annotations

from pathlib import Path

from dagster import AssetKey

from vidpipe_dagster.artifacts import load_materialized
from vidpipe_dagster.creative.compose import STATE_HEADING
from vidpipe_dagster.definitions import build_defs
from vidpipe_dagster.domain import StateChange, Storyboard
from vidpipe_dagster.in_process import execute_partition, run_project
from vidpipe_dagster.intake import submit_brief
from vidpipe_dagster.media.frames import first_frame, last_frame, ssim
from vidpipe_dagster.resources.models.local import LOCAL_RULE_SUGGESTION
from vidpipe_dagster_tests.test_in_process import latest_metadata, sample_brief


def _present(board: Storyboard, scene_number: int, change: StateChange) -> bool:
    scene = board.scenes[scene_number - 1]
    return change.subject in scene.characters or change.subject == scene.location


def test_every_clip_prompt_of_the_sample_carries_traits_place_camera_state_and_rules(vidpipe_env, instance):
    defs = build_defs()
    store = defs.resources["blob_store"].open()
    brief = submit_brief(instance, store, sample_brief(project_id="film-prompts"))
    run_project(defs, instance, store, brief.project_id)
    board = Storyboard.model_validate(load_materialized(instance, store, "storyboard", "film-prompts").data)

    # The offline storyboard follows the brief: its places, its times of day and their light.
    places = [board.location(scene.location).name for scene in board.scenes]
    assert places == ["Lighthouse stairwell", "Lighthouse door", "Lighthouse lamp room", "Headland and open sea"]
    assert [scene.time_of_day for scene in board.scenes] == ["dusk", "dusk", "midnight", "dawn"]
    assert board.scenes[2].lighting.key_light == "the great lamp"
    assert "dawn sun" in board.scenes[3].lighting.key_light
    assert [c.description.split(", the ")[1] for c in board.characters] == ["lighthouse keeper", "stray dog"]

    prompts = []
    for scene in board.scenes:
        clip = load_materialized(instance, store, "scene_clip", f"film-prompts|{scene.key}")
        prompt = clip.data["prompt"]
        prompts.append(prompt)
        for character_id in scene.characters:
            character = board.character(character_id)
            for trait in (character.age, character.build, character.face, character.hair, character.wardrobe):
                assert trait in prompt, (scene.number, trait)
        location = board.location(scene.location)
        assert f"Setting: {location.name}, {scene.time_of_day}, {scene.weather}" in prompt
        assert f"Key light: {scene.lighting.key_light}." in prompt
        assert f"Camera: {scene.shot_type}, {scene.camera_angle}, {scene.camera_movement}." in prompt
        assert f"Composition: {scene.composition}." in prompt
        earlier = [c for s in board.scenes[: scene.number - 1] for c in s.changes if _present(board, scene.number, c)]
        assert (STATE_HEADING in prompt) == bool(earlier)
        for change in earlier:
            assert f", {change.aspect}: {change.value} (since scene" in prompt, (scene.number, change)
        keyframes = load_materialized(instance, store, "scene_keyframes", f"film-prompts|{scene.key}")
        for rule in keyframes.data["continuity_in"]["rules"]:
            assert rule["text"] in prompt
            assert all(rule["text"] in text for text in keyframes.data["prompts"].values())
        # Every prompt sent is stored and shown.
        shown = latest_metadata(instance, "scene_clip", f"film-prompts|{scene.key}")
        assert shown["prompt"] == prompt
        assert latest_metadata(instance, "scene_keyframes", f"film-prompts|{scene.key}")["prompts"] == keyframes.data["prompts"]

    # Scene 2 changes the dog (soaked); scene 3 changes both (grease) and the lamp room (smoke).
    assert any(c.aspect == "wet" for c in board.scenes[1].changes)
    assert "soaked through and dripping (since scene 2)" in prompts[2] and "soaked through and dripping (since scene 2)" in prompts[3]
    # The rule scene 2's judge suggested is in force from scene 3 on, with where it came from.
    assert LOCAL_RULE_SUGGESTION not in prompts[0] and LOCAL_RULE_SUGGESTION not in prompts[1]
    assert LOCAL_RULE_SUGGESTION in prompts[2] and LOCAL_RULE_SUGGESTION in prompts[3]
    rules_shown = latest_metadata(instance, "scene_keyframes", "film-prompts|003")["rules_in_force"]
    assert f"{LOCAL_RULE_SUGGESTION} [judge, scene 2 attempt 1]" in rules_shown
    shown = latest_metadata(instance, "storyboard", "film-prompts")
    assert shown["rule_count"] == len(board.rules) >= 5 and shown["cuts"] == [1, 2, 3, 4]
    assert board.metadata.logline in shown["vision"] and board.characters[0].face in shown["vision"]


def test_a_cut_opens_on_a_new_frame_and_continuous_scenes_carry_on(vidpipe_env, instance, tmp_path: Path):
    defs = build_defs()
    store = defs.resources["blob_store"].open()
    hints = [
        "Night in the lamp room: the keeper trims the wick",
        "The keeper polishes the great lens",
        "Dawn on the headland: a small boat rounds the point",
        "The boat noses into calm water below the cliff",
    ]
    brief = submit_brief(instance, store, sample_brief(project_id="film-cuts", scene_hints=hints))
    run_project(defs, instance, store, brief.project_id)
    board = Storyboard.model_validate(load_materialized(instance, store, "storyboard", "film-cuts").data)
    assert [scene.transition_in for scene in board.scenes] == ["cut", "continuous", "cut", "continuous"]

    clips = {}
    for scene in board.scenes:
        clip = load_materialized(instance, store, "scene_clip", f"film-cuts|{scene.key}")
        clips[scene.number] = (clip, store.get_file(clip.objects["clip.mp4"].key, tmp_path / f"{scene.key}.mp4"))
    # Scene 3 opens on a newly drawn frame, and its pixel continuity is not measured.
    assert ssim(last_frame(clips[2][1]), first_frame(clips[3][1])) < 0.9
    assert clips[3][0].facts["quality"]["continuity_ssim"] is None
    keyframes = load_materialized(instance, store, "scene_keyframes", "film-cuts|003")
    assert keyframes.data["opening"] == "cut" and "last frame of scene 2" in keyframes.data["prompts"]["start"]
    # The continuous scenes go on from the previous clip's last frame.
    for number in (2, 4):
        assert clips[number][0].facts["quality"]["continuity_ssim"] >= 0.9
        assert ssim(last_frame(clips[number - 1][1]), first_frame(clips[number][1])) >= 0.9
        assert "start" not in load_materialized(instance, store, "scene_keyframes", f"film-cuts|00{number}").data["prompts"]

    # Regenerating the keyframes of a cut scene draws its start keyframe again.
    redo = defs.resolve_job_def("scene").execute_in_process(
        instance=instance, partition_key="film-cuts|003", asset_selection=[AssetKey("scene_keyframes")],
        run_config={"ops": {"scene_keyframes": {"config": {"regenerate": "both"}}}},
    )
    assert redo.success
    again = load_materialized(instance, store, "scene_keyframes", "film-cuts|003")
    assert again.attempt == keyframes.attempt + 1 and "start" in again.data["prompts"]


def test_a_prompt_change_given_once_reaches_both_keyframes_and_the_clip(vidpipe_env, instance):
    defs = build_defs()
    store = defs.resources["blob_store"].open()
    brief = submit_brief(instance, store, sample_brief(project_id="film-amend", scene_count=1, scene_hints=["Dusk: the keeper climbs the spiral stairs"]))
    execute_partition(defs, instance, "project_setup", brief.project_id, brief.project_id)
    amend = "a moth circles the oil lamp"
    result = defs.resolve_job_def("scene").execute_in_process(
        instance=instance, partition_key="film-amend|001",
        run_config={"ops": {"scene_clip": {"config": {"prompt_override": amend}}}},  # set once, in the launchpad
    )
    assert result.success
    keyframes = load_materialized(instance, store, "scene_keyframes", "film-amend|001")
    clip = load_materialized(instance, store, "scene_clip", "film-amend|001")
    for prompt in [*keyframes.data["prompts"].values(), clip.data["prompt"]]:
        assert f"Action: Dusk: the keeper climbs the spiral stairs {amend}." in prompt
