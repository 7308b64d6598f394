"""Small charts drawn with Pillow (no plotting library to install): quality scores per attempt."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from vidpipe_dagster.media.frames import write_png

_PASSED, _FAILED, _ACCEPTED_RING, _AXIS, _BAR = (46, 160, 67), (207, 34, 46), (20, 20, 20), (90, 90, 90), (200, 120, 0)


@dataclass(frozen=True)
class AttemptScore:
    attempt: int
    score: float
    passed: bool
    accepted: bool


def score_chart(scores: dict[str, list[AttemptScore]], threshold: float, out: Path, *, size: tuple[int, int] = (720, 360)) -> Path:
    """One column per scene, one dot per attempt (green passed, red failed), a ring around the
    accepted one, and a dashed line at the quality bar."""
    width, height = size
    left, right, top, bottom = 48, 16, 28, 40
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=13)
    plot_height = height - top - bottom

    def y_of(score: float) -> float:
        return top + (1.0 - max(0.0, min(1.0, score))) * plot_height

    draw.text((left, 6), "clip quality score per attempt", fill=_AXIS, font=font)
    legend = "green: passed   red: below the bar   ring: in this cut   dashed: quality bar"
    draw.text((width - right - draw.textlength(legend, font=font), 6), legend, fill=_AXIS, font=font)
    for tick in (0.0, 0.5, 1.0):
        draw.line([(left - 4, y_of(tick)), (width - right, y_of(tick))], fill=(230, 230, 230))
        draw.text((8, y_of(tick) - 7), f"{tick:.1f}", fill=_AXIS, font=font)
    for x in range(left, width - right, 12):
        draw.line([(x, y_of(threshold)), (x + 6, y_of(threshold))], fill=_BAR, width=2)
    column = (width - left - right) / max(1, len(scores))
    for index, (scene, attempts) in enumerate(scores.items()):
        center = left + column * (index + 0.5)
        draw.text((center - 10, height - bottom + 10), scene, fill=_AXIS, font=font)
        spread = min(14.0, column / (len(attempts) + 1))
        for offset, attempt in enumerate(attempts):
            x = center + (offset - (len(attempts) - 1) / 2) * spread
            y = y_of(attempt.score)
            draw.ellipse([x - 5, y - 5, x + 5, y + 5], fill=_PASSED if attempt.passed else _FAILED)
            if attempt.accepted:
                draw.ellipse([x - 8, y - 8, x + 8, y + 8], outline=_ACCEPTED_RING, width=2)
    return write_png(image, out)
