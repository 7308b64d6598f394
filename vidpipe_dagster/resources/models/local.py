"""The deterministic `local` backend: no network, no credentials, same input -> same output.

Storyboards are read from the brief's own words (`creative.offline_director`), images are drawn with Pillow and
clips are rendered by ffmpeg moving from the start keyframe to the end keyframe, so continuity
between scenes is real and measurable.
"""

from __future__ import annotations

import time
from pathlib import Path

from dagster import ConfigurableResource

from vidpipe_dagster.creative.correction import apply_fixes, fixes_for
from vidpipe_dagster.creative.music import describe_phrases
from vidpipe_dagster.creative.offline_director import write_storyboard_parts
from vidpipe_dagster.creative.seeds import stable_seed
from vidpipe_dagster.creative.storyboard import assemble
from vidpipe_dagster.creative.rubric import Grade
from vidpipe_dagster.domain import (
    Brief,
    Character,
    FrameStatistics,
    JudgeIssue,
    JudgeVerdict,
    Continuity,
    Location,
    ModelCall,
    MusicCue,
    Phrase,
    Scene,
    StateChange,
    Storyboard,
)
from vidpipe_dagster.media.ffmpeg import render_clip
from vidpipe_dagster.media.variation import clip_variation, vary_clip
from vidpipe_dagster.quality import measure_frames
from vidpipe_dagster.timing import FPS, default_durations


def _elapsed(started: float) -> float:
    return round(time.perf_counter() - started, 3)


class LocalTextModel(ConfigurableResource):
    """Writes the vision and storyboard from the brief's words, reads each scene's changes from the
    storyboard, and finds an audio track's phrases in its signal (`media.audio.phrase_boundaries`)."""

    def write_storyboard(
        self, brief: Brief, scene_durations: list[int] | None = None, music: list[MusicCue] | None = None
    ) -> tuple[Storyboard, ModelCall]:
        started = time.perf_counter()
        durations = scene_durations or default_durations(brief.scene_count, brief.seed)
        vision, scenes = write_storyboard_parts(brief, durations, music)
        return assemble(brief, vision, scenes), ModelCall(model="local-storyboard", seconds=_elapsed(started))

    def scene_changes(self, *, storyboard: Storyboard, scene: Scene, record: Continuity) -> tuple[list[StateChange], ModelCall]:
        """The changes the storyboard wrote for the scene (read from its words by the offline director)."""
        return list(scene.changes), ModelCall(model="local-state", seconds=0.0)

    def audio_phrases(self, audio: Path, duration_s: float) -> tuple[list[Phrase], ModelCall]:
        """Phrases where the signal changes, each described by its loudness and its onsets."""
        from vidpipe_dagster.media.audio import phrase_boundaries, phrase_profiles

        started = time.perf_counter()
        starts = [0.0, *phrase_boundaries(audio)]
        phrases = describe_phrases(starts, *phrase_profiles(audio, starts))
        return phrases, ModelCall(model="local-audio-segmentation", seconds=_elapsed(started))

    def rewrite_prompt(self, *, prompt: str, issues: list[JudgeIssue], problems: list[str]) -> tuple[str, ModelCall]:
        """The prompt with every fix appended that it does not already say: deterministic."""
        started = time.perf_counter()
        return apply_fixes(prompt, fixes_for(issues, problems)), ModelCall(model="local-rewrite", seconds=_elapsed(started))


class LocalImageModel(ConfigurableResource):
    """Draws reference images and keyframes with Pillow."""

    def reference_image(
        self, *, prompt: str, subject: Character | Location, storyboard: Storyboard, out: Path, size: tuple[int, int]
    ) -> ModelCall:
        from vidpipe_dagster.media.draw import draw_reference

        started = time.perf_counter()
        draw_reference(subject.name, subject.description or subject.name, seed=stable_seed(storyboard.metadata.title, subject.id), size=size, out=out)
        return ModelCall(model="local-pillow", seconds=_elapsed(started))

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
        from vidpipe_dagster.media.draw import draw_keyframe

        started = time.perf_counter()
        draw_keyframe(
            caption=f"{scene.number}. {scene.shot_type}, {scene.lighting}",
            palette_seed=stable_seed(storyboard.metadata.title, scene.location),
            layout_seed=stable_seed(prompt),
            references=references,
            size=size,
            out=out,
        )
        return ModelCall(model="local-pillow", seconds=_elapsed(started))


class LocalVideoModel(ConfigurableResource):
    """Renders a silent clip that moves from the start keyframe to the end keyframe with ffmpeg, by
    default small (360p) so local runs stay quick."""

    default_resolution: str = "360p"

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
        started = time.perf_counter()
        # The prompt and the seed change the frames in between, as they would a real model's.
        plain = out.with_name(f"plain-{out.name}")
        render_clip(start_frame, end_frame, plain, duration_s=scene.duration_s, fps=FPS, size=size)
        try:
            vary_clip(plain, out, variation=clip_variation(prompt, seed), frame_count=scene.duration_s * FPS)
        finally:
            plain.unlink(missing_ok=True)
        return ModelCall(model="local-ffmpeg", seconds=_elapsed(started))


#: The rule the local judge suggests at scene 2, so rule learning is exercised without a model.
LOCAL_RULE_SUGGESTION = "Keep every character's wardrobe identical to their reference sheet in every scene."
_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}


def _grade(badness: float, minor: float, major: float, fail: float) -> Grade:
    """PASS / MINOR / MAJOR / FAIL by how far a measured defect goes past each limit."""
    if badness >= fail:
        return "FAIL"
    if badness >= major:
        return "MAJOR"
    if badness >= minor:
        return "MINOR"
    return "PASS"


class LocalJudge(ConfigurableResource):
    """Grades what can be measured: a clip's length, black and frozen frames and its continuity with
    the previous scene's last frame; a keyframe's exposure. What no measurement can see (acting,
    likeness) passes. Suggests one rule, at scene 2, so rule learning runs end to end. A clip's
    `measures`, when given, are read instead of decoding it again."""

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
        from PIL import Image, ImageStat

        started = time.perf_counter()
        media = Path(media)
        issues: list[JudgeIssue] = []
        if media.suffix.lower() in _IMAGE_SUFFIXES:
            with Image.open(media) as image:
                luma = ImageStat.Stat(image.convert("L")).mean[0]
            black = 1.0 if luma < 16 else 0.0
            timing_error, frozen, continuity = 0.0, 0.0, None
        else:
            # Only a continuous opening must match the previous frame; a cut shows a new angle.
            continues = previous_frame is not None and scene.opens_on_previous_frame
            if measures is None or (continues and measures.continuity_ssim is None):
                measures, _ = measure_frames(media, previous_frame if continues else None)
            black, frozen = measures.black_ratio, measures.still_ratio
            timing_error = abs(measures.duration_s - scene.duration_s) / scene.duration_s
            continuity = measures.continuity_ssim if continues else None
        technical = _grade(max(black, frozen), 0.05, 0.2, 0.5)
        narrative = _grade(max(black, timing_error), 0.05, 0.2, 0.5)
        continuity_grade = "PASS" if continuity is None else _grade(1 - continuity, 0.15, 0.4, 0.7)
        if black > 0.05:
            issues.append(JudgeIssue(department="gaffer", category="technical_quality", severity="critical" if black >= 0.5 else "major",
                                     description=f"{black:.0%} of the picture is black", suggested_fix="keep the subject lit; avoid fading to black"))
        if frozen > 0.05:
            issues.append(JudgeIssue(department="cinematographer", category="technical_quality", severity="major",
                                     description=f"{frozen:.0%} of frames are frozen", suggested_fix="keep the camera and subject moving"))
        if timing_error > 0.05:
            issues.append(JudgeIssue(department="director", category="narrative_fidelity", severity="major",
                                     description=f"runs {timing_error:.0%} off its {scene.duration_s} s", suggested_fix=f"play the action over exactly {scene.duration_s} seconds"))
        if continuity_grade != "PASS":
            issues.append(JudgeIssue(department="script_supervisor", category="continuity", severity="major", timestamp_s=0.0,
                                     description=f"opens unlike the previous scene's last frame (SSIM {continuity:.2f})",
                                     suggested_fix="open on exactly the previous scene's final frame"))
        return JudgeVerdict(
            grades={
                "narrative_fidelity": narrative,
                "character_consistency": "PASS",
                "technical_quality": technical,
                "emotional_authenticity": "PASS",
                "continuity": continuity_grade,
            },
            issues=issues,
            feedback="; ".join(issue.description for issue in issues) or "meets every measured check",
            rule_suggestion=LOCAL_RULE_SUGGESTION if scene.number == 2 and media.suffix.lower() not in _IMAGE_SUFFIXES else None,
            call=ModelCall(model="local-judge", seconds=_elapsed(started)),
        )
