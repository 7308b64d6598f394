"""A brief with an audio track: scenes timed by the track's phrases, and a final cut that plays it."""

from __future__ import annotations

import pytest

from vidpipe_dagster.artifacts import load_materialized
from vidpipe_dagster.definitions import build_defs
from vidpipe_dagster.in_process import run_project
from vidpipe_dagster.intake import submit_brief
from vidpipe_dagster.media.probe import probe
from vidpipe_dagster_tests.audio_tracks import write_sections


def test_an_audio_brief_is_cut_to_its_track_and_plays_it(vidpipe_env, instance, tmp_path):
    folder = tmp_path / "brief"
    folder.mkdir()
    # Sections change at 6 s and 14 s; the track is 19.2 s long.
    write_sections(folder / "track.wav", [(6.0, 220, 0.3), (8.0, 440, 0.6), (5.2, 110, 0.15)])
    defs = build_defs()
    store = defs.resources["blob_store"].open()
    brief = {"project_id": "song-cut", "prompt": "a kite over the dunes", "scene_count": 2, "audio": "track.wav"}
    submit_brief(instance, store, brief, base_dir=folder)

    final = run_project(defs, instance, store, "song-cut")

    board = load_materialized(instance, store, "storyboard", "song-cut")
    # The track, not scene_count, decides the scenes: cuts at its section changes, 20 s in all.
    assert board.facts["audio_duration_s"] == pytest.approx(19.2, abs=0.001)
    assert board.facts["phrase_boundaries_s"] == pytest.approx([6.0, 14.0], abs=0.25)
    assert [scene["duration_s"] for scene in board.data["scenes"]] == [6, 8, 6]
    # Each scene takes the music under it: the loud middle section is the high-intensity one.
    music = [scene["music"] for scene in board.data["scenes"]]
    assert [cue["section"] for cue in music] == ["intro", "section 2", "outro"]
    assert [cue["intensity"] for cue in music] == ["medium", "high", "low"]
    clip = load_materialized(instance, store, "scene_clip", "song-cut|002")
    assert "Music: section 2, driving, high intensity" in clip.data["prompt"]
    assert board.facts["audio_model"]["model"] == "local-audio-segmentation"
    # The picture runs 0.8 s past the music, and the cut ends with the music.
    cut = probe(store.get_file(final.objects["final.mp4"].key, tmp_path / "final.mp4"))
    assert (cut.has_audio, cut.audio_codec) == (True, "aac")
    assert cut.duration_s == pytest.approx(19.2, abs=0.3)
    assert final.facts["expected_duration_s"] == pytest.approx(19.2, abs=0.001)
    assert not any((tmp_path / "workspaces").iterdir())  # the downloaded track went with its step
