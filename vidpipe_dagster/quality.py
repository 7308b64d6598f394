"""Is a clip or a keyframe good enough? Measures, the judge's verdict under the thresholds in
force, and the choice among attempts, with no Dagster in sight.

The same assessment runs inside `scene_keyframes` and `scene_clip` (to decide whether to retry
with a rewritten prompt) and in the `clip_quality` asset check (to report on the accepted attempt).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel, Field

from vidpipe_dagster.creative.rubric import Verdict
from vidpipe_dagster.domain import FrameStatistics, InvalidInput, JudgeVerdict, QualityThresholds, Scene
from vidpipe_dagster.media.probe import probe

if TYPE_CHECKING:
    from vidpipe_dagster.media.frames import DecodedClip

# Mean absolute luma change between consecutive frames below which a frame counts as frozen.
# Measured: a slow 8 s crossfade between two keyframes changes ~0.3 per frame; a still clip ~0.0.
FROZEN_LUMA_DELTA = 0.1
# The local judge's looser threshold: it grades any change under half a luma level as still.
STILL_LUMA_DELTA = 0.5
# Bumped whenever the measuring code changes what it measures: stored measures of an older
# version are taken again (by the `clip_quality` check), never trusted.
MEASURER_VERSION = 1

ResultT = TypeVar("ResultT")


class MeasureLimits(BaseModel):
    """What a clip must measure up to whatever the judge says."""

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


class QualityReport(BaseModel):
    passed: bool = Field(description="Accepted at once: the score reaches `accept` and nothing measured failed.")
    usable: bool = Field(description="Good enough to be the best of several attempts (the score reaches `pass`).")
    verdict: Verdict
    score: float = Field(description="One number to rank attempts by: the judge's score less measured penalties.")
    problems: list[str]
    judge: JudgeVerdict
    thresholds: QualityThresholds
    measures: ClipMeasures | None = None

    def scores(self) -> dict[str, Any]:
        """What goes into the attempt's manifest and the ledger: every grade, issue and measure."""
        judge = self.judge
        measures = self.measures
        return {
            "passed": self.passed,
            "verdict": self.verdict,
            "score": self.score,
            "judge_score": judge.score,
            "grades": dict(judge.grades),
            "issues": [issue.model_dump() for issue in judge.issues],
            "feedback": judge.feedback,
            "rule_suggestion": judge.rule_suggestion,
            "thresholds": self.thresholds.model_dump(by_alias=True),
            **(
                {
                    "black_ratio": round(measures.black_ratio, 4),
                    "frozen_ratio": round(measures.frozen_ratio, 4),
                    "continuity_ssim": None if measures.continuity_ssim is None else round(measures.continuity_ssim, 4),
                    "duration_s": round(measures.duration_s, 3),
                }
                if measures
                else {}
            ),
        }

    def why(self) -> str:
        """Why this attempt falls short, for a log line or an error."""
        weak = [f"{name} {grade}" for name, grade in self.judge.grades.items() if grade != "PASS"]
        parts = [f"score {self.score:.2f} ({self.verdict})", *weak, *self.problems]
        parts += [f"{issue.severity} {issue.department}: {issue.description}" for issue in self.judge.issues[:3]]
        return "; ".join(parts)


def measure_frames(clip: Path, continues_from: Path | None = None, reference: str | None = None) -> tuple[FrameStatistics, DecodedClip]:
    """Everything measured of `clip` from one decode of it (and the decode, for its pictures):
    continuity against `continues_from`, a frame whose sha256 is `reference`, when it continues one."""
    from PIL import Image

    from vidpipe_dagster.media.frames import decode_clip, frame_stats, ssim

    facts = probe(clip)
    decoded = decode_clip(clip)
    stats = frame_stats(decoded, frozen_delta=FROZEN_LUMA_DELTA)
    continuity = None
    if continues_from is not None:
        with Image.open(continues_from) as previous:
            continuity = ssim(previous.convert("RGB"), decoded.first)
    statistics = FrameStatistics(
        measurer_version=MEASURER_VERSION,
        decodes=1,
        frames=stats.frames,
        duration_s=facts.duration_s,
        width=facts.width,
        height=facts.height,
        mean_luma=stats.mean_luma,
        black_ratio=stats.black_frame_ratio,
        frozen_ratio=stats.frozen_frame_ratio,
        still_ratio=frame_stats(decoded, frozen_delta=STILL_LUMA_DELTA).frozen_frame_ratio,
        continuity_ssim=continuity,
        continuity_reference=reference if continues_from is not None else None,
    )
    return statistics, decoded


def stored_statistics(facts: dict[str, Any], reference: str | None) -> tuple[FrameStatistics | None, str]:
    """The frame statistics stored in an attempt's `facts` if they can stand for measuring the clip
    now (same measurer version, continuity against the frame `reference`), and why not otherwise."""
    stored = facts.get("frame_statistics")
    if stored is None:
        return None, "none stored"
    statistics = FrameStatistics.model_validate(stored)
    if statistics.measurer_version != MEASURER_VERSION:
        return None, f"stored by measurer v{statistics.measurer_version}, now v{MEASURER_VERSION}"
    if statistics.continuity_reference != reference:
        return None, "stored against another start frame"
    return statistics, f"stored (measurer v{MEASURER_VERSION})"


def clip_measures(statistics: FrameStatistics, scene: Scene, expected_resolution: tuple[int, int]) -> ClipMeasures:
    return ClipMeasures(
        duration_s=statistics.duration_s,
        expected_duration_s=scene.duration_s,
        resolution=(statistics.width, statistics.height),
        expected_resolution=expected_resolution,
        black_ratio=statistics.black_ratio,
        frozen_ratio=statistics.frozen_ratio,
        continuity_ssim=statistics.continuity_ssim,
    )


def measured_problems(measures: ClipMeasures, limits: MeasureLimits) -> list[str]:
    problems = []
    if abs(measures.duration_s - measures.expected_duration_s) > limits.duration_tolerance_s:
        problems.append(f"runs {measures.duration_s:.2f} s instead of {measures.expected_duration_s} s")
    if measures.resolution != measures.expected_resolution:
        problems.append(f"is {measures.resolution[0]}x{measures.resolution[1]}, not {measures.expected_resolution[0]}x{measures.expected_resolution[1]}")
    if measures.black_ratio > limits.max_black_ratio:
        problems.append(f"{measures.black_ratio:.0%} of frames are black")
    if measures.frozen_ratio > limits.max_frozen_ratio:
        problems.append(f"{measures.frozen_ratio:.0%} of frames are frozen")
    if measures.continuity_ssim is not None and measures.continuity_ssim < limits.min_continuity_ssim:
        problems.append(f"opens with SSIM {measures.continuity_ssim:.2f} against the previous scene's last frame")
    return problems


def assess(
    verdict: JudgeVerdict, thresholds: QualityThresholds, measures: ClipMeasures | None = None, limits: MeasureLimits | None = None
) -> QualityReport:
    """The judge's verdict under `thresholds`, less penalties for what was measured (clips only)."""
    score = verdict.score
    problems: list[str] = []
    if measures is not None:
        limits = limits or MeasureLimits()
        problems = measured_problems(measures, limits)
        score -= measures.black_ratio + 0.5 * measures.frozen_ratio
        if measures.continuity_ssim is not None:
            score -= max(0.0, limits.min_continuity_ssim - measures.continuity_ssim)
    score = round(max(0.0, score), 4)
    label = thresholds.verdict(score)
    return QualityReport(
        passed=label == "ACCEPT" and not problems,
        usable=label in ("ACCEPT", "MINOR_ISSUES"),
        verdict=label,
        score=score,
        problems=problems,
        judge=verdict,
        thresholds=thresholds,
        measures=measures,
    )


class BelowTheBar(InvalidInput):
    """No attempt reached the `pass` threshold: nothing is accepted (unless forced)."""


@dataclass(frozen=True)
class Tried(Generic[ResultT]):
    result: ResultT
    report: QualityReport
    prompt: str


def judged_attempts(
    *,
    what: str,
    prompt: str,
    max_attempts: int,
    force: bool,
    attempt: Callable[[int, str], tuple[ResultT, QualityReport]],
    rewrite: Callable[[str, QualityReport], str],
) -> tuple[Tried[ResultT], list[Tried[ResultT]]]:
    """Make, judge and keep up to `max_attempts` attempts of `what`, rewriting the prompt with the
    judge's fixes after each one that falls short; stop at the first that passes.

    Returns the chosen attempt (the passing one, else the best usable one) and every attempt.
    `force` takes the first attempt whatever it scores. With no usable attempt, `BelowTheBar`
    names why, and nothing downstream is made from any of them."""
    tried: list[Tried[ResultT]] = []
    for number in range(1, (1 if force else max_attempts) + 1):
        result, report = attempt(number, prompt)
        tried.append(Tried(result, report, prompt))
        if report.passed or force:
            return tried[-1], tried
        if number < max_attempts:
            prompt = rewrite(prompt, report)
    best = max(tried, key=lambda candidate: candidate.report.score)
    if not best.report.usable:
        raise BelowTheBar(
            f"{what}: no attempt of {len(tried)} reached the pass bar {best.report.thresholds.pass_:g}; "
            f"the best has {best.report.why()}. Regenerate with a changed prompt, lower the brief's "
            "quality thresholds, or force it"
        )
    return best, tried
