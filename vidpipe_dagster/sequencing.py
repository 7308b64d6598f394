"""What a project needs next, decided from when each of its assets was last materialized.

Plain data in, one decision out, no Dagster calls: the sequencing sensor gathers the event-log
storage ids (which only grow) and asks. An asset partition is stale when something it was made
from has been materialized since.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Literal

from vidpipe_dagster.domain import scene_key


@dataclass(frozen=True)
class ProjectProgress:
    scene_keys: list[str]
    storyboard: int
    references: int = 0
    keyframes: dict[str, int] = field(default_factory=dict)
    clips: dict[str, int] = field(default_factory=dict)
    final: int | None = None
    regenerate_later_scenes: bool = True
    skipped: frozenset[str] = frozenset()
    # A preview cut of the scenes done so far is asked for before each next scene.
    wants_preview: bool = False
    preview: int | None = None


@dataclass(frozen=True)
class NextStep:
    kind: Literal["scene", "clip", "preview", "final_cut"]
    scene: str | None
    reason: str
    # Identifies the state the step was asked for in: the same state never asks twice.
    basis: int


def previous_kept_scene(number: int, skipped: Collection[str]) -> str | None:
    """The scene that scene `number` opens on: the last one before it that was not skipped."""
    return next((scene_key(n) for n in range(number - 1, 0, -1) if scene_key(n) not in skipped), None)


def next_step(progress: ProjectProgress) -> NextStep | None:
    """The one run a project needs next, or None when it is complete or waiting on a person."""
    upstream = max(progress.storyboard, progress.references)
    previous_clip: int | None = None
    kept = [key for key in progress.scene_keys if key not in progress.skipped]
    for key in kept:
        keyframes, clip = progress.keyframes.get(key), progress.clips.get(key)
        if clip is None or keyframes is None:
            newest_clip = max((progress.clips[k] for k in kept if k in progress.clips), default=None)
            if progress.wants_preview and newest_clip is not None and (progress.preview or 0) < newest_clip:
                return NextStep("preview", None, "a scene was accepted since the last preview", newest_clip)
            return NextStep("scene", key, "has no clip yet", max(upstream, previous_clip or 0))
        if keyframes < upstream:
            return NextStep("scene", key, "the storyboard or reference sheets changed", upstream)
        if previous_clip is not None and keyframes < previous_clip and progress.regenerate_later_scenes:
            return NextStep("scene", key, "the previous scene was regenerated", previous_clip)
        if clip < keyframes:
            return NextStep("clip", key, "its keyframes were regenerated", keyframes)
        previous_clip = clip
    if not kept:
        return None  # every scene skipped: nothing to cut
    newest_clip = max(progress.clips[key] for key in kept)
    if progress.final is None or progress.final < newest_clip:
        return NextStep("final_cut", None, "a scene changed since the last cut" if progress.final else "every scene has a clip", newest_clip)
    return None
