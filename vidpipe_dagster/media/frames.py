"""Looking at decoded pictures: first and last frames, similarity, and one pass over a whole clip
that every measure of it is computed from."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from vidpipe_dagster.media.ffmpeg import MediaError
from vidpipe_dagster.media.probe import open_video

_SSIM_WINDOW = 7
_SSIM_C1 = (0.01 * 255) ** 2
_SSIM_C2 = (0.03 * 255) ** 2
# Statistics are means over the picture, so a small gray copy answers them as well as the full
# frame at a fraction of the conversion cost.
_STATS_WIDTH = 96
# Height of the pictures in a frame strip.
STRIP_HEIGHT = 90


def write_png(image: Image.Image, out: Path) -> Path:
    """Save `image` as a new PNG at `out`; an existing file is never replaced."""
    with open(out, "xb") as stream:
        try:
            image.save(stream, format="PNG")
        except BaseException:
            Path(out).unlink(missing_ok=True)
            raise
    return Path(out)


def first_frame(video: Path) -> Image.Image:
    with open_video(video) as (container, stream):
        for frame in container.decode(stream):
            return frame.to_image()
    raise MediaError(f"{video} has no video frames")


def last_frame(video: Path) -> Image.Image:
    """The last frame in presentation order."""
    last = None
    with open_video(video) as (container, stream):
        if stream.duration:
            # Only the frames after the last keyframe need decoding: long cuts stay cheap.
            end = (stream.start_time or 0) + stream.duration
            container.seek(end, stream=stream, backward=True)
        for last in container.decode(stream):
            pass
    if last is None:
        raise MediaError(f"{video} has no video frames")
    return last.to_image()


def extract_last_frame(video: Path, out_png: Path) -> Path:
    return write_png(last_frame(video), out_png)


def _window_means(values: np.ndarray) -> np.ndarray:
    # Box sums from a summed-area table: every 7x7 window mean without a per-window loop.
    table = np.pad(values, ((1, 0), (1, 0))).cumsum(axis=0).cumsum(axis=1)
    k = _SSIM_WINDOW
    sums = table[k:, k:] - table[:-k, k:] - table[k:, :-k] + table[:-k, :-k]
    return sums / (k * k)


def ssim(a: Image.Image, b: Image.Image) -> float:
    """Mean structural similarity of the grayscale pictures (1.0 = identical), 7x7 windows.

    `b` is resized to `a`'s size when they differ.
    """
    if b.size != a.size:
        b = b.resize(a.size, Image.Resampling.BICUBIC)
    x = np.asarray(a.convert("L"), dtype=np.float64)
    y = np.asarray(b.convert("L"), dtype=np.float64)
    if min(x.shape) < _SSIM_WINDOW:
        raise ValueError(f"images of {a.size} are smaller than the {_SSIM_WINDOW}px SSIM window")
    mean_x, mean_y = _window_means(x), _window_means(y)
    var_x = _window_means(x * x) - mean_x * mean_x
    var_y = _window_means(y * y) - mean_y * mean_y
    covariance = _window_means(x * y) - mean_x * mean_y
    similarity = ((2 * mean_x * mean_y + _SSIM_C1) * (2 * covariance + _SSIM_C2)) / (
        (mean_x * mean_x + mean_y * mean_y + _SSIM_C1) * (var_x + var_y + _SSIM_C2)
    )
    return float(similarity.mean())


@dataclass(frozen=True)
class DecodedClip:
    """What one decoding pass over a clip yields, enough for every measure, judge and page that
    looks at it: each frame's mean luma and its change from the frame before (at a reduced size),
    the first and last pictures whole, and a small picture of every frame for a strip."""

    lumas: list[float]
    changes: list[float]
    first: Image.Image
    last: Image.Image
    thumbnails: list[Image.Image]


def decode_clip(video: Path, thumbnail_height: int = STRIP_HEIGHT) -> DecodedClip:
    """Decode every frame of `video` once."""
    lumas: list[float] = []
    changes: list[float] = []
    thumbnails: list[Image.Image] = []
    first: Image.Image | None = None
    last = None
    previous: np.ndarray | None = None
    with open_video(video) as (container, stream):
        width = _STATS_WIDTH
        height = max(1, round(width * stream.height / stream.width))
        thumbnail_width = max(1, round(thumbnail_height * stream.width / stream.height))
        for frame in container.decode(stream):
            if first is None:
                first = frame.to_image()
            gray = frame.to_ndarray(format="gray", width=width, height=height).astype(np.float32)
            lumas.append(float(gray.mean()))
            if previous is not None:
                changes.append(float(np.abs(gray - previous).mean()))
            previous = gray
            thumbnails.append(frame.to_image(width=thumbnail_width, height=thumbnail_height))
            last = frame
    if first is None:
        raise MediaError(f"{video} has no video frames")
    return DecodedClip(lumas=lumas, changes=changes, first=first, last=last.to_image(), thumbnails=thumbnails)


@dataclass(frozen=True)
class FrameStats:
    """How dark and how still a clip is.

    `black_frame_ratio`: fraction of frames whose mean luma (0..255, full range) is below the
    black threshold. `frozen_frame_ratio`: fraction of consecutive frame pairs whose mean absolute
    luma difference is below the frozen threshold (0.0 for a single frame).
    """

    frames: int
    black_frame_ratio: float
    frozen_frame_ratio: float
    mean_luma: float


def frame_stats(decoded: DecodedClip, black_luma: float = 16.0, frozen_delta: float = 0.5) -> FrameStats:
    """Darkness and stillness of a decoded clip, under the given thresholds."""
    frames = len(decoded.lumas)
    black = sum(luma < black_luma for luma in decoded.lumas)
    frozen = sum(change < frozen_delta for change in decoded.changes)
    return FrameStats(
        frames=frames,
        black_frame_ratio=black / frames,
        frozen_frame_ratio=frozen / len(decoded.changes) if decoded.changes else 0.0,
        mean_luma=sum(decoded.lumas) / frames,
    )


def frame_strip(pictures: list[Image.Image], count: int = 6, height: int = STRIP_HEIGHT) -> Image.Image:
    """`count` of `pictures` (a clip's frames) spread evenly over the clip, side by side: what the
    clip does, at a glance."""
    if not pictures:
        raise MediaError("a frame strip needs at least one frame")
    picks = [pictures[round(i * (len(pictures) - 1) / max(1, count - 1))] for i in range(count)]
    width = round(picks[0].width * height / picks[0].height)
    strip = Image.new("RGB", (width * count + 2 * (count - 1), height), "white")
    for index, picture in enumerate(picks):
        strip.paste(picture.convert("RGB").resize((width, height)), (index * (width + 2), 0))
    return strip
