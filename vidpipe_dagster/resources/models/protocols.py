"""What the pipeline needs from a model backend.

Each backend (`local`, `vertex`) provides one resource per protocol. Methods write media to the
`out` path they are given (inside the caller's workspace) and return a `ModelCall` saying which
model answered, how long it took and what it used, so assets can record it as metadata.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

from vidpipe_dagster.domain import (
    Brief,
    Character,
    Continuity,
    FrameStatistics,
    JudgeIssue,
    JudgeVerdict,
    Location,
    ModelCall,
    MusicCue,
    Phrase,
    Scene,
    StateChange,
    Storyboard,
)


class ModelRefusal(RuntimeError):
    """A model declined the request for good (a safety filter, after a sanitized retry): retrying
    the same step will not help, so it fails at once."""


@runtime_checkable
class TextModel(Protocol):
    def write_storyboard(
        self, brief: Brief, scene_durations: list[int] | None = None, music: list[MusicCue] | None = None
    ) -> tuple[Storyboard, ModelCall]:
        """The director's vision of the brief, then a storyboard on it. `scene_durations` (from an
        audio track) fixes the number of scenes and each scene's length when given, and `music`
        the music under each scene."""
        ...

    def scene_changes(self, *, storyboard: Storyboard, scene: Scene, record: Continuity) -> tuple[list[StateChange], ModelCall]:
        """What `scene` visibly changes about its characters and its place, given the record before it."""
        ...

    def audio_phrases(self, audio: Path, duration_s: float) -> tuple[list[Phrase], ModelCall]:
        """The track's phrases in order, each starting inside [0, `duration_s`), with its section
        label, mood, intensity and tempo: for scene timing and the music under each scene."""
        ...

    def rewrite_prompt(self, *, prompt: str, issues: list[JudgeIssue], problems: list[str]) -> tuple[str, ModelCall]:
        """`prompt` rewritten so the judge's issues (and measured `problems`) are fixed: it keeps
        everything the prompt says and only adds detail, counts and negative constraints."""
        ...


@runtime_checkable
class ImageModel(Protocol):
    def reference_image(
        self, *, prompt: str, subject: Character | Location, storyboard: Storyboard, out: Path, size: tuple[int, int]
    ) -> ModelCall:
        """One reference image of a character or a location, drawn from `prompt`."""
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
    #: The picture size (a key of `domain.RESOLUTION_SHORT_SIDE`) of a project whose brief sets none.
    default_resolution: str

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
        """A clip of `scene.duration_s` seconds at `size` that starts on `start_frame` and ends on
        `end_frame`, written to `out` as H.264 MP4 that stitches by stream copy. With `audio`, the
        model's own sound is asked for and kept (as AAC stereo)."""
        ...


@runtime_checkable
class QualityJudge(Protocol):
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
        """Grade a clip (MP4) or a keyframe (an image) of `scene` on the rubric's five categories,
        with issues and their fixes. `previous_frame` and `previous_description` are the previous
        scene's last frame and description, so continuity can be judged; `rules` are the project's
        generation rules in force. `measures` are the clip's frame statistics, already taken (with
        continuity against `previous_frame`), for a judge that grades from them."""
        ...
