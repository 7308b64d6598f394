"""ffmpeg for vidpipe: commands built with ffmpeg-python, and the few operations that run them.

Commands are argument lists (ffmpeg-python's `compile`) handed to subprocess without a shell, and
no user text ever enters a filtergraph: captions are drawn into images with Pillow before ffmpeg
sees them, and paths are only ever inputs and outputs. Every operation creates its output and
refuses to replace an existing file (`-n`).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import ffmpeg
import imageio_ffmpeg

_STDERR_TAIL_CHARS = 2000

# Global options, before everything else: quiet, never reads stdin, never overwrites.
_GLOBAL_OPTIONS = ("-hide_banner", "-nostdin", "-loglevel", "error", "-n")
# veryfast keeps repeated test and preview renders cheap; crf 18 keeps the first and last frames
# close enough to their keyframes that continuity checks compare like with like.
H264 = {"c:v": "libx264", "preset": "veryfast", "crf": 18, "pix_fmt": "yuv420p"}
# The index goes first so a browser can start playing before the whole file has arrived.
FASTSTART = {"movflags": "+faststart"}
# How far a rendered clip's view slides, as a fraction of its width: per second, and at most.
_DRIFT_PER_S = 0.02
_MAX_DRIFT = 0.25


class MediaError(RuntimeError):
    """A media operation failed; the message says what was being done and why it failed."""


@functools.cache
def ffmpeg_executable() -> str:
    """The system ffmpeg if there is one, else the binary bundled with imageio-ffmpeg."""
    return shutil.which("ffmpeg") or imageio_ffmpeg.get_ffmpeg_exe()


def command(stream: ffmpeg.nodes.OutputStream) -> list[str]:
    """The argument list of an ffmpeg-python output stream, ready for `create_with`."""
    # The binary and the global options lead, so the output path stays the last argument.
    return stream.compile(cmd=[ffmpeg_executable(), *_GLOBAL_OPTIONS])


def path_arg(path: Path) -> str:
    # Absolute, so a name starting with '-' cannot read as an option and 'name:...' cannot read
    # as a protocol.
    return str(Path(path).absolute())


def _still_input(image: Path, fps: int) -> ffmpeg.nodes.FilterableStream:
    # One frame, decoded once: the graph repeats it (`_held`), where `-loop 1` would decode the
    # file again for every output frame. pattern_type none: a '%' in a file name must not be
    # taken for an image-sequence pattern.
    return ffmpeg.input(path_arg(image), f="image2", pattern_type="none", framerate=fps).video


def _held(still: ffmpeg.nodes.FilterableStream, frames: int) -> ffmpeg.nodes.FilterableStream:
    # Repeats the one prepared frame `frames` times, so each still is also scaled and padded once.
    return still.filter("loop", loop=frames - 1, size=1, start=0)


def render_clip_args(
    start_png: Path,
    end_png: Path,
    out: Path,
    *,
    duration_s: int,
    fps: int = 24,
    size: tuple[int, int],
) -> list[str]:
    """The command for a clip of exactly `duration_s * fps` frames that dissolves from the start
    image (exactly the first frame) to the end image (exactly the last frame), both scaled to
    `size`, while the view drifts sideways."""
    width, height = size
    if width < 2 or height < 2 or width % 2 or height % 2:
        raise ValueError(f"clip size {width}x{height} must be even in both dimensions (yuv420p)")
    if duration_s < 1 or fps < 2:
        raise ValueError(f"a clip needs duration_s >= 1 and fps >= 2, got {duration_s} and {fps}")
    frames = duration_s * fps
    # A dissolve alone changes each frame too little to read as motion (a frozen-frame check
    # flags it), so the view slides across a canvas: the start image on the left with a
    # mirrored strip after it, the end image `drift` pixels to the right with a mirrored strip
    # before it. The slide begins at the start image and ends exactly on the end image; `drift`
    # is even because yuv420p cannot be offset by an odd number of pixels.
    drift = 2 * max(1, round(min(_DRIFT_PER_S * duration_s, _MAX_DRIFT) * width / 2))
    canvas = width + drift
    start_image = _still_input(start_png, fps)
    if path_arg(start_png) == path_arg(end_png):
        # ffmpeg-python merges identical inputs into one node, so one image feeds both layers.
        layers = start_image.split()
        start_image, end_image = layers[0], layers[1]
    else:
        end_image = _still_input(end_png, fps)
    start = _held(
        start_image
        .filter("scale", width, height)
        .filter("setsar", 1)
        .filter("format", "yuv420p")
        .filter("pad", canvas, height, 0, 0)
        .filter("fillborders", right=drift, mode="mirror"),
        frames,
    )
    # The end layer's alpha fades in over frames-1 steps: 0 on the first frame, opaque on the
    # last. fade+overlay is native code, several times faster than a per-pixel blend expression.
    end = _held(
        end_image
        .filter("scale", width, height)
        .filter("setsar", 1)
        .filter("format", "yuva420p")
        .filter("pad", canvas, height, drift, 0)
        .filter("fillborders", left=drift, mode="mirror"),
        frames,
    ).filter("fade", t="in", s=0, n=frames - 1, alpha=1)
    # perspective numbers output frames from 1; the shift reaches `drift` on the last frame.
    shift = f"{drift}*(on-1)/{frames - 1}"
    clip = (
        ffmpeg.overlay(start, end, format="yuv420")
        .filter(
            "perspective",
            x0=shift, y0=0, x1=f"W+{shift}", y1=0, x2=shift, y2="H", x3=f"W+{shift}", y3="H", eval="frame",
        )  # fmt: skip
        .filter("crop", width, height, 0, 0)
    )
    output = clip.output(path_arg(out), an=None, r=fps, **{"frames:v": frames}, **H264, **FASTSTART)
    return command(output)


def concat_list_text(clips: list[Path]) -> str:
    """The concat demuxer's list of `clips`, one `file '...'` line each, in order."""
    lines = []
    for clip in clips:
        path = path_arg(clip)
        if "\n" in path or "\r" in path:
            # The list is line-based: there is no way to write such a name into it.
            raise ValueError(f"clip path {path!r} contains a line break")
        escaped = path.replace("'", "'\\''")
        lines.append(f"file '{escaped}'\n")
    return "".join(lines)


def stitch_args(list_file: Path, out: Path) -> list[str]:
    """The command joining the clips named in a concat list without re-encoding them."""
    joined = ffmpeg.input(path_arg(list_file), f="concat", safe=0)
    return command(joined.output(path_arg(out), c="copy", **FASTSTART))


# How loud the video model's own sound sits under a music track when both are kept.
MODEL_AUDIO_UNDER_TRACK = 0.35


def mux_audio_args(video: Path, audio: Path, out: Path, *, keep_video_audio: bool = False) -> list[str]:
    """The command putting `audio` under `video`'s picture; the result ends with the shorter one.
    With `keep_video_audio`, the video's own sound is mixed in under the track instead of dropped."""
    film = ffmpeg.input(path_arg(video))
    sound = ffmpeg.input(path_arg(audio))["a:0"]
    if keep_video_audio:
        track = sound.filter("aformat", sample_rates=48000, channel_layouts="stereo")
        model = film["a:0"].filter("aformat", sample_rates=48000, channel_layouts="stereo").filter("volume", MODEL_AUDIO_UNDER_TRACK)
        sound = ffmpeg.filter([track, model], "amix", inputs=2, duration="first", normalize=0)
    muxed = ffmpeg.output(film["v:0"], sound, path_arg(out), shortest=None, **{"c:v": "copy", "c:a": "aac"}, **FASTSTART)
    return command(muxed)


def _stderr_tail(stderr: bytes | None) -> str:
    text = (stderr or b"").decode("utf-8", errors="replace").strip()
    return text[-_STDERR_TAIL_CHARS:] or "(ffmpeg wrote nothing to stderr)"


def run_ffmpeg(args: list[str], purpose: str, timeout_s: float = 600) -> None:
    """Run ffmpeg with ad-hoc `args` (after the binary and the global options); raise MediaError
    naming `purpose` if it fails or overruns."""
    if isinstance(args, (str, bytes)):
        # A string would be split into single characters, and would hint at shell-style quoting.
        raise TypeError("ffmpeg arguments must be a list of strings, not one string")
    run_command([ffmpeg_executable(), *_GLOBAL_OPTIONS, *args], purpose, timeout_s)


def run_command(command: list[str], purpose: str, timeout_s: float = 600) -> None:
    """Run a command built here (the binary first); raise MediaError naming `purpose` if it fails
    or overruns."""
    try:
        result = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise MediaError(
            f"{purpose}: ffmpeg did not finish within {timeout_s:g} s: {_stderr_tail(exc.stderr)}"
        ) from None
    if result.returncode != 0:
        raise MediaError(
            f"{purpose}: ffmpeg exited with status {result.returncode}: "
            f"{_stderr_tail(result.stderr)}"
        )


def create_with(command: list[str], out: Path, purpose: str) -> None:
    """Run `command`, which writes `out`; `out` must not exist, and is removed if ffmpeg fails."""
    if os.path.lexists(out):
        raise MediaError(f"{purpose}: {out} already exists and will not be replaced")
    try:
        run_command(command, purpose)
    except MediaError:
        # ffmpeg leaves a truncated file behind when it fails mid-write. The path was free a
        # moment ago, so the file is ours, and leaving it would make a retry fail as "exists".
        Path(out).unlink(missing_ok=True)
        raise


def render_clip(
    start_png: Path,
    end_png: Path,
    out: Path,
    *,
    duration_s: int,
    fps: int = 24,
    size: tuple[int, int],
) -> None:
    """Render the clip described by `render_clip_args` to `out`, which must not exist."""
    args = render_clip_args(start_png, end_png, out, duration_s=duration_s, fps=fps, size=size)
    create_with(args, out, f"rendering clip {Path(out).name}")


def stitch(clips: list[Path], out: Path, workdir: Path) -> None:
    """Join `clips` in order into `out` without re-encoding.

    The clips must share codec, size, frame rate and pixel format (clips from `render_clip` with
    the same size and fps do). The concat list is written to a uniquely named file in `workdir`.
    """
    if not clips:
        raise ValueError("stitch needs at least one clip")
    text = concat_list_text(clips)
    handle, name = tempfile.mkstemp(dir=workdir, prefix="concat-", suffix=".txt")
    list_file = Path(name)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        purpose = f"stitching {len(clips)} clips into {Path(out).name}"
        create_with(stitch_args(list_file, out), out, purpose)
    finally:
        list_file.unlink(missing_ok=True)


def mux_audio(video: Path, audio: Path, out: Path, *, keep_video_audio: bool = False) -> None:
    """Write `video` with `audio` as its soundtrack to `out`, cut to the shorter of the two (and
    with the video's own sound mixed under it when `keep_video_audio`)."""
    purpose = f"adding audio {Path(audio).name} to {Path(video).name}"
    create_with(mux_audio_args(video, audio, out, keep_video_audio=keep_video_audio), out, purpose)
