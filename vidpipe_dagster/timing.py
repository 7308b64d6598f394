"""Scene timing and framing: plain arithmetic, no I/O."""

from __future__ import annotations

import math

from vidpipe_dagster.domain import MAX_SCENES, SCENE_DURATIONS, InvalidInput

FPS = 24
SHORTEST_SCENE_S = min(SCENE_DURATIONS)
# Scenes start at 0 and last 4, 6 or 8 s, so every cut falls on an even second.
_CUT_GRID_S = math.gcd(*SCENE_DURATIONS)


def snap_duration(seconds: float) -> int:
    """The allowed scene length (4, 6 or 8 s) nearest to `seconds`; ties go to the longer one."""
    return min(SCENE_DURATIONS, key=lambda allowed: (abs(allowed - seconds), -allowed))


def default_durations(scene_count: int, seed: int) -> list[int]:
    """A varied but deterministic rhythm of scene lengths for a brief without an audio track."""
    pattern = (6, 4, 8, 6, 4, 6, 8, 4)
    return [pattern[(seed + index) % len(pattern)] for index in range(scene_count)]


def cut_for(seconds: float) -> int:
    """Where the scene cut for a moment `seconds` into an audio track falls: the nearest even
    second (a tie goes to the later one)."""
    return _CUT_GRID_S * math.floor(seconds / _CUT_GRID_S + 0.5)


def picture_length(audio_seconds: float) -> int:
    """How long the scenes for an audio track add up to: the track rounded up to an even second
    (at least one shortest scene).

    So the picture is never shorter than the music and at most 2 s longer. The final cut is muxed
    with `-shortest`, which then ends it with the music, trimming the tail of the last scene:
    cutting the music off mid-phrase, or running the picture on in silence, would both be worse."""
    return max(SHORTEST_SCENE_S, _CUT_GRID_S * math.ceil(audio_seconds / _CUT_GRID_S))


def durations_for_audio(audio_seconds: float, boundaries: list[float] | None = None) -> list[int]:
    """Scene lengths (4/6/8 s) cut at an audio track's phrase starts, adding up to `picture_length`.

    Each boundary (a phrase start, in seconds) becomes a cut at `cut_for(boundary)`, unless that
    leaves less than a shortest scene since the previous cut or before the end; a stretch longer
    than 8 s is split into scenes near 6 s."""
    if audio_seconds <= 0:
        raise ValueError(f"audio track is {audio_seconds:.2f} s long; it must be longer than 0 s")
    picture = picture_length(audio_seconds)
    cuts = [0]
    for boundary in sorted(b for b in boundaries or [] if 0 < b < audio_seconds):
        cut = cut_for(boundary)
        if cut - cuts[-1] >= SHORTEST_SCENE_S and picture - cut >= SHORTEST_SCENE_S:
            cuts.append(cut)
    durations = [length for start, end in zip(cuts, [*cuts[1:], picture]) for length in _split(end - start)]
    if len(durations) > MAX_SCENES:
        raise InvalidInput(
            f"the audio track is {audio_seconds:.0f} s long and needs {len(durations)} scenes; a project "
            f"has at most {MAX_SCENES}: use a shorter track"
        )
    return durations


def _split(span: int) -> list[int]:
    """Scene lengths that add up to `span` (even, at least 4), as near 6 s (the middle length) as
    they can be; for any such span each one is 4, 6 or 8 s."""
    count = round(span / 6)
    base, extra = divmod(span // 2, count)
    return [2 * (base + 1)] * extra + [2 * base] * (count - extra)


def frame_size(aspect_ratio: str, short_side: int = 360) -> tuple[int, int]:
    """Frame size for an aspect ratio; both sides even, as H.264 with yuv420p requires."""
    wide, tall = (int(part) for part in aspect_ratio.split(":"))
    long_side = round(short_side * max(wide, tall) / min(wide, tall) / 2) * 2
    return (long_side, short_side) if wide >= tall else (short_side, long_side)
