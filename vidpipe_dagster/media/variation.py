"""What makes one rendered clip differ from another made on the same keyframes: a colour swell
that peaks mid-clip, shaped by a number (the local video model derives it from the prompt and the
seed). The first and the last frame are left as they are, so continuity with the keyframes holds."""

from __future__ import annotations

import hashlib
from pathlib import Path

from vidpipe_dagster.media.ffmpeg import run_ffmpeg


def clip_variation(prompt: str, seed: int) -> int:
    """A stable number for a (prompt, seed) pair: the same pair always renders the same clip."""
    return int.from_bytes(hashlib.sha256(f"{seed}|{prompt}".encode()).digest()[:4], "big")


def variation_filter(variation: int, frame_count: int) -> str:
    """A hue turn and a saturation lift that rise and fall over the clip, off on its first and last
    frames. No user text enters it: only numbers."""
    if frame_count < 3:
        return "null"
    swell = f"sin(PI*n/{frame_count - 1})"
    degrees = 20 + variation % 140
    return f"hue=h={degrees}*{swell}:s=1+0.5*{swell}:enable='between(n,1,{frame_count - 2})'"


def vary_clip(source: Path, out: Path, *, variation: int, frame_count: int) -> Path:
    """Re-encode `source` into `out` (which must not exist) with the variation's colour swell."""
    run_ffmpeg(
        [
            "-n", "-i", str(Path(source).absolute()),
            "-vf", variation_filter(variation, frame_count),
            "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p",
            "-movflags", "+faststart", "-an",
            str(Path(out).absolute()),
        ],
        f"varying clip {Path(out).name}",
    )  # fmt: skip
    return out
