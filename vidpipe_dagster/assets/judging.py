"""Judged attempts, wired to the model resources: the thresholds in force for a step, the picture
size of a project, and keyframes drawn, judged and rewritten until one is good enough.

The choice among attempts is `quality.judged_attempts` (pure); this module only hands it the
model calls.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dagster import MetadataValue

from vidpipe_dagster.artifacts import read_manifest, split_partition, upstream_label
from vidpipe_dagster.assets.common import fetch
from vidpipe_dagster.domain import RESOLUTION_SHORT_SIDE, Brief, ModelCall, QualityThresholds, Scene, StoredArtifact, Storyboard, scene_key
from vidpipe_dagster.partitions import scene_partition_key
from vidpipe_dagster.log_context import get_logger
from vidpipe_dagster.quality import QualityReport, Tried, assess, judged_attempts
from vidpipe_dagster.resources.models.protocols import QualityJudge, TextModel, VideoModel
from vidpipe_dagster.resources.quality_policy import QualityConfig, QualityPolicy
from vidpipe_dagster.resources.storage import BlobStore
from vidpipe_dagster.timing import frame_size

log = get_logger(__name__)


def thresholds_for(policy: QualityPolicy, brief: Brief, launchpad: QualityConfig) -> QualityThresholds:
    """Environment, then brief, then launchpad: the later wins; a contradiction is refused."""
    return QualityThresholds.resolve(policy.defaults.override(), brief.quality, launchpad.override())


def project_size(brief: Brief, aspect_ratio: str, video_model: VideoModel) -> tuple[int, int]:
    """Keyframe and clip size: the brief's resolution, else the video backend's default."""
    return frame_size(aspect_ratio, RESOLUTION_SHORT_SIDE[brief.resolution or video_model.default_resolution])


def previous_last_frame(store: BlobStore, keyframes: StoredArtifact, previous: int, directory: Path) -> Path | None:
    """The last frame of the clip of scene `previous` (the one this scene follows), the very attempt
    `keyframes` were made after (from their lineage), for the judge to check continuity against;
    None when there is none (previous 0: the film's first kept scene)."""
    if not previous:
        return None
    project, _ = split_partition(keyframes.partition)
    partition = str(scene_partition_key(project, scene_key(previous)))
    attempt = keyframes.upstream.get(upstream_label("scene_clip", partition))
    if attempt is None:
        return None
    return clip_last_frame(store, read_manifest(store, "scene_clip", partition, attempt), directory)


def clip_last_frame(store: BlobStore, clip: StoredArtifact, directory: Path) -> Path:
    """The last frame of a stored clip as a PNG: the one its attempt stored (taken in the pass that
    measured it), or, for a clip stored without one, decoded from the clip now."""
    from vidpipe_dagster.media.frames import extract_last_frame

    if "last.png" in clip.objects:
        return fetch(store, clip, "last.png", directory)
    return extract_last_frame(fetch(store, clip, "clip.mp4", directory), directory / f"{clip.asset}-a{clip.attempt}-last.png")


def rewriter(text_model: TextModel, calls: list[ModelCall]) -> Callable[[str, QualityReport], str]:
    """Correction by rewrite: the text model rewrites the prompt with the judge's fixes applied."""

    def rewrite(prompt: str, report: QualityReport) -> str:
        rewritten, call = text_model.rewrite_prompt(prompt=prompt, issues=report.judge.issues, problems=report.problems)
        calls.append(call)
        log.info("rewrote the prompt after %s (%d -> %d characters)", report.why(), len(prompt), len(rewritten))
        return rewritten

    return rewrite


def attempt_row(number: int, tried: Tried[Any], previous_prompt: str | None) -> dict[str, Any]:
    """One attempt as stored: its prompt (and the one it was rewritten from) and every grade."""
    return {"attempt": number, "prompt": tried.prompt, "previous_prompt": previous_prompt, **tried.report.scores()}


def chart_metadata(report: QualityReport, attempts: int) -> dict[str, MetadataValue]:
    """Numbers the Dagster UI plots over partitions and time: top-level float and int metadata."""
    return {
        "score": MetadataValue.float(float(report.score)),
        "judge_score": MetadataValue.float(float(report.judge.score)),
        "attempts": MetadataValue.int(attempts),
    }


@dataclass
class JudgedKeyframe:
    path: Path
    prompt: str
    report: QualityReport
    rows: list[dict[str, Any]]
    calls: list[ModelCall] = field(default_factory=list)


def judge_keyframe(
    *,
    name: str,
    prompt: str,
    draw: Callable[[str, Path], ModelCall],
    directory: Path,
    judge: QualityJudge,
    text_model: TextModel,
    scene: Scene,
    storyboard: Storyboard,
    thresholds: QualityThresholds,
    force: bool,
    previous_frame: Path | None = None,
    previous_description: str | None = None,
    rules: list[str] | None = None,
) -> JudgedKeyframe:
    """Draw the `name` keyframe ('start' or 'end') with `draw(prompt, out)`, judge it on the rubric
    and redraw from a rewritten prompt until it passes or `thresholds.max_attempts` are spent.
    Below the pass bar after them, `BelowTheBar` fails the step (unless `force`), so no clip is
    ever paid for from it."""
    calls: list[ModelCall] = []

    def attempt(number: int, text: str) -> tuple[Path, QualityReport]:
        out = directory / f"{name}-try-{number}.png"
        calls.append(draw(text, out))
        verdict = judge.judge(
            media=out, scene=scene, storyboard=storyboard, prompt=text, previous_frame=previous_frame,
            previous_description=previous_description, rules=rules,
        )
        calls.append(verdict.call)
        report = assess(verdict, thresholds)
        log.info("scene %s %s keyframe try %d: %s", scene.key, name, number, report.why())
        return out, report

    chosen, tried = judged_attempts(
        what=f"the {name} keyframe of scene {scene.key}", prompt=prompt, max_attempts=thresholds.max_attempts,
        force=force, attempt=attempt, rewrite=rewriter(text_model, calls),
    )
    rows = [attempt_row(number, each, tried[number - 2].prompt if number > 1 else None) for number, each in enumerate(tried, start=1)]
    return JudgedKeyframe(path=chosen.result, prompt=chosen.prompt, report=chosen.report, rows=rows, calls=calls)
