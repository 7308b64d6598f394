"""The `vertex` model backend: Gemini storyboards, Imagen / Gemini images, Veo clips, a Gemini judge.

This module builds the four resources from the environment and re-exports the backend's public
names; each concern lives in its own file: `vertex_client` (settings, retries, errors),
`vertex_helpers` (pure helpers), `vertex_gemini_json` (JSON answers with a corrective turn),
`vertex_text`, `vertex_image`, `vertex_video` and `vertex_judge`.

Every resource talks to Vertex AI through Google's `google-genai` SDK in Vertex AI mode and shares
one nested `VertexSettings` (project, location, credentials, timeouts, retries). Nothing happens at
import or definition load; a client is built for each model-method call.

- `VertexTextModel.write_storyboard`: Gemini with `response_mime_type="application/json"` and a
  pydantic `response_schema`: first the director's vision (`VisionDraft`), then the scenes on it,
  ten per request (`ScenesDraft`, `creative.storyboard`); each answer is validated (numbered,
  durations snapped to 4/6/8 or set from `scene_durations`, ids checked against the vision); an
  invalid one gets one corrective turn naming the bad fields, then `StoryboardInvalid`.
- `VertexTextModel.scene_changes`: Gemini lists what a scene visibly changes (`ChangesDraft`),
  each change on one present character or the scene's place, for the continuity record.
- `VertexTextModel.audio_phrases`: the same Gemini model hears the track (an inline audio part: the
  file itself when Gemini reads its type and it is small enough, else a 16 kHz mono WAV copy) and
  answers in `PhrasesAnswer` (`{phrases: [{start_s, label, mood, intensity, tempo}]}`); the
  phrases are validated, sorted and kept inside the track, with the same corrective turn, then `AudioPhrasesInvalid`.
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
  or, with `output_gcs_uri`, is streamed down from GCS. Veo 3 is asked for the project's
  `resolution` and, when the cut keeps it, its own sound (`generate_audio`). The file is stored as
  Veo made it when it already stitches by stream copy (H.264 yuv420p, the project's size and frame
  rate, AAC stereo 48 kHz or no sound as the cut needs); otherwise only what differs is redone.
- `VertexJudge.judge`: Gemini grades the clip (the MP4 inline as a video part; when it is larger
  than `max_inline_bytes`, evenly sampled frames as JPEG parts; a keyframe as an image part), with
  the previous scene's last frame and description, on the rubric's five categories (PASS / MINOR /
  MAJOR / FAIL each), with issues and a rule suggestion; the score is computed from the grades in
  `creative.rubric`, never taken from the model.
- `VertexTextModel.rewrite_prompt`: Gemini rewrites a prompt with the judge's fixes applied (plain
  text); a rewrite that drops part of the prompt is replaced by the deterministic one.

Safety blocks are retried once with `sanitize_prompt(prompt)`, then raise `ModelRefused`. 429 and
5xx answers back off exponentially with jitter (honouring Retry-After / RetryInfo) for at most
`max_attempts`. Every request carries `request_timeout_s`. Each method returns a `ModelCall` with
the model id, the wall time and its usage (requests, retries, tokens, polls, ...); credentials
never enter a message, a log line or metadata.
"""

from __future__ import annotations

import os
from typing import Any

from dagster import EnvVar

from vidpipe_dagster.resources.models.vertex_client import (
    ModelRefused,
    VertexError,
    VertexRequestFailed,
    VertexResponseError,
    VertexSettings,
    VertexTimeout,
    VertexUnavailable,
)
from vidpipe_dagster.resources.models.vertex_helpers import sanitize_prompt, snap_duration
from vidpipe_dagster.resources.models.vertex_image import (
    DEFAULT_KEYFRAME_MODEL,
    DEFAULT_REFERENCE_MODEL,
    VertexImageModel,
)
from vidpipe_dagster.resources.models.vertex_judge import DEFAULT_JUDGE_MODEL, VertexJudge
from vidpipe_dagster.resources.models.vertex_text import (
    DEFAULT_TEXT_MODEL,
    AudioPhrasesInvalid,
    StoryboardInvalid,
    VertexTextModel,
)
from vidpipe_dagster.resources.models.vertex_video import DEFAULT_VIDEO_MODEL, VertexVideoModel

__all__ = [
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
]


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
