"""Audio tracks: their length, where their phrases start, and the compact copy sent to a model."""

from __future__ import annotations

import io
import wave
from pathlib import Path

import numpy as np
import pytest

from vidpipe_dagster.media.audio import (
    audio_duration,
    band_levels,
    choose_boundaries,
    novelty,
    phrase_boundaries,
    wav_bytes,
)
from vidpipe_dagster.media.ffmpeg import MediaError
from vidpipe_dagster_tests.audio_tracks import write_sections

# Three sections that change pitch and level at 6 s and 14 s; 19.2 s in all.
SECTIONS = [(6.0, 220, 0.3), (8.0, 440, 0.6), (5.2, 110, 0.15)]


@pytest.fixture(scope="module")
def track(tmp_path_factory) -> Path:
    return write_sections(tmp_path_factory.mktemp("audio") / "track.wav", SECTIONS)


def test_duration_is_the_length_of_the_track(track: Path) -> None:
    assert audio_duration(track) == pytest.approx(19.2, abs=0.001)


def test_a_file_without_sound_is_refused_by_name(tmp_path: Path) -> None:
    notes = tmp_path / "notes.wav"
    notes.write_text("not audio at all")
    with pytest.raises(MediaError, match="notes.wav"):
        audio_duration(notes)


def test_phrases_start_where_the_music_changes(track: Path) -> None:
    boundaries = phrase_boundaries(track)
    assert boundaries == pytest.approx([6.0, 14.0], abs=0.25)
    assert phrase_boundaries(track) == boundaries  # the same file is always cut the same way


def test_beats_within_a_steady_section_are_no_phrase_starts(tmp_path: Path) -> None:
    steady = write_sections(tmp_path / "steady.wav", [(16.0, 330, 0.4)])
    assert phrase_boundaries(steady) == []


def test_a_loudness_change_in_one_band_is_heard_where_it_happens() -> None:
    rate = 8000
    t = np.arange(rate * 4) / rate
    samples = np.sin(2 * np.pi * 1000 * t) * np.where(t < 2.5, 0.05, 0.5)
    levels = band_levels(samples, rate)
    # 1 kHz lies in the 600-1200 Hz band; the other bands hold silence.
    assert levels[:, 3] == pytest.approx(np.where(np.arange(80) < 50, -30.2, -10.2), abs=0.5)
    assert (levels[:, [0, 1, 2, 4, 5]] == -70).all()
    change = novelty(levels, context=20)
    assert change.argmax() == 50  # 2.5 s: the boundary before frame 50
    assert change.max() == pytest.approx(20 / np.sqrt(6), abs=0.2)  # 20 dB in one band of six


def test_a_weak_change_gives_way_to_a_strong_one_beside_it() -> None:
    times = np.array([4.8, 6.4, 9.0, 12.1, 17.5])
    strength = np.array([4.0, 9.0, 2.0, 5.0, 8.0])
    # 4.8 would be cut at 4 s, too close to the stronger 6.4 (cut at 6 s); 9.0 is too weak; 17.5
    # would leave less than a shortest scene before the picture ends at 20 s.
    assert choose_boundaries(times, strength, duration_s=19.2, min_change_db=3.0) == [6.4, 12.1]


def test_the_copy_for_a_model_is_mono_16_bit_at_the_asked_rate(track: Path) -> None:
    with wave.open(io.BytesIO(wav_bytes(track, 16_000))) as copy:
        assert (copy.getnchannels(), copy.getsampwidth(), copy.getframerate()) == (1, 2, 16_000)
        assert copy.getnframes() / 16_000 == pytest.approx(19.2, abs=0.01)
