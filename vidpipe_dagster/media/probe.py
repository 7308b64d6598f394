"""What a media file contains, read with PyAV so no ffprobe binary is needed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from vidpipe_dagster.domain import MediaFacts
from vidpipe_dagster.media.ffmpeg import MediaError

if TYPE_CHECKING:
    from av.container import InputContainer
    from av.stream import Stream
    from av.video.stream import VideoStream


@contextmanager
def open_stream(path: Path, kind: Literal["video", "audio"]) -> Iterator[tuple[InputContainer, Stream]]:
    """The container and its first `kind` stream; any PyAV failure becomes a MediaError."""
    # PyAV is imported on first use, not with the module: the code server, the CLI and every run
    # worker import the definitions, and most of them never open a media file.
    import av

    try:
        with av.open(str(path)) as container:
            streams = getattr(container.streams, kind)
            if not streams:
                raise MediaError(f"{path} has no {kind} stream")
            yield container, streams[0]
    except av.FFmpegError as exc:
        raise MediaError(f"cannot read {kind} {path}: {exc}") from None


@contextmanager
def open_video(path: Path) -> Iterator[tuple[InputContainer, VideoStream]]:
    """The container and its first video stream, decoded on several threads."""
    with open_stream(path, "video") as (container, stream):
        stream.thread_type = "AUTO"
        yield container, stream


def probe(path: Path) -> MediaFacts:
    """Facts about the first video stream of `path` and whether there is audio beside it.

    `duration_s` is the video's duration: frames divided by the frame rate when both are known,
    which is exact for constant-rate clips.
    """
    with open_video(path) as (container, video):
        audio = container.streams.audio[0] if container.streams.audio else None
        audio_codec = audio.codec_context.name if audio else None
        audio_channels = audio.codec_context.channels if audio else None
        audio_sample_rate = audio.codec_context.sample_rate if audio else None
        codec = video.codec_context.name
        pixel_format = video.codec_context.pix_fmt or ""
        width, height = video.codec_context.width, video.codec_context.height
        rate = video.average_rate or video.guessed_rate
        container_duration = container.duration
        # Some containers (Matroska, WebM) do not record a frame count; decoding is the only
        # exact count there.
        frame_count = video.frames or sum(1 for _ in container.decode(video))
    if rate:
        duration_s = frame_count / float(rate)
        fps = float(rate)
    elif container_duration:
        from av import time_base

        duration_s = container_duration / time_base
        fps = frame_count / duration_s
    else:
        raise MediaError(f"{path} records neither a frame rate nor a duration")
    return MediaFacts(
        duration_s=duration_s,
        frame_count=frame_count,
        width=width,
        height=height,
        fps=fps,
        video_codec=codec,
        pixel_format=pixel_format,
        has_audio=audio is not None,
        audio_codec=audio_codec,
        audio_channels=audio_channels,
        audio_sample_rate=audio_sample_rate,
    )
