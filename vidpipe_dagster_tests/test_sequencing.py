from dataclasses import replace

from vidpipe_dagster.sequencing import NextStep, ProjectProgress, next_step, previous_kept_scene

KEYS = ["001", "002", "003"]


def progress(**changes) -> ProjectProgress:
    # Storage ids in the order a clean run makes them: storyboard 1, references 2, then per scene
    # keyframes and clip, then the cut.
    base = dict(scene_keys=KEYS, storyboard=1, references=2, keyframes={"001": 3, "002": 5, "003": 7}, clips={"001": 4, "002": 6, "003": 8}, final=9)
    return ProjectProgress(**{**base, **changes})


def test_a_new_project_starts_with_its_first_scene():
    assert next_step(progress(keyframes={}, clips={}, final=None)) == NextStep("scene", "001", "has no clip yet", 2)


def test_scenes_go_in_storyboard_order():
    step = next_step(progress(keyframes={"001": 3}, clips={"001": 4}, final=None))
    assert (step.kind, step.scene) == ("scene", "002")


def test_the_cut_comes_when_every_scene_has_a_clip_and_then_nothing():
    assert next_step(progress(final=None)).kind == "final_cut"
    assert next_step(progress()) is None


def test_regenerating_a_scene_regenerates_the_later_ones_in_turn_then_recuts():
    regenerated = progress(keyframes={"001": 3, "002": 10, "003": 7}, clips={"001": 4, "002": 11, "003": 8})
    assert next_step(regenerated) == NextStep("scene", "003", "the previous scene was regenerated", 11)
    cascaded = progress(keyframes={"001": 3, "002": 10, "003": 12}, clips={"001": 4, "002": 11, "003": 13})
    assert next_step(cascaded).kind == "final_cut"


def test_without_the_cascade_policy_only_the_cut_is_redone():
    regenerated = progress(keyframes={"001": 3, "002": 10, "003": 7}, clips={"001": 4, "002": 11, "003": 8}, regenerate_later_scenes=False)
    assert next_step(regenerated).kind == "final_cut"


def test_a_regenerated_keyframe_gets_a_new_clip_without_redrawing_it():
    assert next_step(progress(keyframes={"001": 3, "002": 10, "003": 7})) == NextStep("clip", "002", "its keyframes were regenerated", 10)


def test_a_new_storyboard_makes_every_scene_stale():
    assert next_step(progress(storyboard=20)).scene == "001"


def test_phantom_scenes_beyond_the_storyboard_never_block():
    step = next_step(progress(keyframes={"001": 3, "002": 5, "003": 7, "004": 1}, clips={"001": 4, "002": 6, "003": 8}))
    assert step is None


def test_a_preview_comes_after_each_accepted_scene_before_the_next():
    after_one = progress(keyframes={"001": 3}, clips={"001": 4}, final=None, wants_preview=True)
    assert next_step(after_one) == NextStep("preview", None, "a scene was accepted since the last preview", 4)
    assert (next_step(replace(after_one, preview=5)).kind, next_step(replace(after_one, preview=5)).scene) == ("scene", "002")
    assert next_step(progress(final=None, wants_preview=True, preview=5)).kind == "final_cut"  # the cut supersedes a preview
    assert next_step(progress(keyframes={}, clips={}, final=None, wants_preview=True)).kind == "scene"


def test_a_skipped_scene_is_passed_over_and_the_cut_comes_without_it():
    skipping = progress(keyframes={"001": 3}, clips={"001": 4}, final=None, skipped=frozenset({"002"}))
    assert next_step(skipping) == NextStep("scene", "003", "has no clip yet", 4)
    assert next_step(progress(keyframes={"001": 3, "003": 5}, clips={"001": 4, "003": 6}, final=None, skipped=frozenset({"002"}))).kind == "final_cut"
    assert next_step(progress(skipped=frozenset(KEYS), final=None)) is None


def test_a_scene_opens_on_the_last_kept_scene_before_it():
    assert previous_kept_scene(3, {"002"}) == "001"
    assert previous_kept_scene(3, set()) == "002"
    assert previous_kept_scene(2, {"001"}) is None
    assert previous_kept_scene(1, set()) is None
