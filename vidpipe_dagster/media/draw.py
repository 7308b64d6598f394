"""Pillow art for the deterministic local backend: reference cards, keyframes, contact sheets.

What is drawn depends only on the arguments. Numbers come from sha256 of a label, never from
`hash()` (salted per process) or a random generator whose stream may change between versions.
"""

from __future__ import annotations

import base64
import colorsys
import functools
import hashlib
import io
import json
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from vidpipe_dagster.media.frames import write_png

SHEET_GAP = 8
"""Pixels around and between the cells of a contact sheet."""
SHEET_LABEL_HEIGHT = 28
"""Pixels under each contact-sheet thumbnail reserved for its label."""

_ELLIPSIS = "..."
_RAYS = 36
_SHAPES = 12
_RGB = tuple[int, int, int]
_Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


class _Dice:
    """A stream of numbers in [0, 1) derived from a label, the same in every process."""

    def __init__(self, *label: str | int) -> None:
        self._label = json.dumps(label).encode("utf-8")
        self._rolls = 0

    def unit(self) -> float:
        digest = hashlib.sha256(self._label + self._rolls.to_bytes(8, "big")).digest()
        self._rolls += 1
        return int.from_bytes(digest[:7], "big") / float(1 << 56)

    def between(self, low: float, high: float) -> float:
        return low + (high - low) * self.unit()


def _hsv(hue: float, saturation: float, value: float) -> _RGB:
    red, green, blue = colorsys.hsv_to_rgb(hue % 1.0, saturation, value)
    return round(red * 255), round(green * 255), round(blue * 255)


def _gradient(size: tuple[int, int], top: _RGB, bottom: _RGB) -> Image.Image:
    width, height = size
    weight = np.linspace(0.0, 1.0, height)[:, None, None]
    rows = (1.0 - weight) * np.array(top, dtype=np.float64) + weight * np.array(bottom)
    pixels = np.broadcast_to(rows, (height, width, 3)).round().astype(np.uint8)
    return Image.fromarray(pixels, "RGB")


@functools.cache
def _font(size: int) -> _Font:
    return ImageFont.load_default(size=size)


def _font_size(size: tuple[int, int], divisor: int) -> int:
    return max(10, min(size) // divisor)


def _line_height(font: _Font) -> int:
    return round(getattr(font, "size", 10) * 1.3)


def _rays(image: Image.Image, center: tuple[float, float], turn: float) -> Image.Image:
    """`image` lightened along alternate sectors around `center`, rotated by `turn` (0..1)."""
    mask = Image.new("L", image.size)
    draw = ImageDraw.Draw(mask)
    reach = 2 * (image.width + image.height)
    box = (center[0] - reach, center[1] - reach, center[0] + reach, center[1] + reach)
    sector = 360 / _RAYS
    for ray in range(_RAYS):
        start = 360 * turn + ray * sector
        draw.pieslice(box, start, start + sector / 2, fill=255)
    lit = Image.blend(image, Image.new("RGB", image.size, (255, 255, 255)), 0.18)
    return Image.composite(lit, image, mask)


def _ripples(image: Image.Image, center: tuple[float, float]) -> Image.Image:
    """`image` with faint concentric waves around `center`.

    A structure only a few pixels across is what SSIM's 7x7 windows see; without it two
    large-shape layouts look alike at 720p. Waves are smooth, so H.264 keeps them.
    """
    period = max(6.0, min(image.size) / 36)
    rows, columns = np.mgrid[0 : image.height, 0 : image.width]
    distance = np.hypot(columns - center[0], rows - center[1])
    wave = 20.0 * np.sin(distance * (2 * math.pi / period))
    pixels = np.asarray(image, dtype=np.float32) + wave[..., None]
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def _shorten(
    draw: ImageDraw.ImageDraw, line: str, font: _Font, max_width: float, cut: bool
) -> str:
    """`line` as is if it fits and was not `cut`, else its longest prefix that fits with '...'."""
    if not cut and draw.textlength(line, font=font) <= max_width:
        return line
    # Binary search: one unbreakable word may be thousands of characters long.
    low, high = 0, len(line)
    while low < high:
        middle = (low + high + 1) // 2
        if draw.textlength(line[:middle] + _ELLIPSIS, font=font) <= max_width:
            low = middle
        else:
            high = middle - 1
    return line[:low].rstrip() + _ELLIPSIS


def _fit_lines(
    draw: ImageDraw.ImageDraw, text: str, font: _Font, max_width: float, max_lines: int
) -> list[str]:
    """`text` word-wrapped to `max_width`, at most `max_lines` lines, '...' where it was cut."""
    lines: list[str] = []
    for word in text.split():
        if lines and draw.textlength(f"{lines[-1]} {word}", font=font) <= max_width:
            lines[-1] = f"{lines[-1]} {word}"
        elif len(lines) > max_lines:
            break
        else:
            lines.append(word)
    cut = len(lines) > max_lines
    lines = lines[:max_lines]
    return [
        _shorten(draw, line, font, max_width, cut and index == len(lines) - 1)
        for index, line in enumerate(lines)
    ]


def _text_band(image: Image.Image, texts: list[tuple[str, _Font, int]], *, top: bool) -> None:
    """Draw (text, font, max_lines) rows on a darkened full-width band at the top or bottom."""
    draw = ImageDraw.Draw(image)
    margin = max(4, min(image.size) // 40)
    rows = [
        (line, font)
        for text, font, max_lines in texts
        for line in _fit_lines(draw, text, font, image.width - 2 * margin, max_lines)
    ]
    if not rows:
        return
    band_height = sum(_line_height(font) for _, font in rows) + 2 * margin
    band_top = 0 if top else image.height - band_height
    box = (0, band_top, image.width, band_top + band_height)
    band = image.crop(box)
    image.paste(Image.blend(band, Image.new("RGB", band.size), 0.55), box[:2])
    y = box[1] + margin
    for line, font in rows:
        draw.text((margin, y), line, font=font, fill=(255, 255, 255))
        y += _line_height(font)


def draw_reference(
    title: str, description: str, *, seed: int, size: tuple[int, int], out: Path
) -> Path:
    """A reference card: a figure in a landscape whose colours and shapes follow title and seed,
    with the title (and as much of the description as fits) written on it."""
    width, height = size
    dice = _Dice("reference", title, seed)
    hue = dice.unit()
    image = _gradient(size, _hsv(hue, 0.35, 0.95), _hsv(hue + 0.08, 0.55, 0.75))
    draw = ImageDraw.Draw(image)
    unit = min(width, height)

    sun_radius = unit * dice.between(0.07, 0.13)
    sun_x, sun_y = width * dice.between(0.15, 0.85), height * dice.between(0.42, 0.52)
    draw.ellipse(
        (sun_x - sun_radius, sun_y - sun_radius, sun_x + sun_radius, sun_y + sun_radius),
        fill=_hsv(hue + 0.5, 0.45, 1.0),
    )
    step = max(2, width // 64)
    for layer in range(3):
        base = height * (0.58 + 0.1 * layer)
        amplitude = height * dice.between(0.03, 0.1)
        phase, waves = dice.between(0, 2 * math.pi), dice.between(0.8, 2.5)
        ridge = [
            (x, base - amplitude * math.sin(phase + waves * 2 * math.pi * x / width))
            for x in range(0, width + step, step)
        ]
        hills = _hsv(hue + 0.3, 0.5, 0.6 - 0.15 * layer)
        draw.polygon([*ridge, (width, height), (0, height)], fill=hills)

    figure_height = height * 0.42
    center = width * dice.between(0.3, 0.7)
    ground = height * 0.9
    head = figure_height * 0.13
    shoulders = ground - figure_height + 2 * head
    hips = ground - figure_height * 0.38
    limb = max(2, round(figure_height * 0.06))
    clothes = _hsv(dice.unit(), 0.8, 0.85)
    skin = _hsv(0.07, dice.between(0.25, 0.6), dice.between(0.45, 0.95))
    for side in (-1, 1):
        foot = (center + side * figure_height * 0.12, ground)
        draw.line((center, hips, *foot), fill=clothes, width=limb)
        reach = dice.between(-0.5, 0.9)
        hand = (center + side * figure_height * 0.28, shoulders + figure_height * 0.2 * (1 - reach))
        draw.line((center, shoulders + limb, *hand), fill=skin, width=limb)
    draw.rounded_rectangle(
        (center - figure_height * 0.11, shoulders, center + figure_height * 0.11, hips),
        radius=figure_height * 0.05,
        fill=clothes,
    )
    draw.ellipse((center - head, shoulders - 2 * head, center + head, shoulders), fill=skin)

    _text_band(
        image,
        [(title, _font(_font_size(size, 10)), 2), (description, _font(_font_size(size, 22)), 2)],
        top=True,
    )
    return write_png(image, out)


def _paste_references(image: Image.Image, references: list[Path], top: int) -> None:
    """Thumbnails of `references`, framed in white, side by side in a row starting at `top`."""
    draw = ImageDraw.Draw(image)
    unit = min(image.size)
    slot = image.width / len(references)
    border = max(1, unit // 90)
    for index, reference in enumerate(references):
        with Image.open(reference) as source:
            thumb = source.convert("RGB")
        thumb.thumbnail((max(4, min(image.width // 5, round(slot) - 4 * border)), unit // 3))
        left = round(slot * index + (slot - thumb.width) / 2)
        right, bottom = left + thumb.width, top + thumb.height
        draw.rectangle((left - border, top - border, right + border, bottom + border), fill="white")
        image.paste(thumb, (left, top))


def draw_keyframe(
    *,
    caption: str,
    palette_seed: int,
    layout_seed: int,
    references: list[Path],
    size: tuple[int, int],
    out: Path,
) -> Path:
    """A scene: colours from `palette_seed`, where things stand from `layout_seed`, thumbnails of
    `references` in a row, and the caption along the bottom."""
    width, height = size
    unit = min(width, height)
    palette = _Dice("palette", palette_seed)
    hue = palette.unit()
    image = _gradient(size, _hsv(hue, 0.45, 0.95), _hsv(hue + 0.12, 0.7, 0.35))
    colors = [
        _hsv(
            hue + offset + palette.between(-0.05, 0.05),
            palette.between(0.5, 0.95),
            palette.between(0.3, 1.0),
        )
        for offset in (0.0, 0.33, 0.5, 0.66, 0.15)
    ]
    layout = _Dice("layout", layout_seed)

    # Light rays, ripples, a tilted horizon and large shapes, all placed by the layout: two
    # layouts must differ in structure almost everywhere, or a clip between them barely moves.
    image = _rays(image, (width * layout.unit(), height * layout.between(0.0, 0.5)), layout.unit())
    image = _ripples(image, (width * layout.unit(), height * layout.unit()))
    draw = ImageDraw.Draw(image)
    left, right = height * layout.between(0.4, 0.85), height * layout.between(0.4, 0.85)
    draw.polygon([(0, left), (width, right), (width, height), (0, height)], fill=colors[4])
    outline = max(1, unit // 120)
    for index in range(_SHAPES):
        radius = math.sqrt(width * height) * layout.between(0.06, 0.2)
        x, y = width * layout.unit(), height * layout.unit()
        box = (x - radius, y - radius, x + radius, y + radius)
        color, kind = colors[index % 4], layout.unit()
        if kind < 1 / 3:
            draw.ellipse(box, fill=color, outline=(255, 255, 255), width=outline)
        elif kind < 2 / 3:
            draw.rectangle(box, fill=color, outline=(0, 0, 0), width=outline)
        else:
            turn = layout.between(0, 2 * math.pi)
            corners = [
                (x + radius * math.cos(angle), y + radius * math.sin(angle))
                for angle in (turn, turn + 2 * math.pi / 3, turn + 4 * math.pi / 3)
            ]
            draw.polygon(corners, fill=color, outline=(255, 255, 255), width=outline)

    if references:
        _paste_references(image, references, top=round(height * layout.between(0.04, 0.4)))
    _text_band(image, [(caption, _font(_font_size(size, 20)), 2)], top=False)
    return write_png(image, out)


def contact_sheet(
    frames: list[tuple[str, Path]], out: Path, *, thumb_width: int = 320, columns: int = 4
) -> Path:
    """One `thumb_width`-wide thumbnail per (label, image) in rows of `columns`, label beneath.

    The sheet is `min(columns, n) * thumb_width + (min(columns, n) + 1) * SHEET_GAP` wide and
    `rows * (tallest thumbnail + SHEET_LABEL_HEIGHT) + (rows + 1) * SHEET_GAP` high.
    """
    if not frames:
        raise ValueError("a contact sheet needs at least one frame")
    if thumb_width < 1 or columns < 1:
        raise ValueError(f"thumb_width {thumb_width} and columns {columns} must be positive")
    thumbs = []
    for label, path in frames:
        with Image.open(path) as source:
            image = source.convert("RGB")
        thumb_height = max(1, round(image.height * thumb_width / image.width))
        thumbs.append((label, image.resize((thumb_width, thumb_height), Image.Resampling.LANCZOS)))
    used_columns = min(columns, len(thumbs))
    rows = math.ceil(len(thumbs) / used_columns)
    cell_height = max(thumb.height for _, thumb in thumbs) + SHEET_LABEL_HEIGHT
    sheet = Image.new(
        "RGB",
        (
            used_columns * thumb_width + (used_columns + 1) * SHEET_GAP,
            rows * cell_height + (rows + 1) * SHEET_GAP,
        ),
        (24, 24, 24),
    )
    draw = ImageDraw.Draw(sheet)
    font = _font(16)
    for index, (label, thumb) in enumerate(thumbs):
        row, column = divmod(index, used_columns)
        x = SHEET_GAP + column * (thumb_width + SHEET_GAP)
        y = SHEET_GAP + row * (cell_height + SHEET_GAP)
        sheet.paste(thumb, (x, y))
        for line in _fit_lines(draw, label, font, thumb_width, 1):
            draw.text((x, y + thumb.height + 5), line, font=font, fill=(235, 235, 235))
    return write_png(sheet, out)


def jpeg_data_uri(path: Path, width: int) -> str:
    """A small JPEG of an image as a data: URI, for pages and metadata that must not fetch anything."""
    with Image.open(path) as image:
        image = image.convert("RGB")
        image.thumbnail((width, width))
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=70)
    return f"data:image/jpeg;base64,{base64.b64encode(buffer.getvalue()).decode()}"
