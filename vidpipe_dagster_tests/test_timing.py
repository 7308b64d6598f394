import itertools

import pytest

from vidpipe_dagster.domain import InvalidInput
from vidpipe_dagster.timing import default_durations, durations_for_audio, frame_size, snap_duration


@pytest.mark.parametrize(("seconds", "snapped"), [(0.5, 4), (4.9, 4), (5, 6), (6.2, 6), (7, 8), (30, 8)])
def test_scene_lengths_snap_to_4_6_or_8_seconds(seconds, snapped):
    assert snap_duration(seconds) == snapped


def test_default_rhythm_is_deterministic_and_only_uses_allowed_lengths():
    assert default_durations(6, seed=3) == default_durations(6, seed=3)
    assert set(default_durations(20, seed=0)) <= {4, 6, 8}
    assert len(default_durations(5, seed=1)) == 5


def test_audio_timing_follows_phrase_boundaries_and_covers_the_track():
    durations = durations_for_audio(20.0, boundaries=[4.1, 10.0, 16.2])
    assert durations == [4, 6, 6, 4]
    assert abs(sum(durations) - 20.0) <= 2


def test_audio_without_boundaries_is_cut_into_even_phrases():
    assert durations_for_audio(24.0) == [6, 6, 6, 6]


@pytest.mark.parametrize(
    ("seconds", "boundaries"), [(19.2, [6.0, 14.0]), (20.0, []), (3.0, []), (9.9, [9.0]), (61.3, [7.9, 15.2, 33.0])]
)
def test_audio_scenes_cover_the_track_and_run_past_it_by_under_2_s(seconds, boundaries):
    durations = durations_for_audio(seconds, boundaries)
    assert set(durations) <= {4, 6, 8}
    assert seconds <= sum(durations) < seconds + 2


def test_cuts_fall_on_the_even_second_nearest_each_phrase_start():
    durations = durations_for_audio(30.0, boundaries=[5.2, 12.9, 21.0])
    assert {6, 12, 22} <= set(itertools.accumulate(durations))


def test_a_phrase_start_too_near_the_last_cut_or_the_end_gets_no_cut():
    # 1.0 is too near the start, 6.1 too near the cut for 5.2, 18.0 too near the end at 20 s.
    assert durations_for_audio(19.2, boundaries=[1.0, 5.2, 6.1, 18.0]) == [6, 8, 6]


def test_a_track_too_long_for_one_project_is_refused():
    with pytest.raises(InvalidInput, match="needs 150 scenes; a project has at most 99"):
        durations_for_audio(900.0)


def test_an_empty_audio_track_is_refused():
    with pytest.raises(ValueError, match="longer than 0 s"):
        durations_for_audio(0)


@pytest.mark.parametrize(("ratio", "size"), [("16:9", (640, 360)), ("9:16", (360, 640))])
def test_frame_sizes_are_even_for_h264(ratio, size):
    assert frame_size(ratio) == size
