"""Conforming a model's clip for a stream-copy stitch: only what differs is redone, and the cut
that keeps the model's sound under a music track hears both."""

from __future__ import annotations

import hashlib
from pathlib import Path

import av
import numpy as np
import pytest

from vidpipe_dagster.media.conform import StitchFormat, conform_clip
from vidpipe_dagster.media.ffmpeg import mux_audio, run_ffmpeg, stitch
from vidpipe_dagster.media.probe import probe


def make_clip(path: Path, *, size: str = "640x360", rate: int = 24, seconds: float = 2, sound: str | None = "aac") -> Path:
    args = ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}:duration={seconds}"]
    if sound:
        args += ["-f", "lavfi", "-i", f"sine=frequency=330:sample_rate=48000:duration={seconds}", "-map", "0:v", "-map", "1:a"]
        args += ["-c:a", sound, "-ac", "2", "-ar", "48000"]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-shortest", str(path)]
    run_ffmpeg(args, "making a test clip")
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_conforming_clip_is_stored_byte_for_byte(tmp_path):
    raw = make_clip(tmp_path / "raw.mp4")
    changed = conform_clip(raw, tmp_path / "out.mp4", StitchFormat(size=(640, 360), fps=24, audio=True), duration_s=4)
    assert changed == [] and sha256(tmp_path / "out.mp4") == sha256(raw)


@pytest.mark.parametrize(
    ("clip", "target", "expected"),
    [
        (dict(size="320x176"), StitchFormat((640, 360), 24, True), "size 320x176"),
        (dict(rate=30), StitchFormat((640, 360), 24, True), "30 fps"),
        (dict(sound=None), StitchFormat((640, 360), 24, True), "no sound"),
        (dict(sound="libopus"), StitchFormat((640, 360), 24, True), "sound opus"),
        (dict(), StitchFormat((640, 360), 24, False), "sound the cut does not use"),
    ],
)
def test_what_differs_is_redone_into_the_projects_format(tmp_path, clip, target, expected):
    raw = make_clip(tmp_path / "raw.mp4", **clip) if clip.get("sound") != "libopus" else make_clip(tmp_path / "raw.mkv", **clip)
    out = tmp_path / "out.mp4"
    changed = conform_clip(raw, out, target, duration_s=4)
    assert any(expected in change for change in changed), changed
    facts = probe(out)
    assert (facts.width, facts.height, round(facts.fps), facts.video_codec, facts.pixel_format) == (640, 360, 24, "h264", "yuv420p")
    if target.audio:
        assert (facts.audio_codec, facts.audio_channels, facts.audio_sample_rate) == ("aac", 2, 48000)
    else:
        assert not facts.has_audio


def test_conformed_clips_stitch_by_stream_copy_with_their_sound(tmp_path):
    target = StitchFormat((640, 360), 24, True)
    clips = []
    for index, clip in enumerate([dict(), dict(sound=None), dict(size="320x176")]):
        out = tmp_path / f"clip-{index}.mp4"
        conform_clip(make_clip(tmp_path / f"raw-{index}.mp4", **clip), out, target, duration_s=4)
        clips.append(out)
    stitch(clips, tmp_path / "cut.mp4", workdir=tmp_path)
    facts = probe(tmp_path / "cut.mp4")
    assert facts.has_audio and facts.duration_s == pytest.approx(6.0, abs=0.1)


def loudness(path: Path) -> float:
    with av.open(str(path)) as container:
        samples = np.concatenate([frame.to_ndarray().ravel() for frame in container.decode(audio=0)])
    return float(np.sqrt(np.mean(np.square(samples.astype(np.float64)))))


def test_keep_model_audio_mixes_the_models_sound_under_the_track(tmp_path):
    video = make_clip(tmp_path / "video.mp4", seconds=2)
    track = tmp_path / "track.wav"
    run_ffmpeg(["-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo", "-t", "3", str(track)], "a silent track")
    mux_audio(video, track, tmp_path / "dropped.mp4")
    mux_audio(video, track, tmp_path / "kept.mp4", keep_video_audio=True)
    assert loudness(tmp_path / "dropped.mp4") < 1e-4  # the track wins: only its silence is heard
    assert loudness(tmp_path / "kept.mp4") > 0.01  # the model's tone, under the (silent) track
