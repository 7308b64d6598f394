"""`VertexTextModel`: the director's vision, storyboards in batches, each scene's changes, an audio track's
phrases and prompt rewrites, from Gemini on Vertex AI."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from dagster import ConfigurableResource
from pydantic import Field, ValidationError

from vidpipe_dagster.creative.correction import apply_fixes, fixes_for, keeps_original
from vidpipe_dagster.creative.storyboard import (
    DIRECTOR_SYSTEM,
    SCENES_SYSTEM,
    ChangesDraft,
    ScenesDraft,
    VisionDraft,
    assemble,
    batches,
    changes_prompt,
    director_prompt,
    parse_changes,
    parse_scenes,
    parse_vision,
    scenes_prompt,
)
from vidpipe_dagster.domain import (
    Brief,
    Continuity,
    InvalidInput,
    JudgeIssue,
    ModelCall,
    MusicCue,
    Phrase,
    Scene,
    StateChange,
    Storyboard,
    describe_validation_error,
)
from vidpipe_dagster.resources.models.vertex_client import CallRecorder, VertexResponseError, VertexSettings, gemini_text
from vidpipe_dagster.resources.models.vertex_gemini_json import gemini_json
from vidpipe_dagster.resources.models.vertex_helpers import PhrasesAnswer, mime_type_for, parse_phrases, phrases_prompt
from vidpipe_dagster.timing import default_durations

if TYPE_CHECKING:
    from google.genai import types

DEFAULT_TEXT_MODEL = "gemini-2.5-pro"

STATE_SYSTEM = (
    "You are the script supervisor of a short film. After each scene you record what visibly "
    "changed about each character and place, so later scenes keep it. Answer with JSON only, in the "
    "schema given."
)
PHRASES_SYSTEM = (
    "You are a film editor who cuts pictures to music. Listen to the attached audio track and mark "
    "where its musical phrases and sections begin. Answer with JSON only, in the schema given."
)


REWRITE_SYSTEM = (
    "You rewrite prompts for image and video generation models after a director's review. Apply "
    "every fix given; keep everything else the prompt says, word for word where you can; only add "
    "detail, exact counts and negative constraints (never remove a character, prop, camera or light "
    "instruction). The result is 10-30% longer. Answer with the rewritten prompt only, as plain text."
)


def rewrite_request(prompt: str, issues: list[JudgeIssue], problems: list[str]) -> str:
    """What the text model is asked: the prompt as it was, and each issue with its fix."""
    lines = [f"Prompt as it was:\n{prompt}", "", "The review found:"]
    lines += [
        f"- [{issue.severity}, {issue.department}, {issue.category}] {issue.description} -> fix: {issue.suggested_fix}"
        for issue in issues
    ]
    lines += [f"- [measured] {problem} -> fix: avoid it" for problem in problems]
    return "\n".join(lines)


class StoryboardInvalid(VertexResponseError):
    """Gemini's vision, a batch of scenes or a scene's changes did not validate, also after one corrective turn."""


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

    def write_storyboard(
        self, brief: Brief, scene_durations: list[int] | None = None, music: list[MusicCue] | None = None
    ) -> tuple[Storyboard, ModelCall]:
        """The director's vision first, then the scenes on it, `BATCH_SIZE` at a time; each answer
        in its schema, with one corrective turn naming the bad fields."""
        recorder = CallRecorder(self.model)
        durations = scene_durations or default_durations(brief.scene_count, brief.seed)
        prompts = [director_prompt(brief, len(durations))]
        with self.settings.client(self.model) as client:
            vision = self._json(
                client, recorder, what="write the director's vision", prompt=prompts[0],
                system=DIRECTOR_SYSTEM, schema=VisionDraft, parse=parse_vision, seed=brief.seed,
            )
            scenes: list[Scene] = []
            for numbers in batches(len(durations)):
                prompts.append(scenes_prompt(brief, vision, numbers, durations, music, scenes[-1] if scenes else None))
                scenes += self._json(
                    client, recorder,
                    what=f"write scenes {numbers.start}-{numbers.stop - 1} of the storyboard",
                    prompt=prompts[-1],
                    system=SCENES_SYSTEM, schema=ScenesDraft,
                    parse=lambda text, numbers=numbers: parse_scenes(text, vision, numbers, durations, music),
                    seed=brief.seed,
                )
        try:
            storyboard = assemble(brief, vision, scenes)
        except ValidationError as exc:
            raise StoryboardInvalid(f"{self.model}: {describe_validation_error(exc, 'storyboard')}", model=self.model) from None
        recorder.count("scenes", len(storyboard.scenes))
        return storyboard, recorder.model_call().model_copy(update={"prompts": prompts})

    def scene_changes(self, *, storyboard: Storyboard, scene: Scene, record: Continuity) -> tuple[list[StateChange], ModelCall]:
        """Gemini says what the scene visibly changes, each change on one present character or the place."""
        recorder = CallRecorder(self.model)
        state = [f"{line.subject}, {line.aspect}: {line.value} (since scene {line.since_scene})" for line in record.state]
        prompt = changes_prompt(storyboard, scene, state)
        with self.settings.client(self.model) as client:
            changes = self._json(
                client, recorder, what=f"list what scene {scene.number} changes",
                prompt=prompt, system=STATE_SYSTEM, schema=ChangesDraft,
                parse=lambda text: parse_changes(text, scene), temperature=0.2,
            )
        recorder.count("changes", len(changes))
        return changes, recorder.model_call().model_copy(update={"prompts": [prompt]})

    def _json(self, client, recorder: CallRecorder, *, what: str, prompt: str, system: str, schema: type, parse, seed: int | None = None, temperature: float | None = None):
        return gemini_json(
            self.settings, client, recorder, model=self.model, what=what, prompt=prompt, system=system,
            schema=schema, parse=parse, invalid_error=StoryboardInvalid,
            temperature=self.temperature if temperature is None else temperature, seed=seed,
            max_output_tokens=self.max_output_tokens,
        )

    def audio_phrases(self, audio: Path, duration_s: float) -> tuple[list[Phrase], ModelCall]:
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

    def rewrite_prompt(self, *, prompt: str, issues: list[JudgeIssue], problems: list[str]) -> tuple[str, ModelCall]:
        """Gemini rewrites the prompt with the fixes applied; a rewrite that drops part of the
        prompt gives way to the deterministic one (`creative.correction.apply_fixes`)."""
        from google.genai import types

        model = self.model
        recorder = CallRecorder(model)
        what = "rewrite the prompt with the judge's fixes"
        config = types.GenerateContentConfig(
            system_instruction=REWRITE_SYSTEM,
            temperature=0.5,
            candidate_count=1,
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        )
        with self.settings.client(model) as client:

            def attempt(text: str) -> str:
                contents = [types.Content(role="user", parts=[types.Part.from_text(text=text)])]
                response = self.settings.generate_content(
                    client, model=model, what=what, recorder=recorder, contents=contents, config=config
                )
                return gemini_text(response, model=model, what=what).strip()

            rewritten = self.settings.with_safety_retry(
                model=model, what=what, prompt=rewrite_request(prompt, issues, problems), recorder=recorder, attempt=attempt
            )
        if not keeps_original(prompt, rewritten):
            recorder.count("rewrite_fallbacks")
            rewritten = apply_fixes(prompt, fixes_for(issues, problems))
        return rewritten, recorder.model_call()

    def _audio_part(self, audio: Path, recorder: CallRecorder) -> types.Part:
        """The track as Gemini gets it: the file itself when Gemini reads its type and it fits
        inline, else a 16 kHz mono WAV copy; a track too long even then is refused."""
        from google.genai import types

        from vidpipe_dagster.media.audio import wav_bytes

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

