"""Is a clip good enough? Measures, thresholds and the verdict, with no Dagster in sight.

The same assessment runs inside `scene_clip` (to decide whether to retry with a corrected prompt)
and in the `clip_quality` asset check (to report on whichever attempt is accepted).
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image
from pydantic import BaseModel, Field

from vidpipe_dagster.domain import JudgeVerdict, Scene
from vidpipe_dagster.media.frames import first_frame, frame_stats, ssim
from vidpipe_dagster.media.probe import probe

# Mean absolute luma change between consecutive frames below which a frame counts as frozen.
# Measured: a slow 8 s crossfade between two keyframes changes ~0.3 per frame; a still clip ~0.0.
FROZEN_LUMA_DELTA = 0.1


class QualityThresholds(BaseModel):
    min_judge_score: float = Field(default=0.6, ge=0, le=1)
    max_black_ratio: float = Field(default=0.2, ge=0, le=1)
    max_frozen_ratio: float = Field(default=0.5, ge=0, le=1)
    min_continuity_ssim: float = Field(default=0.85, ge=0, le=1)
    duration_tolerance_s: float = Field(default=0.25, ge=0)


class ClipMeasures(BaseModel):
    duration_s: float
    expected_duration_s: int
    resolution: tuple[int, int]
    expected_resolution: tuple[int, int]
    black_ratio: float
    frozen_ratio: float
    continuity_ssim: float | None = Field(description="First frame against the frame it must continue from.")
    judge_score: float
    judge_categories: dict[str, float] = Field(default_factory=dict)


class QualityReport(BaseModel):
    passed: bool
    score: float = Field(description="One number to rank attempts by: the judge's score less penalties.")
    problems: list[str]
    measures: ClipMeasures

    def scores(self) -> dict[str, float | bool | None]:
        """What goes into the attempt log and the materialization metadata."""
        measures = self.measures
        return {
            "passed": self.passed,
            "score": self.score,
            "judge_score": measures.judge_score,
            "black_ratio": round(measures.black_ratio, 4),
            "frozen_ratio": round(measures.frozen_ratio, 4),
            "continuity_ssim": None if measures.continuity_ssim is None else round(measures.continuity_ssim, 4),
            "duration_s": round(measures.duration_s, 3),
        }


def measure_clip(clip: Path, scene: Scene, expected_resolution: tuple[int, int], continues_from: Path | None, verdict: JudgeVerdict) -> ClipMeasures:
    facts = probe(clip)
    stats = frame_stats(clip, frozen_delta=FROZEN_LUMA_DELTA)
    continuity = None
    if continues_from is not None:
        with Image.open(continues_from) as previous:
            continuity = ssim(previous.convert("RGB"), first_frame(clip))
    return ClipMeasures(
        duration_s=facts.duration_s,
        expected_duration_s=scene.duration_s,
        resolution=(facts.width, facts.height),
        expected_resolution=expected_resolution,
        black_ratio=stats.black_frame_ratio,
        frozen_ratio=stats.frozen_frame_ratio,
        continuity_ssim=continuity,
        judge_score=verdict.score,
        judge_categories=verdict.categories,
    )


def assess(measures: ClipMeasures, thresholds: QualityThresholds) -> QualityReport:
    problems = []
    if abs(measures.duration_s - measures.expected_duration_s) > thresholds.duration_tolerance_s:
        problems.append(f"runs {measures.duration_s:.2f} s instead of {measures.expected_duration_s} s")
    if measures.resolution != measures.expected_resolution:
        problems.append(f"is {measures.resolution[0]}x{measures.resolution[1]}, not {measures.expected_resolution[0]}x{measures.expected_resolution[1]}")
    if measures.black_ratio > thresholds.max_black_ratio:
        problems.append(f"{measures.black_ratio:.0%} of frames are black")
    if measures.frozen_ratio > thresholds.max_frozen_ratio:
        problems.append(f"{measures.frozen_ratio:.0%} of frames are frozen")
    if measures.continuity_ssim is not None and measures.continuity_ssim < thresholds.min_continuity_ssim:
        problems.append(f"opens with SSIM {measures.continuity_ssim:.2f} against the previous scene's last frame")
    if measures.judge_score < thresholds.min_judge_score:
        problems.append(f"judge scored {measures.judge_score:.2f} (needs {thresholds.min_judge_score:.2f})")
    score = max(0.0, measures.judge_score - measures.black_ratio - 0.5 * measures.frozen_ratio)
    if measures.continuity_ssim is not None:
        score -= max(0.0, thresholds.min_continuity_ssim - measures.continuity_ssim)
    return QualityReport(passed=not problems, score=round(max(0.0, score), 4), problems=problems, measures=measures)


def correction_for(report: QualityReport, judge_correction: str) -> str:
    """The note appended to the next attempt's prompt: what the judge asked for, and what failed."""
    parts = [judge_correction.strip()] if judge_correction.strip() else []
    if report.problems:
        parts.append(f"avoid what failed last time ({'; '.join(report.problems)})")
    return "; ".join(parts)
