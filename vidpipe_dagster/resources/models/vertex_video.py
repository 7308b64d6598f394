"""`VertexVideoModel`: Veo clips from a start to an end keyframe at the project's resolution,
with Veo's own sound when asked, polled to completion, then conformed for a stream-copy stitch
(a clip that already conforms is stored as Veo made it)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagster import ConfigurableResource
from pydantic import Field

from vidpipe_dagster.domain import ModelCall, Scene
from vidpipe_dagster.log_context import get_logger
from vidpipe_dagster.media.conform import StitchFormat, conform_clip
from vidpipe_dagster.media.ffmpeg import MediaError
from vidpipe_dagster.resources.models.operation_journal import operation_journal
from vidpipe_dagster.resources.models.vertex_client import (
    CallRecorder,
    SafetyBlocked,
    VertexError,
    VertexResponseError,
    VertexSettings,
    VertexTimeout,
)
from vidpipe_dagster.resources.models.vertex_helpers import mime_type_for, snap_duration, video_aspect_ratio
from vidpipe_dagster.resources.models.vertex_image import DEFAULT_NEGATIVE_PROMPT
from vidpipe_dagster.timing import FPS

if TYPE_CHECKING:
    from google import genai
    from google.genai import types

logger = get_logger("vertex")

DEFAULT_VIDEO_MODEL = "veo-3.1-generate-001"

_SAFETY_WORDS = ("safety", "responsible ai", "usage guidelines", "rai", "sensitive", "prohibited", "blocked", "policy")


def veo_resolution(size: tuple[int, int]) -> str | None:
    """The `resolution` Veo is asked for: the frame's short side as '720p' or '1080p'; None (Veo's
    default) for any other size, which is then conformed to `size`."""
    short = f"{min(size)}p"
    return short if short in ("720p", "1080p") else None


def _operation_error_is_safety(error: dict[str, Any]) -> bool:
    message = str(error.get("message", "")).lower()
    return any(word in message for word in _SAFETY_WORDS)


class VertexVideoModel(ConfigurableResource):
    """Clips from Veo on Vertex AI, from a start keyframe to an end keyframe (`VideoModel`)."""

    settings: VertexSettings
    model: str = Field(default=DEFAULT_VIDEO_MODEL, description="Veo model id.")
    negative_prompt: str | None = Field(default=DEFAULT_NEGATIVE_PROMPT)
    poll_interval_s: float = Field(default=10.0, gt=0, description="Wait between operation polls.")
    operation_timeout_s: float = Field(default=900.0, gt=0, description="Give up on an operation after this long.")
    output_gcs_uri: str | None = Field(
        default=None,
        description="gs://bucket/prefix for Veo to write to (then streamed down); inline bytes if unset.",
    )
    default_resolution: str = Field(default="720p", description="Resolution of a project whose brief sets none: '720p' or '1080p'.")

    def clip(
        self,
        *,
        prompt: str,
        scene: Scene,
        start_frame: Path,
        end_frame: Path,
        out: Path,
        size: tuple[int, int],
        seed: int,
        audio: bool = False,
    ) -> ModelCall:
        from google.genai import types

        model = self.model
        recorder = CallRecorder(model)
        duration = snap_duration(scene.duration_s)
        veo2 = model.startswith("veo-2")
        # Veo 3 takes 4, 6 or 8 s; Veo 2 takes 5-8 s and has no audio: a 4 s scene is asked for 5 s
        # and cut back to 4 s when the clip is conformed.
        request_duration = max(duration, 5) if veo2 else duration
        what = f"render the clip of scene {scene.number}"
        output_uri = None
        if self.output_gcs_uri:
            if not self.output_gcs_uri.startswith("gs://"):
                raise VertexError(f"output_gcs_uri {self.output_gcs_uri!r} must start with gs://", model=model)
            output_uri = f"{self.output_gcs_uri.rstrip('/')}/{uuid.uuid4().hex}/"
        config = types.GenerateVideosConfig(
            number_of_videos=1,
            duration_seconds=request_duration,
            aspect_ratio=video_aspect_ratio(size),
            negative_prompt=self.negative_prompt or None,
            seed=seed % (2**32),
            last_frame=types.Image(
                image_bytes=Path(end_frame).read_bytes(), mime_type=mime_type_for(Path(end_frame).name)
            ),
            output_gcs_uri=output_uri,
            # Veo 2 makes no sound and takes no resolution; Veo 3 is asked for both.
            generate_audio=None if veo2 else audio,
            resolution=None if veo2 else veo_resolution(size),
        )
        start = types.Image(image_bytes=Path(start_frame).read_bytes(), mime_type=mime_type_for(Path(start_frame).name))
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        raw = out.with_name(f"{out.stem}.veo-{uuid.uuid4().hex[:8]}.mp4")

        with self.settings.client(model) as client:

            def attempt(text: str) -> types.Video:
                # A worker that crashed while polling this very request left its operation to resume.
                if resumed := operation_journal().take_resumable():
                    operation = types.GenerateVideosOperation(name=resumed)
                    recorder.count("resumed_operations")
                else:
                    operation = self.settings.call(
                        model=model,
                        what=what,
                        recorder=recorder,
                        fn=lambda: client.models.generate_videos(
                            model=model, source=types.GenerateVideosSource(prompt=text, image=start), config=config
                        ),
                    )
                    recorder.count("operations")
                    if operation.name:
                        operation_journal().started(operation.name)
                operation = self._wait(client, recorder, operation, what=what)
                return self._video_of(operation, what=what)

            video = self.settings.with_safety_retry(
                model=model, what=what, prompt=prompt, recorder=recorder, attempt=attempt
            )
        try:
            self._save(video, raw, what=what)
            try:
                changed = conform_clip(raw, out, StitchFormat(size=size, fps=FPS, audio=audio and not veo2), duration)
            except MediaError as exc:
                raise VertexResponseError(f"{model}: the returned video could not be used: {exc}", model=model) from None
        finally:
            raw.unlink(missing_ok=True)
        if changed:
            logger.info("%s clip of scene %d conformed for stitching: %s", model, scene.number, ", ".join(changed))
        recorder.count("conformed", 1 if changed else 0)
        recorder.count("video_seconds", duration)
        return recorder.model_call()

    def _wait(
        self, client: genai.Client, recorder: CallRecorder, operation: types.GenerateVideosOperation, *, what: str
    ) -> types.GenerateVideosOperation:
        model = self.model
        if not operation.name:
            raise VertexResponseError(f"{model} could not {what}: the answer names no operation", model=model)
        name = operation.name
        started = time.monotonic()
        polls = 0
        while not operation.done:
            elapsed = time.monotonic() - started
            if elapsed >= self.operation_timeout_s:
                raise VertexTimeout(
                    f"{model} could not {what}: operation {name} was not done after "
                    f"{self.operation_timeout_s:g}s ({polls} polls); it may still finish (and be billed) "
                    "on Vertex AI",
                    model=model,
                )
            time.sleep(min(self.poll_interval_s, max(self.operation_timeout_s - elapsed, 0.0)))
            operation = self.settings.call(
                model=model,
                what=f"{what} (poll {name})",
                recorder=recorder,
                fn=lambda current=operation: client.operations.get(current),
            )
            polls += 1
            recorder.count("polls")
            logger.info("%s operation %s: poll %d, %.0fs elapsed, %s", model, name, polls, time.monotonic() - started, "done" if operation.done else "still running")
            if not operation.name:
                operation.name = name
        logger.info("%s operation %s done after %d polls, %.1fs", model, name, polls, time.monotonic() - started)
        return operation

    def _video_of(self, operation: types.GenerateVideosOperation, *, what: str) -> types.Video:
        model = self.model
        if operation.error:
            if _operation_error_is_safety(operation.error):
                raise SafetyBlocked(str(operation.error.get("message", "filtered")))
            raise VertexError(
                f"{model} could not {what}: operation {operation.name} failed with code "
                f"{operation.error.get('code')}: {operation.error.get('message', '')}",
                model=model,
            )
        result = operation.response or operation.result
        videos = (result.generated_videos if result else None) or []
        for generated in videos:
            if generated.video is not None and (generated.video.video_bytes or generated.video.uri):
                return generated.video
        if result is not None and (result.rai_media_filtered_count or result.rai_media_filtered_reasons):
            reasons = "; ".join(result.rai_media_filtered_reasons or []) or "filtered by responsible-AI checks"
            raise SafetyBlocked(reasons)
        raise VertexResponseError(
            f"{model} could not {what}: operation {operation.name} finished without a video", model=model
        )

    def _save(self, video: types.Video, path: Path, *, what: str) -> None:
        model = self.model
        if video.video_bytes:
            path.write_bytes(video.video_bytes)
            return
        uri = video.uri or ""
        if not uri.startswith("gs://"):
            raise VertexResponseError(
                f"{model} could not {what}: the video has neither bytes nor a gs:// URI", model=model
            )
        from google.cloud.storage import Blob  # noqa: PLC0415 - only needed with output_gcs_uri

        try:
            from_uri = getattr(Blob, "from_uri", None) or Blob.from_string
            blob = from_uri(uri, client=self.settings.gcs_client())
            blob.download_to_filename(str(path), timeout=self.settings.request_timeout_s)
        except Exception as exc:  # noqa: BLE001 - storage raises many types; name the object
            path.unlink(missing_ok=True)
            raise VertexError(
                f"{model} could not {what}: downloading {uri} failed: {self.settings.redact(str(exc))}", model=model
            ) from None
