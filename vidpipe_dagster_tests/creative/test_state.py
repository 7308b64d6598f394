import pytest

from vidpipe_dagster.creative.state import fold, lines_for, opening_record
from vidpipe_dagster.domain import Character, Location, Scene, StateChange, Storyboard, StoryboardMetadata


def board(scenes: int = 3) -> Storyboard:
    return Storyboard(
        metadata=StoryboardMetadata(title="T", logline="L", style="s"),
        characters=[Character(id="ada", name="Ada"), Character(id="bram", name="Bram")],
        locations=[Location(id="pier", name="Pier")],
        scenes=[
            Scene(number=n, duration_s=4, description="d", shot_type="wide", camera_angle="eye level",
                  camera_movement="static", lighting="dusk", characters=["ada", "bram"], location="pier")
            for n in range(1, scenes + 1)
        ],
    )


def test_changes_fold_forward_on_their_own_subject_only():
    film = board()
    after_1 = fold(opening_record(film), film.scenes[0], [StateChange(subject="ada", aspect="wet", value="soaked")])
    after_2 = fold(after_1, film.scenes[1], [StateChange(subject="pier", aspect="debris", value="broken crates")])
    assert [(line.subject, line.value, line.since_scene) for line in after_2.state] == [("ada", "soaked", 1), ("pier", "broken crates", 2)]
    assert lines_for(after_2.state, "bram") == []  # Bram was in the scene but nothing happened to him
    dried = fold(after_2, film.scenes[2], [StateChange(subject="ada", aspect="Wet", value="damp, drying")])
    assert [(line.value, line.since_scene) for line in lines_for(dried.state, "ada")] == [("damp, drying", 3)]


def test_a_record_folds_only_onto_a_later_scene_and_a_skipped_one_leaves_none():
    film = board()
    after_1 = fold(opening_record(film), film.scenes[0], [StateChange(subject="ada", aspect="Wet", value="soaked")])
    with pytest.raises(ValueError, match="scene 1 must fold a record from before it, got the one after scene 1"):
        fold(after_1, film.scenes[0], [])
    # Scene 2 skipped: scene 3 carries on from scene 1's record.
    after_3 = fold(after_1, film.scenes[2], [])
    assert after_3.after_scene == 3 and [(line.value, line.since_scene) for line in lines_for(after_3.state, "ada")] == [("soaked", 1)]


def test_the_storyboard_refuses_a_change_on_someone_absent():
    film = board(1)
    data = film.model_dump()
    data["scenes"][0]["characters"] = ["ada"]
    data["scenes"][0]["changes"] = [{"subject": "bram", "aspect": "wet", "value": "soaked"}]
    with pytest.raises(ValueError, match=r"changes name \['bram'\]"):
        Storyboard.model_validate(data)
