"""Audio tracks, read with PyAV: how long they are, where their phrases start, and a compact copy.

Phrase starts are found in the signal itself, so the same file always gives the same boundaries:
the track is heard as loudness in a few frequency bands, and a boundary is where the second after
a moment sounds clearly different from the second before it (a new section, instrument or level).
"""

from __future__ import annotations

import io
import itertools
import wave
from pathlib import Path

import numpy as np

from vidpipe_dagster.media.ffmpeg import MediaError
from vidpipe_dagster.media.probe import open_stream
from vidpipe_dagster.timing import SHORTEST_SCENE_S, cut_for, picture_length

# Loudness and coarse timbre are all the segmentation needs, and 8 kHz keeps even a long track
# small in memory.
_ANALYSIS_RATE = 8000
_HOP_S = 0.05
# A change is judged between the second before a moment and the second after it: long enough to
# average over beats and notes, short enough to place the change within a beat.
_CONTEXT_S = 1.0
_BAND_EDGES_HZ = (0, 150, 300, 600, 1200, 2400, 4000)
# Quieter than this counts as silence, so noise in a quiet passage is not heard as change.
_FLOOR_DB = -70.0
# A rise in loudness this large from one 50 ms frame to the next counts as an onset (a hit, a note).
_ONSET_DB = 6.0


def audio_duration(path: Path) -> float:
    """The length of the first audio stream of `path`, in seconds.

    Counted from the decoded samples: what a container records is an estimate for some formats
    (ADTS AAC is off by tens of milliseconds), and the decoded length is what the final cut plays."""
    with open_stream(path, "audio") as (container, stream):
        seconds = sum(frame.samples for frame in container.decode(stream)) / stream.rate
    if seconds <= 0:
        raise MediaError(f"{Path(path).name} has an empty audio stream")
    return seconds


def probe_audio(path: Path) -> None:
    """`MediaError` unless `path` holds an audio stream whose first frame decodes to samples: the
    check intake can afford for any file (decoding a whole long track is the storyboard's job)."""
    with open_stream(path, "audio") as (container, stream):
        for frame in container.decode(stream):
            if frame.samples:
                return
    raise MediaError(f"{Path(path).name} has an empty audio stream")


def decode_mono(path: Path, rate: int) -> np.ndarray:
    """The first audio stream of `path` as mono float32 samples in -1..1 at `rate` Hz."""
    # Imported on first use, as in probe.py: loading the definitions should not load PyAV.
    from av import AudioResampler

    resampler = AudioResampler(format="flt", layout="mono", rate=rate)
    chunks = []
    with open_stream(path, "audio") as (container, stream):
        for frame in itertools.chain(container.decode(stream), [None]):  # None flushes the resampler
            chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(frame)]
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)


def wav_bytes(path: Path, rate: int) -> bytes:
    """The first audio stream of `path` as a 16-bit mono WAV file at `rate` Hz, in memory."""
    pcm = (np.clip(decode_mono(path, rate), -1.0, 1.0) * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as track:
        track.setnchannels(1)
        track.setsampwidth(2)
        track.setframerate(rate)
        track.writeframes(pcm.tobytes())
    return buffer.getvalue()


def band_levels(samples: np.ndarray, rate: int) -> np.ndarray:
    """Loudness in dB of each frequency band (`_BAND_EDGES_HZ`) for each 50 ms frame: shape
    (frames, bands). Frame i covers [i * 50 ms, (i + 1) * 50 ms)."""
    hop = round(rate * _HOP_S)
    frames = samples[: len(samples) // hop * hop].reshape(-1, hop)
    window = np.hanning(hop)
    # Scaled so a level does not depend on the frame length: a full-scale sine reads about -4 dB.
    power = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2 / window.sum() ** 2
    frequencies = np.fft.rfftfreq(hop, 1 / rate)
    bands = [
        power[:, (frequencies >= low) & (frequencies < high)].sum(axis=1)
        for low, high in zip(_BAND_EDGES_HZ, _BAND_EDGES_HZ[1:])
    ]
    return np.maximum(10 * np.log10(np.stack(bands, axis=1) + 1e-12), _FLOOR_DB)


def novelty(levels: np.ndarray, context: int) -> np.ndarray:
    """How different (RMS over bands, in dB) the `context` frames after each frame boundary sound
    from the `context` frames before it. Index t is the boundary before frame t; it is 0 where
    there is not a full context on both sides."""
    result = np.zeros(len(levels) + 1)
    sums = np.concatenate([np.zeros((1, levels.shape[1])), np.cumsum(levels, axis=0)])
    at = np.arange(context, len(levels) - context + 1)
    before = (sums[at] - sums[at - context]) / context
    after = (sums[at + context] - sums[at]) / context
    result[at] = np.sqrt(np.mean((after - before) ** 2, axis=1))
    return result


def choose_boundaries(times: np.ndarray, strength: np.ndarray, duration_s: float, min_change_db: float) -> list[float]:
    """The strongest changes of at least `min_change_db` that can each have a scene cut of their own.

    Strongest first, a change is kept when its cut (`timing.cut_for`) is at least a shortest scene
    away from the start, from every cut kept so far and from the end of the picture, so a weaker
    change right beside a stronger one gives way to it."""
    picture = picture_length(duration_s)
    kept: dict[int, float] = {}
    for index in sorted(np.flatnonzero(strength >= min_change_db), key=lambda i: (-strength[i], times[i])):
        cut = cut_for(times[index])
        if SHORTEST_SCENE_S <= cut <= picture - SHORTEST_SCENE_S and all(
            abs(cut - other) >= SHORTEST_SCENE_S for other in kept
        ):
            kept[cut] = round(float(times[index]), 2)
    return sorted(kept.values())


def phrase_boundaries(path: Path, min_change_db: float = 3.0) -> list[float]:
    """Where the phrases of the track at `path` start, in seconds (0 itself is not listed).

    A boundary is a peak of `novelty` (the strongest within a second either side) of at least
    `min_change_db`, thinned by `choose_boundaries` so each one can become a scene cut of its own.
    Deterministic: the same file always gives the same boundaries."""
    samples = decode_mono(path, _ANALYSIS_RATE)
    levels = band_levels(samples, _ANALYSIS_RATE)
    context = round(_CONTEXT_S / _HOP_S)
    change = novelty(levels, context)
    padded = np.pad(change, context, constant_values=-np.inf)
    is_peak = change >= np.lib.stride_tricks.sliding_window_view(padded, 2 * context + 1).max(axis=1)
    times = np.arange(len(change)) * _HOP_S
    return choose_boundaries(times, np.where(is_peak, change, 0.0), len(samples) / _ANALYSIS_RATE, min_change_db)


def phrase_profiles(path: Path, starts: list[float]) -> tuple[list[float], list[float]]:
    """How loud (dB RMS) each phrase of the track is, and how many onsets per second it has; the
    phrases start at `starts` (the first at 0) and the last runs to the end of the track."""
    samples = decode_mono(path, _ANALYSIS_RATE)
    hop = round(_ANALYSIS_RATE * _HOP_S)
    loudness = 10 * np.log10(np.mean(10 ** (band_levels(samples, _ANALYSIS_RATE) / 10), axis=1))
    onsets = np.flatnonzero(np.diff(loudness) > _ONSET_DB) + 1
    edges = [min(round(start / _HOP_S), len(loudness)) for start in starts] + [len(loudness)]
    levels, rates = [], []
    for first, end in zip(edges, edges[1:]):
        span = samples[first * hop : max(end, first + 1) * hop]
        levels.append(float(20 * np.log10(np.sqrt(np.mean(span**2)) + 1e-9)) if span.size else _FLOOR_DB)
        rates.append(float(np.count_nonzero((onsets >= first) & (onsets < end)) / max((end - first) * _HOP_S, _HOP_S)))
    return levels, rates
