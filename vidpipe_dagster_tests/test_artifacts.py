from pathlib import Path

import pytest

from vidpipe_dagster.artifacts import PendingArtifact, manifest_key, object_key, split_partition


def test_every_object_key_carries_its_attempt():
    assert object_key("scene_clip", "film|002", 3, "clip.mp4") == "projects/film/scenes/002/clip/attempt-003.mp4"
    assert object_key("scene_keyframes", "film|002", 1, "end.png") == "projects/film/scenes/002/keyframes/attempt-001-end.png"
    assert object_key("final_video", "film", 12, "final.mp4") == "projects/film/final/attempt-012.mp4"
    assert object_key("final_video", "film", 1, "contact_sheet.png") == "projects/film/final/attempt-001-contact_sheet.png"
    assert manifest_key("storyboard", "film", 2) == "projects/film/storyboard/attempt-002.json"


def test_partition_keys_split_into_project_and_scene():
    assert split_partition("film|004") == ("film", "004")
    assert split_partition("film") == ("film", None)


def test_files_outside_the_step_workspace_are_refused(tmp_path: Path):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    PendingArtifact(files={"clip.mp4": workspace / "clip.mp4"}, workspace=workspace)
    with pytest.raises(ValueError, match="inside the step's workspace"):
        PendingArtifact(files={"clip.mp4": Path("/tmp/scene_1.mp4")}, workspace=workspace)
    with pytest.raises(ValueError, match="inside the step's workspace"):
        PendingArtifact(files={"clip.mp4": workspace / "clip.mp4"})
