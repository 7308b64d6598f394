"""ffmpeg for vidpipe: pure argument builders, and the few operations that run them.

Arguments are always lists handed to subprocess without a shell, and no user text ever enters a
filtergraph: captions are drawn into images with Pillow before ffmpeg sees them. Every operation
creates its output and refuses to replace an existing file.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import imageio_ffmpeg

_STDERR_TAIL_CHARS = 2000

# veryfast keeps repeated test and preview renders cheap; crf 18 keeps the first and last frames
# close enough to their keyframes that continuity checks compare like with like.
_H264 = ("-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p")
# The index goes first so a browser can start playing before the whole file has arrived.
_FASTSTART = ("-movflags", "+faststart")
# How far a rendered clip's view slides, as a fraction of its width: per second, and at most.
_DRIFT_PER_S = 0.02
_MAX_DRIFT = 0.25


class MediaError(RuntimeError):
    """A media operation failed; the message says what was being done and why it failed."""


@functools.cache
def ffmpeg_executable() -> str:
    """The system ffmpeg if there is one, else the binary bundled with imageio-ffmpeg."""
    return shutil.which("ffmpeg") or imageio_ffmpeg.get_ffmpeg_exe()


def _path_arg(path: Path) -> str:
    # Absolute, so a name starting with '-' cannot read as an option and 'name:...' cannot read
    # as a protocol.
    return str(Path(path).absolute())


def _still_input(image: Path, fps: int) -> list[str]:
    # pattern_type none: a '%' in a file name must not be taken for an image-sequence pattern.
    return [
        "-f", "image2", "-pattern_type", "none", "-loop", "1", "-framerate", str(fps),
        "-i", _path_arg(image),
    ]  # fmt: skip


def render_clip_args(
    start_png: Path,
    end_png: Path,
    out: Path,
    *,
    duration_s: int,
    fps: int = 24,
    size: tuple[int, int],
) -> list[str]:
    """Arguments for a clip of exactly `duration_s * fps` frames that dissolves from the start
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
    # perspective numbers output frames from 1; the shift reaches `drift` on the last frame.
    shift = f"{drift}*(on-1)/{frames - 1}"
    scale = f"scale={width}:{height},setsar=1"
    # The end layer's alpha fades in over frames-1 steps: 0 on the first frame, opaque on the
    # last. fade+overlay is native code, several times faster than a per-pixel blend expression.
    graph = (
        f"[0:v]{scale},format=yuv420p,"
        f"pad={canvas}:{height}:0:0,fillborders=right={drift}:mode=mirror[start];"
        f"[1:v]{scale},format=yuva420p,"
        f"pad={canvas}:{height}:{drift}:0,fillborders=left={drift}:mode=mirror,"
        f"fade=t=in:s=0:n={frames - 1}:alpha=1[end];"
        "[start][end]overlay=format=yuv420,"
        f"perspective=x0={shift}:y0=0:x1=W+{shift}:y1=0:x2={shift}:y2=H:x3=W+{shift}:y3=H"
        ":eval=frame,"
        f"crop={width}:{height}:0:0[clip]"
    )
    return [
        "-n",
        *_still_input(start_png, fps),
        *_still_input(end_png, fps),
        "-filter_complex", graph,
        "-map", "[clip]",
        "-frames:v", str(frames),
        "-r", str(fps),
        *_H264,
        *_FASTSTART,
        "-an",
        _path_arg(out),
    ]  # fmt: skip


def concat_list_text(clips: list[Path]) -> str:
    """The concat demuxer's list of `clips`, one `file '...'` line each, in order."""
    lines = []
    for clip in clips:
        path = _path_arg(clip)
        if "\n" in path or "\r" in path:
            # The list is line-based: there is no way to write such a name into it.
            raise ValueError(f"clip path {path!r} contains a line break")
        escaped = path.replace("'", "'\\''")
        lines.append(f"file '{escaped}'\n")
    return "".join(lines)


def stitch_args(list_file: Path, out: Path) -> list[str]:
    """Arguments joining the clips named in a concat list without re-encoding them."""
    return [
        "-n",
        "-f", "concat", "-safe", "0", "-i", _path_arg(list_file),
        "-c", "copy",
        *_FASTSTART,
        _path_arg(out),
    ]  # fmt: skip


def mux_audio_args(video: Path, audio: Path, out: Path) -> list[str]:
    """Arguments putting `audio` under `video`'s picture; the result ends with the shorter one."""
    return [
        "-n",
        "-i", _path_arg(video),
        "-i", _path_arg(audio),
        "-map", "0:v:0", "-map", "1:a:0",
        "-c:v", "copy", "-c:a", "aac",
        "-shortest",
        *_FASTSTART,
        _path_arg(out),
    ]  # fmt: skip


def _stderr_tail(stderr: bytes | None) -> str:
    text = (stderr or b"").decode("utf-8", errors="replace").strip()
    return text[-_STDERR_TAIL_CHARS:] or "(ffmpeg wrote nothing to stderr)"


def run_ffmpeg(args: list[str], purpose: str, timeout_s: float = 600) -> None:
    """Run ffmpeg with `args`; raise MediaError naming `purpose` if it fails or overruns."""
    if isinstance(args, (str, bytes)):
        # A string would be split into single characters, and would hint at shell-style quoting.
        raise TypeError("ffmpeg arguments must be a list of strings, not one string")
    command = [ffmpeg_executable(), "-hide_banner", "-nostdin", "-loglevel", "error", *args]
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


def _create(args: list[str], out: Path, purpose: str) -> None:
    if os.path.lexists(out):
        raise MediaError(f"{purpose}: {out} already exists and will not be replaced")
    try:
        run_ffmpeg(args, purpose)
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
    _create(args, out, f"rendering clip {Path(out).name}")


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
        _create(stitch_args(list_file, out), out, purpose)
    finally:
        list_file.unlink(missing_ok=True)


def mux_audio(video: Path, audio: Path, out: Path) -> None:
    """Write `video` with `audio` as its soundtrack to `out`, cut to the shorter of the two."""
    purpose = f"adding audio {Path(audio).name} to {Path(video).name}"
    _create(mux_audio_args(video, audio, out), out, purpose)
