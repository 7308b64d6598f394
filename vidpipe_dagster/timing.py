"""Scene timing and framing: plain arithmetic, no I/O."""

from __future__ import annotations

from vidpipe_dagster.domain import SCENE_DURATIONS

FPS = 24


def snap_duration(seconds: float) -> int:
    """The allowed scene length (4, 6 or 8 s) nearest to `seconds`; ties go to the longer one."""
    return min(SCENE_DURATIONS, key=lambda allowed: (abs(allowed - seconds), -allowed))


def default_durations(scene_count: int, seed: int) -> list[int]:
    """A varied but deterministic rhythm of scene lengths for a brief without an audio track."""
    pattern = (6, 4, 8, 6, 4, 6, 8, 4)
    return [pattern[(seed + index) % len(pattern)] for index in range(scene_count)]


def durations_for_audio(audio_seconds: float, boundaries: list[float] | None = None) -> list[int]:
    """Scene lengths (4/6/8 s) that cover an audio track.

    With `boundaries` (phrase starts, in seconds), each segment between boundaries is snapped; the
    last scene absorbs the rounding so the cut is never shorter than the track by a whole scene."""
    if audio_seconds <= 0:
        raise ValueError(f"audio track is {audio_seconds:.2f} s long; it must be longer than 0 s")
    cuts = sorted({b for b in (boundaries or []) if 0 < b < audio_seconds})
    if not cuts:
        cuts = [float(t) for t in range(6, int(audio_seconds), 6)]
    edges = [0.0, *cuts, audio_seconds]
    durations: list[int] = []
    covered = 0.0
    for start, end in zip(edges, edges[1:]):
        remaining = end - covered
        if remaining < 2:  # too short for a scene of its own: the next one takes it
            continue
        durations.append(snap_duration(remaining))
        covered += durations[-1]
    return durations or [snap_duration(audio_seconds)]


def frame_size(aspect_ratio: str, short_side: int = 360) -> tuple[int, int]:
    """Frame size for an aspect ratio; both sides even, as H.264 with yuv420p requires."""
    wide, tall = (int(part) for part in aspect_ratio.split(":"))
    long_side = round(short_side * max(wide, tall) / min(wide, tall) / 2) * 2
    return (long_side, short_side) if wide >= tall else (short_side, long_side)
