"""Real renders with ffmpeg, checked by decoding them with PyAV the way a viewer would see them."""

from __future__ import annotations

import re
import wave
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from vidpipe_dagster.media.draw import draw_keyframe
from vidpipe_dagster.media.ffmpeg import MediaError, mux_audio, render_clip, render_clip_args, run_command, run_ffmpeg, stitch
from vidpipe_dagster.media.frames import (
    extract_last_frame,
    first_frame,
    decode_clip,
    frame_stats,
    last_frame,
    ssim,
)
from vidpipe_dagster.media.probe import probe

SMALL = (320, 180)


def keyframe(directory: Path, name: str, layout_seed: int, size: tuple[int, int] = SMALL) -> Path:
    return draw_keyframe(
        caption=f"scene {name}: the keeper climbs the stairs",
        palette_seed=7,
        layout_seed=layout_seed,
        references=[],
        size=size,
        out=directory / f"{name}.png",
    )


@pytest.fixture(scope="module")
def keyframes(tmp_path_factory) -> list[Path]:
    directory = tmp_path_factory.mktemp("keyframes")
    return [keyframe(directory, f"key{index}", layout_seed=index) for index in range(4)]


@pytest.fixture(scope="module")
def clip(tmp_path_factory, keyframes: list[Path]) -> Path:
    out = tmp_path_factory.mktemp("clip") / "clip.mp4"
    render_clip(keyframes[0], keyframes[1], out, duration_s=2, size=SMALL)
    return out


@pytest.mark.parametrize("size", [SMALL, (180, 320), (1280, 720)], ids=["16x9", "9x16", "720p"])
def test_clip_runs_from_start_keyframe_to_end_keyframe(tmp_path: Path, size) -> None:
    start, end = keyframe(tmp_path, "start", 1, size), keyframe(tmp_path, "end", 2, size)
    out = tmp_path / "clip.mp4"
    render_clip(start, end, out, duration_s=2, fps=24, size=size)

    facts = probe(out)
    assert (facts.frame_count, facts.fps, facts.width, facts.height) == (48, 24.0, *size)
    assert facts.duration_s == pytest.approx(2.0, abs=0.05)
    assert (facts.video_codec, facts.pixel_format, facts.has_audio) == ("h264", "yuv420p", False)
    start_image, end_image = Image.open(start), Image.open(end)
    assert ssim(start_image, end_image) < 0.8
    assert ssim(start_image, first_frame(out)) >= 0.95
    assert ssim(end_image, last_frame(out)) >= 0.95


def test_clip_moves_on_every_frame_and_is_not_dark(clip: Path) -> None:
    stats = frame_stats(decode_clip(clip))
    assert stats.frames == 48
    assert stats.black_frame_ratio == 0.0
    assert stats.frozen_frame_ratio < 0.05
    assert stats.mean_luma > 40


def test_a_long_clip_still_reads_as_moving(tmp_path: Path, keyframes: list[Path]) -> None:
    out = tmp_path / "long.mp4"
    render_clip(keyframes[1], keyframes[2], out, duration_s=8, size=SMALL)
    stats = frame_stats(decode_clip(out))
    assert stats.frames == 192
    assert stats.frozen_frame_ratio < 0.1


def test_black_still_clip_is_all_black_and_frozen(tmp_path: Path) -> None:
    black = tmp_path / "black.png"
    Image.new("RGB", SMALL).save(black)
    out = tmp_path / "black.mp4"
    render_clip(black, black, out, duration_s=1, size=SMALL)
    stats = frame_stats(decode_clip(out))
    assert stats.frames == 24
    assert stats.black_frame_ratio == 1.0
    assert stats.frozen_frame_ratio == pytest.approx(1.0)
    assert stats.mean_luma < 2


def test_render_never_replaces_an_existing_file(tmp_path: Path, keyframes: list[Path]) -> None:
    out = tmp_path / "clip.mp4"
    out.write_bytes(b"an earlier attempt")
    with pytest.raises(MediaError, match="already exists"):
        render_clip(keyframes[0], keyframes[1], out, duration_s=1, size=SMALL)
    assert out.read_bytes() == b"an earlier attempt"


def test_failed_render_says_why_and_leaves_nothing_behind(tmp_path: Path, keyframes) -> None:
    out = tmp_path / "clip.mp4"
    with pytest.raises(MediaError) as caught:
        render_clip(tmp_path / "missing start.png", keyframes[1], out, duration_s=1, size=SMALL)
    assert "rendering clip clip.mp4" in str(caught.value)
    assert "missing start.png" in str(caught.value)
    assert not out.exists()


def test_stitch_joins_clips_in_order_from_awkward_paths(tmp_path: Path, keyframes) -> None:
    folder = tmp_path / "Mara's clips"
    folder.mkdir()
    workdir = tmp_path / "work"
    workdir.mkdir()
    clips = []
    for index, duration in enumerate([1, 2, 1]):
        clip_path = folder / f"scene {index + 1}.mp4"
        start, end = keyframes[index], keyframes[index + 1]
        render_clip(start, end, clip_path, duration_s=duration, size=SMALL)
        clips.append(clip_path)
    cut = tmp_path / "cut.mp4"

    stitch(clips, cut, workdir)

    facts = probe(cut)
    assert facts.frame_count == sum(probe(clip_path).frame_count for clip_path in clips) == 96
    assert facts.duration_s == pytest.approx(4.0, abs=0.1)
    with av.open(str(cut)) as container:
        assert container.duration / 1_000_000 == pytest.approx(4.0, abs=0.1)
    assert ssim(Image.open(keyframes[0]), first_frame(cut)) >= 0.95
    assert ssim(Image.open(keyframes[3]), last_frame(cut)) >= 0.95
    assert list(workdir.iterdir()) == []


def write_sine_wav(path: Path, seconds: float, rate: int = 44100) -> Path:
    samples = np.sin(2 * np.pi * 440 * np.arange(int(seconds * rate)) / rate)
    with wave.open(str(path), "wb") as track:
        track.setnchannels(1)
        track.setsampwidth(2)
        track.setframerate(rate)
        track.writeframes((samples * 0.3 * 32767).astype("<i2").tobytes())
    return path


def test_mux_adds_sound_and_ends_with_the_picture(tmp_path: Path, clip: Path) -> None:
    track = write_sine_wav(tmp_path / "track.wav", seconds=3.5)
    out = tmp_path / "final.mp4"

    mux_audio(clip, track, out)

    facts = probe(out)
    assert (facts.has_audio, facts.audio_codec) == (True, "aac")
    assert facts.frame_count == 48
    assert facts.duration_s == pytest.approx(probe(clip).duration_s, abs=0.05)
    with av.open(str(out)) as container:
        assert container.duration / 1_000_000 == pytest.approx(2.0, abs=0.1)


def test_last_frame_can_open_the_next_scene(tmp_path: Path, clip: Path, keyframes) -> None:
    png = extract_last_frame(clip, tmp_path / "next start.png")
    with Image.open(png) as image:
        assert image.size == SMALL
        assert ssim(Image.open(keyframes[1]), image) >= 0.95
    with pytest.raises(FileExistsError):
        extract_last_frame(clip, png)


def test_probe_names_a_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "scene 9.mp4"
    with pytest.raises(MediaError, match="scene 9.mp4"):
        probe(missing)


def test_probe_refuses_a_file_that_is_not_video(tmp_path: Path) -> None:
    notes = tmp_path / "notes.mp4"
    notes.write_text("not a video")
    with pytest.raises(MediaError, match="notes.mp4"):
        probe(notes)


def test_probe_counts_frames_when_the_container_does_not_record_them(tmp_path: Path) -> None:
    out = tmp_path / "upload.mkv"
    source = "testsrc2=size=160x120:rate=24:duration=1.5"
    args = ["-n", "-f", "lavfi", "-i", source, "-c:v", "libx264", "-preset", "veryfast", str(out)]
    run_ffmpeg(args, "making a Matroska clip")
    facts = probe(out)
    assert facts.frame_count == 36
    assert facts.duration_s == pytest.approx(1.5, abs=0.05)
    assert (facts.width, facts.height) == (160, 120)


def all_frames(video: Path) -> list[Image.Image]:
    with av.open(str(video)) as container:
        return [frame.to_image() for frame in container.decode(video=0)]


def render_with_looping_inputs(args: list[str]) -> list[str]:
    """`render_clip_args` as it was before each still was decoded once: the image2 demuxer loops
    every still (decoding it again for each frame) and the graph passes frames straight through."""
    looped = []
    for arg in args:
        if arg == "-i":
            looped += ["-loop", "1"]
        looped.append(re.sub(r"loop=loop=\d+:size=1:start=0", "null", arg))
    return looped


@pytest.mark.parametrize("same_image", [False, True], ids=["two-stills", "one-still"])
def test_decoding_each_still_once_renders_what_looping_inputs_rendered(tmp_path: Path, keyframes, same_image) -> None:
    start, end = keyframes[0], keyframes[0 if same_image else 1]
    once, looping = tmp_path / "once.mp4", tmp_path / "looping.mp4"
    args = render_clip_args(start, end, once, duration_s=2, size=SMALL)
    assert "loop=loop=47:size=1:start=0" in args[args.index("-filter_complex") + 1]
    render_clip(start, end, once, duration_s=2, size=SMALL)
    run_command(render_with_looping_inputs(render_clip_args(start, end, looping, duration_s=2, size=SMALL)), "looping render")

    frames_once, frames_looping = all_frames(once), all_frames(looping)
    assert len(frames_once) == len(frames_looping) == 48
    assert min(ssim(a, b) for a, b in zip(frames_once, frames_looping)) >= 0.99
