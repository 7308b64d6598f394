import pytest

from vidpipe_dagster.domain import (
    InvalidBrief,
    InvalidInput,
    Scene,
    Storyboard,
    parse_brief,
    scene_key,
    scene_number,
    validate_project_id,
)


def test_a_minimal_brief_gets_safe_defaults():
    brief = parse_brief('{"project_id": "my-film", "prompt": "a fox in the snow"}')
    assert (brief.scene_count, brief.aspect_ratio, brief.quality, brief.resolution, brief.audio) == (4, "16:9", None, None, None)


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ('{"project_id": "My Film", "prompt": "x"}', "brief.project_id"),
        ('{"project_id": "ok-id", "prompt": "   "}', "brief.prompt"),
        ('{"project_id": "ok-id", "prompt": "x", "scene_count": 0}', "brief.scene_count"),
        ('{"project_id": "ok-id", "prompt": "x", "aspect_ratio": "4:3"}', "brief.aspect_ratio"),
        ('{"project_id": "ok-id", "prompt": "x", "colour": "red"}', "brief.colour"),
        ('{"project_id": "ok-id"}', "brief.prompt"),
        ('{"project_id": "ok-id", "prompt": "x", "scene_count": 1, "scene_hints": ["a", "b"]}', "scene_hints"),
        ('{"project_id": "ok-id", "prompt": "x", "quality": {"accept": 1.2}}', "brief.quality.accept"),
        ('{"project_id": "ok-id", "prompt": "x", "quality": {"pass": -0.1}}', "brief.quality.pass"),
        ('{"project_id": "ok-id", "prompt": "x", "quality": {"max_attempts": 0}}', "brief.quality.max_attempts"),
        ('{"project_id": "ok-id", "prompt": "x", "quality": {"acept": 0.5}}', "brief.quality.acept"),
        ('{"project_id": "ok-id", "prompt": "x", "resolution": "4k"}', "brief.resolution"),
    ],
)
def test_a_malformed_brief_is_refused_naming_the_field(raw, named):
    with pytest.raises(InvalidBrief, match=named):
        parse_brief(raw)


def test_a_brief_that_is_not_json_says_so():
    with pytest.raises(InvalidBrief, match="not valid JSON"):
        parse_brief("{project_id: oops")
    with pytest.raises(InvalidBrief, match="must be a JSON object"):
        parse_brief("[1, 2]")


@pytest.mark.parametrize("bad", ["", "a", "-lead", "UPPER", "has space", "../etc", "x" * 64, "a/b"])
def test_project_ids_that_are_not_slugs_never_reach_a_key(bad):
    with pytest.raises(InvalidInput, match="not a slug"):
        validate_project_id(bad)


def test_scene_keys_round_trip_and_refuse_nonsense():
    assert scene_key(7) == "007" and scene_number("007") == 7
    for bad in ("7", "000", "abc", "0001"):
        with pytest.raises(InvalidInput):
            scene_number(bad)


def _scene(number: int, **changes) -> dict:
    return {
        "number": number, "duration_s": 4, "description": "d", "shot_type": "wide", "camera_angle": "eye",
        "camera_movement": "static", "lighting": "soft", "characters": ["ada"], "location": "harbor", **changes,
    }


def _storyboard(scenes: list[dict]) -> dict:
    return {
        "metadata": {"title": "T", "logline": "L", "style": "S"},
        "characters": [{"id": "ada", "name": "Ada", "description": "d"}],
        "locations": [{"id": "harbor", "name": "Harbor", "description": "d"}],
        "scenes": scenes,
    }


def test_storyboard_refuses_gaps_unknown_cast_and_odd_durations():
    with pytest.raises(ValueError, match="numbered 1..2"):
        Storyboard.model_validate(_storyboard([_scene(1), _scene(3)]))
    with pytest.raises(ValueError, match="unknown characters"):
        Storyboard.model_validate(_storyboard([_scene(1, characters=["zed"])]))
    with pytest.raises(ValueError, match="unknown location"):
        Storyboard.model_validate(_storyboard([_scene(1, location="moon")]))
    with pytest.raises(ValueError):
        Scene.model_validate(_scene(1, duration_s=5))


def test_storyboard_knows_its_scenes_and_refuses_phantoms():
    board = Storyboard.model_validate(_storyboard([_scene(1), _scene(2, duration_s=8)]))
    assert board.scene_keys == ["001", "002"] and board.total_duration_s == 12
    assert board.scene("002").duration_s == 8
    with pytest.raises(InvalidInput, match="has 2 scenes"):
        board.scene("003")
