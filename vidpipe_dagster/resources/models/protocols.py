"""What the pipeline needs from a model backend.

Each backend (`local`, `vertex`) provides one resource per protocol. Methods write media to the
`out` path they are given (inside the caller's workspace) and return a `ModelCall` saying which
model answered, how long it took and what it used, so assets can record it as metadata.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

from vidpipe_dagster.domain import Brief, Character, JudgeVerdict, Location, ModelCall, Scene, Storyboard


class ModelRefusal(RuntimeError):
    """A model declined the request for good (a safety filter, after a sanitized retry): retrying
    the same step will not help, so it fails at once."""


@runtime_checkable
class TextModel(Protocol):
    def write_storyboard(self, brief: Brief, scene_durations: list[int] | None = None) -> tuple[Storyboard, ModelCall]:
        """Expand the brief into a storyboard. `scene_durations` (from an audio track) fixes the
        number of scenes and each scene's length when given."""
        ...

    def audio_phrases(self, audio: Path, duration_s: float) -> tuple[list[float], ModelCall]:
        """Phrase start times in seconds, for scene timing: sorted, each inside (0, `duration_s`)."""
        ...


@runtime_checkable
class ImageModel(Protocol):
    def reference_image(
        self, *, subject: Character | Location, storyboard: Storyboard, out: Path, size: tuple[int, int]
    ) -> ModelCall:
        """One reference image of a character or a location."""
        ...

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
        """A keyframe of `scene`, conditioned on reference images and, when given, the frame it
        must continue from."""
        ...


@runtime_checkable
class VideoModel(Protocol):
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
    ) -> ModelCall:
        """A clip of `scene.duration_s` seconds that starts on `start_frame` and ends on
        `end_frame`, written to `out` as H.264 MP4."""
        ...


@runtime_checkable
class QualityJudge(Protocol):
    def judge(self, *, clip: Path, scene: Scene, storyboard: Storyboard, prompt: str) -> JudgeVerdict:
        """Score a clip against its scene, with a prompt correction for the next attempt."""
        ...
