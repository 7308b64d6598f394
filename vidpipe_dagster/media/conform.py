"""Making a model's clip stitchable by stream copy, touching only what differs.

The final cut joins clips with ffmpeg's concat demuxer and `-c copy`, which needs every clip to
share codec, pixel format, size, frame rate and audio layout. A clip that already has them is
stored byte for byte as the model made it; otherwise only what differs is redone: the picture is
re-encoded (at the project's size, never smaller) only if it must be, the sound only if its
layout differs, and a missing or unwanted track is added (silence) or dropped.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from vidpipe_dagster.domain import MediaFacts
import ffmpeg

from vidpipe_dagster.media.ffmpeg import FASTSTART, H264, command, create_with, path_arg
from vidpipe_dagster.media.probe import probe

AUDIO_CODEC = "aac"
AUDIO_RATE = 48_000
AUDIO_CHANNELS = 2
_AUDIO = {"c:a": AUDIO_CODEC, "b:a": "192k", "ac": AUDIO_CHANNELS, "ar": AUDIO_RATE}


@dataclass(frozen=True)
class StitchFormat:
    """What every clip of a project shares: H.264 yuv420p at `size` and `fps`, with AAC stereo
    48 kHz sound when `audio`, else no sound."""

    size: tuple[int, int]
    fps: int
    audio: bool


def video_differences(facts: MediaFacts, target: StitchFormat, duration_s: float) -> list[str]:
    differences = []
    if facts.video_codec != "h264":
        differences.append(f"video codec {facts.video_codec}")
    if facts.pixel_format != "yuv420p":
        differences.append(f"pixel format {facts.pixel_format}")
    if (facts.width, facts.height) != target.size:
        differences.append(f"size {facts.width}x{facts.height}")
    if abs(facts.fps - target.fps) > 0.01:
        differences.append(f"{facts.fps:g} fps")
    if facts.duration_s > duration_s + 1 / target.fps:
        differences.append(f"{facts.duration_s:.2f} s long")
    return differences


def audio_differences(facts: MediaFacts, target: StitchFormat) -> list[str]:
    if not target.audio:
        return ["sound the cut does not use"] if facts.has_audio else []
    if not facts.has_audio:
        return ["no sound"]
    layout = (facts.audio_codec, facts.audio_channels, facts.audio_sample_rate)
    if layout != (AUDIO_CODEC, AUDIO_CHANNELS, AUDIO_RATE):
        return [f"sound {facts.audio_codec} {facts.audio_channels} ch {facts.audio_sample_rate} Hz"]
    return []


def conform_args(raw: Path, out: Path, facts: MediaFacts, target: StitchFormat, duration_s: float) -> list[str]:
    """The command that redoes only what differs from `target` (see the module's docstring)."""
    width, height = target.size
    source = ffmpeg.input(path_arg(raw))
    picture = source["v:0"]
    options: dict = {}
    if video_differences(facts, target, duration_s):
        picture = (
            picture.filter("scale", width, height, force_original_aspect_ratio="increase")
            .filter("crop", width, height)
            .filter("setsar", 1)
            .filter("fps", target.fps)
        )
        options.update(t=f"{duration_s:g}", **H264)
    else:
        options["c:v"] = "copy"
    streams = [picture]
    if not target.audio:
        options["an"] = None
    elif not facts.has_audio:
        streams.append(ffmpeg.input(f"anullsrc=r={AUDIO_RATE}:cl=stereo", f="lavfi")["a:0"])
        options.update(shortest=None, **_AUDIO)
    else:
        streams.append(source["a:0"])
        options.update(_AUDIO if audio_differences(facts, target) else {"c:a": "copy"})
    return command(ffmpeg.output(*streams, path_arg(out), **options, **FASTSTART))


def conform_clip(raw: Path, out: Path, target: StitchFormat, duration_s: float) -> list[str]:
    """Write `raw` to `out` in `target`'s format; returns what had to change ([] = stored as it came)."""
    facts = probe(raw)
    differences = video_differences(facts, target, duration_s) + audio_differences(facts, target)
    if not differences:
        if os.path.lexists(out):
            raise FileExistsError(f"{out} already exists and will not be replaced")
        shutil.copyfile(raw, out)
        return []
    create_with(conform_args(raw, out, facts, target, duration_s), out, f"conforming {Path(raw).name} ({', '.join(differences)})")
    return differences
