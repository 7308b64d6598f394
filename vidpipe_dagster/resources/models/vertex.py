"""The `vertex` model backend: Gemini storyboards, Imagen / Gemini images, Veo clips, a Gemini judge.

Every resource talks to Vertex AI through Google's `google-genai` SDK in Vertex AI mode and shares
one nested `VertexSettings` (project, location, credentials, timeouts, retries). Nothing happens at
import or definition load; a client is built for each model-method call.

- `VertexTextModel.write_storyboard`: Gemini with `response_mime_type="application/json"` and a
  pydantic `response_schema` (`StoryboardDraft`); the answer is normalised (renumbered, durations
  snapped to 4/6/8 or set from `scene_durations`, ids slugged) and validated as `Storyboard`; an
  invalid answer gets one corrective turn, then `StoryboardInvalid` names the problem.
- `VertexTextModel.audio_phrases`: the same Gemini model hears the track (an inline audio part: the
  file itself when Gemini reads its type and it is small enough, else a 16 kHz mono WAV copy) and
  answers in `PhrasesAnswer` (`{phrases: [{start_s, label}]}`); the starts are validated, sorted
  and kept inside the track, with the same corrective turn, then `AudioPhrasesInvalid`.
- `VertexImageModel`: keyframes with a Gemini image model (`generate_content` with the reference
  images and the previous frame as inline image parts, `response_modalities` TEXT+IMAGE): Gemini
  image models take several input images in one request, which Imagen's `edit_image` does not do
  cleanly (and google-genai 3.x deprecates `edit_image` and `generate_images` in favour of exactly
  this). Reference images use the same Gemini image model by default, or Imagen
  (`generate_images`, the `:predict` endpoint) when `reference_model` is an `imagen-*` id.
  Output: PNG, centre-cropped and resized to `size`.
- `VertexVideoModel.clip`: Veo `generate_videos` with the start keyframe as `image` and the end
  keyframe as `last_frame`, duration 4/6/8 s, aspect ratio, negative prompt and seed; the
  long-running operation is polled until done or `operation_timeout_s`; the video comes back inline
  or, with `output_gcs_uri`, is streamed down from GCS; it is then normalised to the pipeline's
  frame size and frame rate (H.264, no audio) so clips stitch without re-encoding.
- `VertexJudge.judge`: Gemini scores the clip (the MP4 inline as a video part; when it is larger
  than `max_inline_bytes`, evenly sampled frames as JPEG parts; an image file as an image part) on
  the old system's five categories, 0-10 each, with issues and a prompt correction;
  `JudgeVerdict.score` is the `JUDGE_WEIGHTS` weighted mean normalised to 0..1 and
  `JudgeVerdict.categories` holds the five scores normalised to 0..1.

Safety blocks are retried once with `sanitize_prompt(prompt)`, then raise `ModelRefused`. 429 and
5xx answers back off exponentially with jitter (honouring Retry-After / RetryInfo) for at most
`max_attempts`. Every request carries `request_timeout_s`. Each method returns a `ModelCall` with
the model id, the wall time and its usage (requests, retries, tokens, polls, ...); credentials
never enter a message, a log line or metadata.
"""

from __future__ import annotations

import io
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from dagster import ConfigurableResource, EnvVar
from google import genai
from google.genai import types
from pydantic import Field

from vidpipe_dagster.domain import (
    Brief,
    Character,
    InvalidInput,
    JudgeVerdict,
    Location,
    ModelCall,
    Scene,
    Storyboard,
)
from vidpipe_dagster.log_context import get_logger
from vidpipe_dagster.media.audio import wav_bytes
from vidpipe_dagster.resources.models.vertex_client import (
    CallRecorder,
    ModelRefused,
    SafetyBlocked,
    VertexError,
    VertexRequestFailed,
    VertexResponseError,
    VertexSettings,
    VertexTimeout,
    VertexUnavailable,
    gemini_image,
    gemini_text,
    imagen_image,
)
from vidpipe_dagster.resources.models.vertex_helpers import (
    JUDGE_WEIGHTS,
    JudgeAnswer,
    OutputInvalid,
    PhrasesAnswer,
    StoryboardDraft,
    fit_png,
    judge_categories,
    judge_correction,
    mime_type_for,
    nearest_aspect_ratio,
    normalize_storyboard,
    parse_judge_answer,
    parse_phrases,
    phrases_prompt,
    sanitize_prompt,
    snap_duration,
    storyboard_prompt,
    video_aspect_ratio,
    weighted_score,
)

__all__ = [
    "JUDGE_WEIGHTS",
    "AudioPhrasesInvalid",
    "ModelRefused",
    "StoryboardInvalid",
    "VertexError",
    "VertexImageModel",
    "VertexJudge",
    "VertexRequestFailed",
    "VertexResponseError",
    "VertexSettings",
    "VertexTextModel",
    "VertexTimeout",
    "VertexUnavailable",
    "VertexVideoModel",
    "sanitize_prompt",
    "snap_duration",
    "vertex_model_resources",
    "weighted_score",
]

logger = get_logger("vertex")

T = TypeVar("T")

DEFAULT_TEXT_MODEL = "gemini-2.5-pro"
DEFAULT_JUDGE_MODEL = "gemini-2.5-flash"
DEFAULT_REFERENCE_MODEL = "gemini-2.5-flash-image"
DEFAULT_KEYFRAME_MODEL = "gemini-2.5-flash-image"
DEFAULT_VIDEO_MODEL = "veo-3.1-generate-001"
DEFAULT_NEGATIVE_PROMPT = "blurry, low quality, distorted faces, extra limbs, flicker, text, captions, watermark, logo"

STORYBOARD_SYSTEM = (
    "You are the storyboard artist of a short-film studio. You turn a creative brief into a "
    "storyboard that image and video models can follow shot by shot. Answer with JSON only, in the "
    "schema given. Keep characters and locations visually consistent across scenes, describe only "
    "what a camera can see, and keep every scene feasible as one continuous 4-8 second shot."
)
JUDGE_SYSTEM = (
    "You are a strict film editor reviewing one generated clip of a storyboard. Score it 0-10 on "
    "each category (10 = flawless), list concrete issues, and write a short prompt correction "
    "that would fix them on the next attempt. Answer with JSON only, in the schema given."
)
PHRASES_SYSTEM = (
    "You are a film editor who cuts pictures to music. Listen to the attached audio track and mark "
    "where its musical phrases and sections begin. Answer with JSON only, in the schema given."
)
CORRECTION_PROMPT = (
    "Your previous answer was not valid: {problem}. Answer again with the complete corrected JSON "
    "only, following the schema exactly."
)


class StoryboardInvalid(VertexResponseError):
    """Gemini's storyboard did not validate, also after one corrective turn."""


class AudioPhrasesInvalid(VertexResponseError):
    """Gemini's list of phrases did not validate, also after one corrective turn."""


class JudgeAnswerInvalid(VertexResponseError):
    """The judge's answer did not validate, also after one corrective turn."""


# --- Gemini JSON answers, shared by the storyboard and the judge ------------------------------


def _gemini_json(
    settings: VertexSettings,
    client: genai.Client,
    recorder: CallRecorder,
    *,
    model: str,
    what: str,
    prompt: str,
    system: str,
    schema: type,
    parse: Callable[[str], T],
    invalid_error: type[VertexResponseError],
    media_parts: list[types.Part] | None = None,
    temperature: float | None = None,
    seed: int | None = None,
    max_output_tokens: int | None = None,
) -> T:
    """Ask Gemini for JSON in `schema`, parse it with `parse`; one corrective turn on invalid output,
    one sanitized retry on a safety block."""
    config = types.GenerateContentConfig(
        system_instruction=system,
        response_mime_type="application/json",
        response_schema=schema,
        temperature=temperature,
        seed=seed,
        max_output_tokens=max_output_tokens,
        candidate_count=1,
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )

    def generate(contents: list[types.Content]) -> str:
        response = settings.generate_content(
            client, model=model, what=what, recorder=recorder, contents=contents, config=config
        )
        return gemini_text(response, model=model, what=what)

    def attempt(text: str) -> T:
        contents = [types.Content(role="user", parts=[types.Part.from_text(text=text), *(media_parts or [])])]
        answer = generate(contents)
        try:
            return parse(answer)
        except OutputInvalid as problem:
            logger.warning("%s gave an invalid answer to %s (%s); asking once for a correction", model, what, problem)
            recorder.count("corrective_retries")
            contents = [
                *contents,
                types.Content(role="model", parts=[types.Part.from_text(text=answer)]),
                types.Content(
                    role="user", parts=[types.Part.from_text(text=CORRECTION_PROMPT.format(problem=problem))]
                ),
            ]
        answer = generate(contents)
        try:
            return parse(answer)
        except OutputInvalid as problem:
            raise invalid_error(
                f"{model} could not {what}: its answer was invalid twice (after one corrective turn): {problem}",
                model=model,
            ) from None

    return settings.with_safety_retry(model=model, what=what, prompt=prompt, recorder=recorder, attempt=attempt)


# --- Text ---------------------------------------------------------------------------------------


# Gemini hears audio as 16 kHz mono, so a copy in that form keeps everything it would use.
_GEMINI_AUDIO_RATE = 16_000


class VertexTextModel(ConfigurableResource):
    """Storyboards and an audio track's phrases from Gemini on Vertex AI (satisfies `TextModel`)."""

    settings: VertexSettings
    model: str = Field(default=DEFAULT_TEXT_MODEL, description="Gemini model id for storyboards and audio phrases.")
    temperature: float = Field(default=0.8, ge=0, le=2)
    max_output_tokens: int | None = Field(default=None, description="Cap on answer tokens; model default if unset.")
    max_inline_bytes: int = Field(
        default=14_000_000,
        ge=1,
        description="A larger audio track is sent as a 16 kHz mono WAV copy (inline requests are capped near 20 MB after base64).",
    )

    def write_storyboard(self, brief: Brief, scene_durations: list[int] | None = None) -> tuple[Storyboard, ModelCall]:
        recorder = CallRecorder(self.model)
        prompt = storyboard_prompt(brief, scene_durations)
        with self.settings.client(self.model) as client:
            storyboard = _gemini_json(
                self.settings,
                client,
                recorder,
                model=self.model,
                what="write the storyboard",
                prompt=prompt,
                system=STORYBOARD_SYSTEM,
                schema=StoryboardDraft,
                parse=lambda text: normalize_storyboard(text, brief, scene_durations),
                invalid_error=StoryboardInvalid,
                temperature=self.temperature,
                seed=brief.seed,
                max_output_tokens=self.max_output_tokens,
            )
        recorder.count("scenes", len(storyboard.scenes))
        return storyboard, recorder.model_call()

    def audio_phrases(self, audio: Path, duration_s: float) -> tuple[list[float], ModelCall]:
        recorder = CallRecorder(self.model)
        part = self._audio_part(Path(audio), recorder)
        with self.settings.client(self.model) as client:
            phrases = _gemini_json(
                self.settings,
                client,
                recorder,
                model=self.model,
                what="find the phrases of the audio track",
                prompt=phrases_prompt(duration_s),
                system=PHRASES_SYSTEM,
                schema=PhrasesAnswer,
                parse=lambda text: parse_phrases(text, duration_s),
                invalid_error=AudioPhrasesInvalid,
                media_parts=[part],
                temperature=0.0,  # a track is cut the same way each time it is heard
            )
        recorder.count("phrases", len(phrases))
        return phrases, recorder.model_call()

    def _audio_part(self, audio: Path, recorder: CallRecorder) -> types.Part:
        """The track as Gemini gets it: the file itself when Gemini reads its type and it fits
        inline, else a 16 kHz mono WAV copy; a track too long even then is refused."""
        mime_type = mime_type_for(audio.name)
        if mime_type.startswith("audio/") and audio.stat().st_size <= self.max_inline_bytes:
            data = audio.read_bytes()
        else:
            data, mime_type = wav_bytes(audio, _GEMINI_AUDIO_RATE), "audio/wav"
        if len(data) > self.max_inline_bytes:
            raise InvalidInput(
                f"brief.audio: the track is too long for {self.model} to hear in one request: "
                f"{len(data) / 1e6:.1f} MB as 16 kHz mono WAV, over the {self.max_inline_bytes / 1e6:.1f} MB "
                "limit (max_inline_bytes); use a shorter track"
            )
        recorder.count("input_audio_bytes", len(data))
        return types.Part.from_bytes(data=data, mime_type=mime_type)


# --- Images -------------------------------------------------------------------------------------


def _image_part(path: Path) -> types.Part:
    return types.Part.from_bytes(data=Path(path).read_bytes(), mime_type=mime_type_for(Path(path).name))


def _reference_prompt(subject: Character | Location, storyboard: Storyboard) -> str:
    style = storyboard.metadata.style
    if isinstance(subject, Character):
        return (
            f"Character reference sheet, {style} style: {subject.name}. {subject.description} "
            "Full figure, neutral pose, facing the camera, plain uncluttered background, even light."
        )
    return (
        f"Location reference, {style} style: {subject.name}. {subject.description} "
        "Wide establishing view, no people, no text."
    )


def _keyframe_prompt(prompt: str, storyboard: Storyboard, scene: Scene, references: list[Path], previous: bool) -> str:
    lines = [
        f"Generate one {storyboard.metadata.aspect_ratio} film frame, {storyboard.metadata.style} style.",
        prompt,
    ]
    if references:
        lines.append(
            "The first images attached are reference images of the characters and the location: keep "
            "faces, clothing, proportions and the place exactly as they look there."
        )
    if previous:
        lines.append(
            "The last image attached is the frame this one continues from: keep the same characters, "
            "setting, lighting and colour palette, and move the action on as described."
        )
    lines.append("No text, captions, borders or watermarks.")
    return "\n".join(line for line in lines if line)


class VertexImageModel(ConfigurableResource):
    """Reference images (Imagen or Gemini) and keyframes (Gemini image) on Vertex AI (`ImageModel`)."""

    settings: VertexSettings
    reference_model: str = Field(
        default=DEFAULT_REFERENCE_MODEL,
        description="Model for reference images: an 'imagen-*' id uses generate_images, any other a Gemini image model.",
    )
    keyframe_model: str = Field(
        default=DEFAULT_KEYFRAME_MODEL,
        description="Gemini image model for keyframes (takes reference images and the previous frame).",
    )
    negative_prompt: str | None = Field(default=DEFAULT_NEGATIVE_PROMPT, description="Imagen negative prompt.")
    person_generation: str | None = Field(default="allow_adult", description="Imagen person generation policy.")

    def reference_image(
        self, *, subject: Character | Location, storyboard: Storyboard, out: Path, size: tuple[int, int]
    ) -> ModelCall:
        model = self.reference_model
        recorder = CallRecorder(model)
        prompt = _reference_prompt(subject, storyboard)
        what = f"draw the reference image of {subject.id!r}"
        with self.settings.client(model) as client:
            if model.startswith("imagen"):
                data = self._imagen(client, recorder, model=model, what=what, prompt=prompt, size=size)
            else:
                data = self._gemini_image(client, recorder, model=model, what=what, prompt=prompt, images=[], size=size)
        _write_png(data, size, out, model=model)
        recorder.count("images")
        return recorder.model_call()

    def keyframe(
        self,
        *,
        prompt: str,
        storyboard: Storyboard,
        scene: Scene,
        references: list[Path],
        previous_frame: Path | None,
        out: Path,
        size: tuple[int, int],
    ) -> ModelCall:
        model = self.keyframe_model
        if model.startswith("imagen"):
            raise VertexError(
                f"keyframe_model {model!r} is an Imagen model, which cannot take reference images and the "
                "previous frame in one request; use a Gemini image model such as "
                f"{DEFAULT_KEYFRAME_MODEL!r}",
                model=model,
            )
        recorder = CallRecorder(model)
        images: list[types.Part] = []
        for index, reference in enumerate(references, start=1):
            images += [
                types.Part.from_text(text=f"Reference image {index}: {Path(reference).stem}"),
                _image_part(reference),
            ]
        if previous_frame is not None:
            images += [types.Part.from_text(text="Previous frame (continue from it):"), _image_part(previous_frame)]
        text = _keyframe_prompt(prompt, storyboard, scene, references, previous_frame is not None)
        with self.settings.client(model) as client:
            data = self._gemini_image(
                client,
                recorder,
                model=model,
                what=f"draw a keyframe of scene {scene.number}",
                prompt=text,
                images=images,
                size=size,
            )
        _write_png(data, size, out, model=model)
        recorder.count("images")
        recorder.count("input_images", len(references) + (1 if previous_frame is not None else 0))
        return recorder.model_call()

    def _imagen(
        self, client: genai.Client, recorder: CallRecorder, *, model: str, what: str, prompt: str, size: tuple[int, int]
    ) -> bytes:
        config = types.GenerateImagesConfig(
            number_of_images=1,
            aspect_ratio=nearest_aspect_ratio(size),
            negative_prompt=self.negative_prompt or None,
            person_generation=self.person_generation or None,
            include_rai_reason=True,
            output_mime_type="image/png",
        )

        def attempt(text: str) -> bytes:
            response = self.settings.call(
                model=model,
                what=what,
                recorder=recorder,
                fn=lambda: client.models.generate_images(model=model, prompt=text, config=config),
            )
            return imagen_image(response, model=model, what=what)

        return self.settings.with_safety_retry(
            model=model, what=what, prompt=prompt, recorder=recorder, attempt=attempt
        )

    def _gemini_image(
        self,
        client: genai.Client,
        recorder: CallRecorder,
        *,
        model: str,
        what: str,
        prompt: str,
        images: list[types.Part],
        size: tuple[int, int],
    ) -> bytes:
        config = types.GenerateContentConfig(
            response_modalities=["TEXT", "IMAGE"],
            image_config=types.ImageConfig(aspect_ratio=nearest_aspect_ratio(size)),
            candidate_count=1,
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        )

        def attempt(text: str) -> bytes:
            contents = [types.Content(role="user", parts=[types.Part.from_text(text=text), *images])]
            response = self.settings.generate_content(
                client, model=model, what=what, recorder=recorder, contents=contents, config=config
            )
            return gemini_image(response, model=model, what=what)

        return self.settings.with_safety_retry(
            model=model, what=what, prompt=prompt, recorder=recorder, attempt=attempt
        )


def _write_png(data: bytes, size: tuple[int, int], out: Path, *, model: str) -> None:
    try:
        png = fit_png(data, size)
    except ValueError as exc:
        raise VertexResponseError(f"{model}: {exc}", model=model) from None
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(png)


# --- Video --------------------------------------------------------------------------------------

_SAFETY_WORDS = ("safety", "responsible ai", "usage guidelines", "rai", "sensitive", "prohibited", "blocked", "policy")


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
    generate_audio: bool | None = Field(
        default=False, description="Veo 3 audio; vidpipe muxes its own track. None (and any Veo 2 model) leaves it out."
    )
    resolution: str | None = Field(default=None, description="'720p' or '1080p'; the model's default if unset.")
    normalize: bool = Field(
        default=True,
        description="Re-encode Veo's file to the pipeline's size and frame rate (H.264, no audio) so clips stitch.",
    )

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
    ) -> ModelCall:
        model = self.model
        recorder = CallRecorder(model)
        duration = snap_duration(scene.duration_s)
        veo2 = model.startswith("veo-2")
        # Veo 3 takes 4, 6 or 8 s; Veo 2 takes 5-8 s and has no audio: a 4 s scene is asked for 5 s
        # and cut back to 4 s when the clip is normalised.
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
            generate_audio=None if veo2 else self.generate_audio,
            resolution=self.resolution or None,
        )
        start = types.Image(image_bytes=Path(start_frame).read_bytes(), mime_type=mime_type_for(Path(start_frame).name))
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        raw = out.with_name(f"{out.stem}.veo-{uuid.uuid4().hex[:8]}.mp4") if self.normalize else out

        with self.settings.client(model) as client:

            def attempt(text: str) -> types.Video:
                operation = self.settings.call(
                    model=model,
                    what=what,
                    recorder=recorder,
                    fn=lambda: client.models.generate_videos(
                        model=model, source=types.GenerateVideosSource(prompt=text, image=start), config=config
                    ),
                )
                recorder.count("operations")
                operation = self._wait(client, recorder, operation, what=what)
                return self._video_of(operation, what=what)

            video = self.settings.with_safety_retry(
                model=model, what=what, prompt=prompt, recorder=recorder, attempt=attempt
            )
        try:
            self._save(video, raw, what=what)
            if self.normalize:
                _normalize_clip(raw, out, size=size, duration_s=duration, model=model)
        finally:
            if self.normalize:
                raw.unlink(missing_ok=True)
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


def _normalize_clip(raw: Path, out: Path, *, size: tuple[int, int], duration_s: int, model: str) -> None:
    """Veo's MP4 re-encoded to `size` (cropped to fill), the pipeline's FPS, H.264 yuv420p, no audio."""
    from vidpipe_dagster.media.ffmpeg import MediaError, run_ffmpeg  # noqa: PLC0415
    from vidpipe_dagster.timing import FPS  # noqa: PLC0415

    if os.path.lexists(out):
        raise VertexError(f"{model}: {out} already exists and will not be replaced", model=model)
    width, height = size
    graph = f"scale={width}:{height}:force_original_aspect_ratio=increase,crop={width}:{height},setsar=1,fps={FPS}"
    args = [
        "-n", "-i", str(raw.absolute()),
        "-vf", graph,
        "-t", str(duration_s),
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p",
        "-movflags", "+faststart", "-an",
        str(out.absolute()),
    ]  # fmt: skip
    try:
        run_ffmpeg(args, f"normalising the {model} clip")
    except MediaError as exc:
        out.unlink(missing_ok=True)
        raise VertexResponseError(f"{model}: the returned video could not be decoded: {exc}", model=model) from None


# --- Judge --------------------------------------------------------------------------------------

_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}


def _sampled_frames(clip: Path, count: int) -> list[bytes]:
    """`count` evenly spaced frames of a video as JPEG bytes (for clips too large to send inline)."""
    import av  # noqa: PLC0415 - only for large clips

    with av.open(str(clip)) as container:
        total = sum(1 for packet in container.demux(video=0) if packet.size)
    if total == 0:
        return []
    wanted = {round(i * (total - 1) / max(count - 1, 1)) for i in range(count)}
    frames: list[bytes] = []
    with av.open(str(clip)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index in wanted:
                image = frame.to_image()
                image.thumbnail((1280, 1280))
                buffer = io.BytesIO()
                image.convert("RGB").save(buffer, format="JPEG", quality=85)
                frames.append(buffer.getvalue())
            if index >= max(wanted):
                break
    return frames


def _judge_prompt(scene: Scene, storyboard: Storyboard, prompt: str, media: str) -> str:
    cast = []
    for character_id in scene.characters:
        try:
            character = storyboard.character(character_id)
        except StopIteration:
            continue
        cast.append(f"- {character.name}: {character.description}")
    try:
        location = storyboard.location(scene.location)
        place = f"{location.name}: {location.description}"
    except StopIteration:
        place = scene.location
    weights = ", ".join(f"{name} {weight:.0%}" for name, weight in JUDGE_WEIGHTS.items())
    return "\n".join(
        line
        for line in (
            f"Review {media} of scene {scene.number} of '{storyboard.metadata.title}' "
            f"({storyboard.metadata.style}, {storyboard.metadata.aspect_ratio}, {scene.duration_s} s).",
            f"Logline: {storyboard.metadata.logline}",
            f"Scene: {scene.description}",
            f"Shot: {scene.shot_type}, {scene.camera_angle}, {scene.camera_movement}. Lighting: {scene.lighting}.",
            f"Location: {place}",
            "Characters:\n" + "\n".join(cast) if cast else "Characters: none",
            f"Continuity: {scene.continuity_notes}" if scene.continuity_notes else "",
            f"Generation prompt: {prompt}",
            f"Categories and their weights: {weights}.",
        )
        if line
    )


class VertexJudge(ConfigurableResource):
    """Gemini as quality judge of a clip or image, on five weighted categories (`QualityJudge`)."""

    settings: VertexSettings
    model: str = Field(default=DEFAULT_JUDGE_MODEL, description="Gemini model id for judging.")
    max_inline_bytes: int = Field(
        default=14_000_000,
        ge=1,
        description="Larger clips are judged from sampled frames (inline requests are capped near 20 MB after base64).",
    )
    sample_frames: int = Field(default=8, ge=1, le=32, description="Frames sampled from a clip too large to inline.")
    temperature: float = Field(default=0.2, ge=0, le=2)

    def judge(self, *, clip: Path, scene: Scene, storyboard: Storyboard, prompt: str) -> JudgeVerdict:
        model = self.model
        recorder = CallRecorder(model)
        clip = Path(clip)
        media_parts, media = self._media(clip, recorder)
        with self.settings.client(model) as client:
            answer: JudgeAnswer = _gemini_json(
                self.settings,
                client,
                recorder,
                model=model,
                what=f"judge the clip of scene {scene.number}",
                prompt=_judge_prompt(scene, storyboard, prompt, media),
                system=JUDGE_SYSTEM,
                schema=JudgeAnswer,
                parse=parse_judge_answer,
                invalid_error=JudgeAnswerInvalid,
                media_parts=media_parts,
                temperature=self.temperature,
            )
        raw_scores = {name: getattr(answer, name) for name in JUDGE_WEIGHTS}
        return JudgeVerdict(
            score=weighted_score(raw_scores),
            categories=judge_categories(answer),
            correction=judge_correction(answer),
            call=recorder.model_call(),
        )

    def _media(self, clip: Path, recorder: CallRecorder) -> tuple[list[types.Part], str]:
        if clip.suffix.lower() in _IMAGE_SUFFIXES:
            recorder.count("input_images")
            return [_image_part(clip)], "the attached image"
        size = clip.stat().st_size
        if size <= self.max_inline_bytes:
            recorder.count("input_video_bytes", size)
            return [types.Part.from_bytes(data=clip.read_bytes(), mime_type="video/mp4")], "the attached video clip"
        frames = _sampled_frames(clip, self.sample_frames)
        if not frames:
            raise VertexError(f"{self.model}: {clip.name} has no video frames to judge", model=self.model)
        recorder.count("input_images", len(frames))
        parts = [types.Part.from_bytes(data=frame, mime_type="image/jpeg") for frame in frames]
        return parts, f"{len(frames)} evenly spaced frames (in order) of the video clip"


# --- Resources from the environment -------------------------------------------------------------


def _env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def _env_number(name: str, kind: type, default: Any) -> Any:
    value = _env(name)
    if value is None:
        return default
    try:
        return kind(value)
    except ValueError:
        raise ValueError(f"{name}={value!r} is not a valid {kind.__name__}") from None


def vertex_model_resources() -> dict[str, Any]:
    """The four `vertex` model resources, configured from the environment.

    Reads nothing over the network and resolves no credentials: strings that are set become
    `EnvVar`s (read at run time, never shown in the UI), numbers are parsed here so a typo fails
    at load with the variable's name, unset ones keep their defaults. Project and location fall
    back to GOOGLE_CLOUD_PROJECT / GOOGLE_CLOUD_LOCATION at call time; credentials come from ADC
    unless VIDPIPE_VERTEX_ACCESS_TOKEN is set.
    """

    def string(name: str, default: str | None) -> Any:
        return EnvVar(name) if _env(name) else default

    settings = VertexSettings(
        project=string("GOOGLE_CLOUD_PROJECT", None),
        location=string("GOOGLE_CLOUD_LOCATION", None),
        base_url=string("VIDPIPE_VERTEX_BASE_URL", None),
        access_token=string("VIDPIPE_VERTEX_ACCESS_TOKEN", None),
        request_timeout_s=_env_number("VIDPIPE_VERTEX_TIMEOUT_S", float, 180.0),
        max_attempts=_env_number("VIDPIPE_VERTEX_MAX_ATTEMPTS", int, 5),
        backoff_initial_s=_env_number("VIDPIPE_VERTEX_BACKOFF_S", float, 2.0),
        backoff_max_s=_env_number("VIDPIPE_VERTEX_BACKOFF_MAX_S", float, 60.0),
    )
    return {
        "text_model": VertexTextModel(settings=settings, model=string("VIDPIPE_VERTEX_TEXT_MODEL", DEFAULT_TEXT_MODEL)),
        "image_model": VertexImageModel(
            settings=settings,
            reference_model=string("VIDPIPE_VERTEX_REFERENCE_MODEL", DEFAULT_REFERENCE_MODEL),
            keyframe_model=string("VIDPIPE_VERTEX_KEYFRAME_MODEL", DEFAULT_KEYFRAME_MODEL),
        ),
        "video_model": VertexVideoModel(
            settings=settings,
            model=string("VIDPIPE_VERTEX_VIDEO_MODEL", DEFAULT_VIDEO_MODEL),
            output_gcs_uri=string("VIDPIPE_VERTEX_VIDEO_OUTPUT_GCS_URI", None),
            poll_interval_s=_env_number("VIDPIPE_VERTEX_POLL_INTERVAL_S", float, 10.0),
            operation_timeout_s=_env_number("VIDPIPE_VERTEX_VIDEO_TIMEOUT_S", float, 900.0),
        ),
        "quality_judge": VertexJudge(
            settings=settings, model=string("VIDPIPE_VERTEX_JUDGE_MODEL", DEFAULT_JUDGE_MODEL)
        ),
    }
