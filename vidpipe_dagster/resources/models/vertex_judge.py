"""`VertexJudge`: Gemini scores a clip (inline, or as sampled frames) or an image on five weighted categories."""

from __future__ import annotations

import io
from pathlib import Path

from dagster import ConfigurableResource
from google.genai import types
from pydantic import Field

from vidpipe_dagster.domain import JudgeVerdict, Scene, Storyboard
from vidpipe_dagster.resources.models.vertex_client import CallRecorder, VertexError, VertexResponseError, VertexSettings
from vidpipe_dagster.resources.models.vertex_gemini_json import gemini_json
from vidpipe_dagster.resources.models.vertex_helpers import (
    JUDGE_WEIGHTS,
    JudgeAnswer,
    judge_categories,
    judge_correction,
    parse_judge_answer,
    weighted_score,
)
from vidpipe_dagster.resources.models.vertex_image import image_part

DEFAULT_JUDGE_MODEL = "gemini-2.5-flash"

JUDGE_SYSTEM = (
    "You are a strict film editor reviewing one generated clip of a storyboard. Score it 0-10 on "
    "each category (10 = flawless), list concrete issues, and write a short prompt correction "
    "that would fix them on the next attempt. Answer with JSON only, in the schema given."
)


class JudgeAnswerInvalid(VertexResponseError):
    """The judge's answer did not validate, also after one corrective turn."""



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
            answer: JudgeAnswer = gemini_json(
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
            return [image_part(clip)], "the attached image"
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

