"""Audio tracks with a known structure, written with numpy and `wave`, for tests."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

RATE = 22050


def write_sections(path: Path, sections: list[tuple[float, float, float]], rate: int = RATE) -> Path:
    """A 16-bit stereo WAV of consecutive sections, each `(seconds, pitch_hz, level)`.

    Each section is a tone with two overtones that pulses twice a second, over a little seeded
    noise: it has beats of its own, but its pitch and level change only where the next section
    starts."""
    parts = []
    for seconds, pitch, level in sections:
        t = np.arange(round(seconds * rate)) / rate
        tone = sum(np.sin(2 * np.pi * pitch * k * t) / k for k in (1, 2, 3))
        pulse = 0.6 + 0.4 * np.cos(2 * np.pi * 2 * t) ** 2
        parts.append(level * tone * pulse / 1.9)
    signal = np.concatenate(parts)
    signal += np.random.default_rng(7).normal(0, 0.003, len(signal))
    pcm = (np.clip(signal, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as track:
        track.setnchannels(2)
        track.setsampwidth(2)
        track.setframerate(rate)
        track.writeframes(np.repeat(pcm, 2).tobytes())
    return path
