from vidpipe_dagster.domain import Brief, Storyboard
from vidpipe_dagster.prompts import clip_prompt, keyframe_prompt, storyboard_prompt
from vidpipe_dagster_tests.test_domain import _scene, _storyboard


def test_storyboard_prompt_carries_the_brief_durations_and_hints():
    brief = Brief(project_id="p1", prompt="A fox in the snow", scene_count=2, scene_hints=["the fox wakes"], style="ink")
    prompt = storyboard_prompt(brief, [4, 8])
    assert "A fox in the snow" in prompt and "4, 8" in prompt and "Scene 1: the fox wakes" in prompt and "ink" in prompt


def test_keyframe_prompt_names_the_moment_cast_and_place():
    board = Storyboard.model_validate(_storyboard([_scene(1, description="Ada looks out to sea")]))
    prompt = keyframe_prompt(board.scenes[0], board, "end")
    assert prompt.startswith("The end frame of scene 1") and "Ada" in prompt and "Harbor" in prompt


def test_clip_prompt_takes_an_override_and_appends_the_judges_correction():
    board = Storyboard.model_validate(_storyboard([_scene(1, description="storyboard text")]))
    scene = board.scenes[0]
    assert "storyboard text" in clip_prompt(scene, board)
    overridden = clip_prompt(scene, board, override="a user's own words", correction="keep the camera moving")
    assert "storyboard text" not in overridden
    assert "a user's own words" in overridden and overridden.endswith("Correction: keep the camera moving")
