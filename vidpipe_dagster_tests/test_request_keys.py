"""Request keys: equal requests get equal keys, whatever paths their files have; any change to
what would be sent changes the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from vidpipe_dagster.domain import Scene
from vidpipe_dagster.request_keys import canonical, request_key

SCENE = Scene(number=1, duration_s=6, description="a kite", shot_type="wide", camera_angle="low", camera_movement="static", lighting="dusk", location="dunes")


def key(frame: Path, **changes) -> str:
    arguments = {"prompt": "a kite lifts off", "scene": SCENE, "start_frame": frame, "size": (640, 360), "seed": 7, **changes}
    return request_key(model="veo-3.1-generate-001", method="clip", settings={"generate_audio": False}, arguments=arguments)


def test_equal_requests_have_equal_keys_wherever_their_files_are(tmp_path):
    first, second = tmp_path / "a.png", tmp_path / "elsewhere.png"
    first.write_bytes(b"frame")
    second.write_bytes(b"frame")
    assert key(first) == key(second) == key(first, size=[640, 360])


@pytest.mark.parametrize(
    "change", [{"prompt": "a kite falls"}, {"seed": 8}, {"size": (360, 640)}, {"scene": SCENE.model_copy(update={"duration_s": 8})}]
)
def test_any_change_to_the_request_changes_the_key(tmp_path, change):
    frame = tmp_path / "a.png"
    frame.write_bytes(b"frame")
    assert key(frame, **change) != key(frame)


def test_a_changed_input_file_or_model_setting_changes_the_key(tmp_path):
    frame = tmp_path / "a.png"
    frame.write_bytes(b"frame")
    before = key(frame)
    frame.write_bytes(b"another frame")
    assert key(frame) != before
    assert request_key(model="veo-3.1-generate-001", method="clip", settings={"generate_audio": True}, arguments={}) != request_key(
        model="veo-3.1-generate-001", method="clip", settings={"generate_audio": False}, arguments={}
    )


def test_an_argument_that_cannot_be_described_is_refused():
    with pytest.raises(TypeError, match="object argument"):
        canonical(object())
