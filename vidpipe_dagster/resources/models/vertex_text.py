"""`VertexTextModel`: storyboards and an audio track's phrases from Gemini on Vertex AI."""

from __future__ import annotations

from pathlib import Path

from dagster import ConfigurableResource
from google.genai import types
from pydantic import Field

from vidpipe_dagster.domain import Brief, InvalidInput, ModelCall, Storyboard
from vidpipe_dagster.media.audio import wav_bytes
from vidpipe_dagster.resources.models.vertex_client import CallRecorder, VertexResponseError, VertexSettings
from vidpipe_dagster.resources.models.vertex_gemini_json import gemini_json
from vidpipe_dagster.resources.models.vertex_helpers import (
    PhrasesAnswer,
    StoryboardDraft,
    mime_type_for,
    normalize_storyboard,
    parse_phrases,
    phrases_prompt,
    storyboard_prompt,
)

DEFAULT_TEXT_MODEL = "gemini-2.5-pro"

STORYBOARD_SYSTEM = (
    "You are the storyboard artist of a short-film studio. You turn a creative brief into a "
    "storyboard that image and video models can follow shot by shot. Answer with JSON only, in the "
    "schema given. Keep characters and locations visually consistent across scenes, describe only "
    "what a camera can see, and keep every scene feasible as one continuous 4-8 second shot."
)
PHRASES_SYSTEM = (
    "You are a film editor who cuts pictures to music. Listen to the attached audio track and mark "
    "where its musical phrases and sections begin. Answer with JSON only, in the schema given."
)


class StoryboardInvalid(VertexResponseError):
    """Gemini's storyboard did not validate, also after one corrective turn."""


class AudioPhrasesInvalid(VertexResponseError):
    """Gemini's list of phrases did not validate, also after one corrective turn."""




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
            storyboard = gemini_json(
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
            phrases = gemini_json(
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

