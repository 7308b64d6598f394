"""`VertexJudge`: Gemini grades a clip (inline, or as sampled frames) or a keyframe on the rubric.

Gemini grades each of the five categories PASS / MINOR / MAJOR / FAIL and lists issues (department,
severity, where, suggested fix) and at most one systemic rule; the score and the verdict are
computed in code (`creative.rubric`), so the model cannot pick its own weights. It sees the
previous scene's last frame and description, to judge continuity.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagster import ConfigurableResource
from pydantic import BaseModel, Field, ValidationError

from vidpipe_dagster.creative.rubric import CATEGORY_QUESTIONS, CATEGORY_WEIGHTS
from vidpipe_dagster.domain import FrameStatistics, JudgeVerdict, ModelCall, Scene, Storyboard, describe_validation_error
from vidpipe_dagster.resources.models.vertex_client import CallRecorder, VertexError, VertexResponseError, VertexSettings
from vidpipe_dagster.resources.models.vertex_gemini_json import gemini_json
from vidpipe_dagster.resources.models.vertex_helpers import OutputInvalid, parse_json_answer
from vidpipe_dagster.resources.models.vertex_image import image_part

if TYPE_CHECKING:
    from google.genai import types

DEFAULT_JUDGE_MODEL = "gemini-2.5-flash"

JUDGE_SYSTEM = (
    "You are a demanding film director reviewing one generated shot of a storyboard before it goes "
    "into the cut. Grade each rubric category PASS, MINOR, MAJOR or FAIL, list every concrete issue "
    "for the department that can fix it, and suggest at most one systemic rule for all later shots. "
    "Do not compute a score. Answer with JSON only, in the schema given."
)
GRADE_GUIDE = (
    "Grades: PASS = nothing a viewer would notice; MINOR = a small flaw a viewer might notice; MAJOR = a "
    "clear flaw that breaks the shot for an attentive viewer; FAIL = the shot does not do its job."
)
SEVERITY_GUIDE = (
    "Issue severity: critical = wrong identity, count, action or a broken body; major = visible drift in "
    "wardrobe, props, light or place; minor = polish. Departments: director, cinematographer, gaffer, "
    "script_supervisor, costume, production_design. For a clip give timestamp_s (seconds into the clip); "
    "for a still, location_in_frame. Each suggested_fix is a phrase to add to the generation prompt."
)
KEYFRAME_CHECKS = (
    "This is a keyframe (a still a clip will start or end on): its composition must fit the camera "
    "move, poses must be clear and held (no in-between moment, no motion blur), and every character "
    "must be fully readable."
)


class JudgeAnswerInvalid(VertexResponseError):
    """The judge's answer did not validate, also after one corrective turn."""


class CategoryAnswer(BaseModel):
    rating: str = Field(description="PASS, MINOR, MAJOR or FAIL")
    details: str = Field(description="what earned the rating, in one sentence")


class GradesAnswer(BaseModel):
    narrative_fidelity: CategoryAnswer
    character_consistency: CategoryAnswer
    technical_quality: CategoryAnswer
    emotional_authenticity: CategoryAnswer
    continuity: CategoryAnswer


class IssueAnswer(BaseModel):
    department: str = Field(description="director, cinematographer, gaffer, script_supervisor, costume or production_design")
    category: str = Field(description="the rubric category the issue costs")
    severity: str = Field(description="critical, major or minor")
    description: str
    timestamp_s: float | None = Field(default=None, description="seconds into the clip; null for a still")
    location_in_frame: str | None = Field(default=None, description="where in the frame, for a still")
    suggested_fix: str = Field(description="a phrase to add to the generation prompt that fixes it")


class JudgeAnswer(BaseModel):
    """The response schema of the judge: grades, issues, feedback and an optional rule; no score."""

    grades: GradesAnswer
    issues: list[IssueAnswer]
    feedback: str = Field(description="two sentences for the director")
    rule_suggestion: str = Field(description="one systemic rule for every later shot (not about this scene only); empty if none")


def parse_judge_answer(raw: str | dict[str, Any]) -> JudgeVerdict:
    """The judge's JSON answer as a verdict (its `call` filled in later); `OutputInvalid` names each
    bad grade, department or severity, which earns the judge one corrective turn."""
    answer = parse_json_answer(raw, JudgeAnswer, "judge answer")
    try:
        return JudgeVerdict(
            grades={name: getattr(answer.grades, name).rating.strip().upper() for name in CATEGORY_WEIGHTS},
            issues=[issue.model_dump() for issue in answer.issues],
            feedback=answer.feedback,
            rule_suggestion=answer.rule_suggestion.strip() or None,
            call=ModelCall(model="pending", seconds=0),
        )
    except ValidationError as exc:
        raise OutputInvalid(describe_validation_error(exc, "judge")) from None


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


def judge_prompt(
    scene: Scene, storyboard: Storyboard, prompt: str, media: str, *, still: bool, previous_description: str | None,
    has_previous_frame: bool, rules: list[str] | None,
) -> str:
    """The judge's instructions: the scene, the rubric with its weights, the guides, the previous
    scene and the project's rules."""
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
    rubric = "\n".join(
        f"- {name} (weight {CATEGORY_WEIGHTS[name]:.0%}): {question}" for name, question in CATEGORY_QUESTIONS.items()
    )
    previous = ""
    if previous_description is not None:
        previous = f"Previous scene: {previous_description}"
        if has_previous_frame:
            previous += "\nThe first image attached is the previous scene's last frame; judge continuity against it."
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
            previous,
            f"Generation prompt: {prompt}",
            KEYFRAME_CHECKS if still else "",
            "Rules in force:\n" + "\n".join(f"- {rule}" for rule in rules) if rules else "",
            f"Rubric (grade every category):\n{rubric}",
            GRADE_GUIDE,
            SEVERITY_GUIDE,
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

    def judge(
        self,
        *,
        media: Path,
        scene: Scene,
        storyboard: Storyboard,
        prompt: str,
        previous_frame: Path | None = None,
        previous_description: str | None = None,
        rules: list[str] | None = None,
        measures: FrameStatistics | None = None,
    ) -> JudgeVerdict:
        # Gemini watches the clip itself (inline, or frames sampled at full size from a large
        # one), so the measured statistics add nothing to what it is sent.
        model = self.model
        recorder = CallRecorder(model)
        media = Path(media)
        still = media.suffix.lower() in _IMAGE_SUFFIXES
        media_parts, described = self._media(media, recorder)
        if previous_frame is not None:
            recorder.count("input_images")
            media_parts = [image_part(Path(previous_frame)), *media_parts]
        with self.settings.client(model) as client:
            verdict: JudgeVerdict = gemini_json(
                self.settings,
                client,
                recorder,
                model=model,
                what=f"judge the {'keyframe' if still else 'clip'} of scene {scene.number}",
                prompt=judge_prompt(
                    scene, storyboard, prompt, described, still=still, previous_description=previous_description,
                    has_previous_frame=previous_frame is not None, rules=rules,
                ),
                system=JUDGE_SYSTEM,
                schema=JudgeAnswer,
                parse=parse_judge_answer,
                invalid_error=JudgeAnswerInvalid,
                media_parts=media_parts,
                temperature=self.temperature,
            )
        recorder.count("issues", len(verdict.issues))
        return verdict.model_copy(update={"call": recorder.model_call()})

    def _media(self, clip: Path, recorder: CallRecorder) -> tuple[list[types.Part], str]:
        from google.genai import types

        if clip.suffix.lower() in _IMAGE_SUFFIXES:
            recorder.count("input_images")
            return [image_part(clip)], "the keyframe (the last image attached)"
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

