"""The deterministic `local` backend: no network, no credentials, same input -> same output.

Storyboards are derived from the brief with a seeded generator, images are drawn with Pillow and
clips are rendered by ffmpeg moving from the start keyframe to the end keyframe, so continuity
between scenes is real and measurable.
"""

from __future__ import annotations

import hashlib
import random
import re
import time
from pathlib import Path

from dagster import ConfigurableResource

from vidpipe_dagster.domain import (
    Brief,
    Character,
    JudgeVerdict,
    Location,
    ModelCall,
    Scene,
    Storyboard,
    StoryboardMetadata,
)
from vidpipe_dagster.media.audio import phrase_boundaries
from vidpipe_dagster.media.draw import draw_keyframe, draw_reference
from vidpipe_dagster.media.ffmpeg import render_clip
from vidpipe_dagster.media.frames import frame_stats
from vidpipe_dagster.media.probe import probe
from vidpipe_dagster.media.variation import clip_variation, vary_clip
from vidpipe_dagster.timing import FPS, default_durations

_CHARACTER_NAMES = ("Ada", "Bram", "Cleo", "Dev", "Esme", "Finn", "Gus", "Hana")
_LOCATIONS = (
    ("harbor", "Harbor at dawn", "a fishing harbor with moored boats and low fog"),
    ("rooftop", "City rooftop", "a rooftop garden above a dense city at dusk"),
    ("forest", "Birch forest", "a pale birch forest with shafts of light"),
    ("studio", "Workshop", "a cluttered workshop full of half-built machines"),
)
_SHOTS = ("wide shot", "medium shot", "close-up", "over-the-shoulder shot")
_ANGLES = ("eye level", "low angle", "high angle", "dutch angle")
_MOVES = ("slow push in", "pan left", "static", "dolly out", "crane up")
_LIGHT = ("soft morning light", "golden hour backlight", "neon practicals", "overcast diffuse light")


def stable_seed(*parts: object) -> int:
    """A seed from text that is the same in every process (Python's hash() is salted)."""
    return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:8], "big")


def _elapsed(started: float) -> float:
    return round(time.perf_counter() - started, 3)


class LocalTextModel(ConfigurableResource):
    """Writes a storyboard from the brief with a seeded generator, and finds an audio track's
    phrases in its signal (`media.audio.phrase_boundaries`)."""

    def write_storyboard(self, brief: Brief, scene_durations: list[int] | None = None) -> tuple[Storyboard, ModelCall]:
        started = time.perf_counter()
        rng = random.Random(stable_seed(brief.project_id, brief.seed, brief.prompt))
        durations = scene_durations or default_durations(brief.scene_count, brief.seed)
        words = re.findall(r"[A-Za-z']+", brief.prompt)
        title = " ".join(words[:5]).title() or brief.project_id
        characters = [
            Character(id=name.lower(), name=name, description=f"{name}, {rng.choice(('curious', 'stubborn', 'gentle', 'restless'))}, central to: {brief.prompt[:120]}")
            for name in rng.sample(_CHARACTER_NAMES, 2)
        ]
        locations = [Location(id=loc_id, name=name, description=text) for loc_id, name, text in rng.sample(_LOCATIONS, 2)]
        scenes = []
        for number, duration in enumerate(durations, start=1):
            hint = brief.scene_hints[number - 1] if number <= len(brief.scene_hints) else ""
            location = locations[(number - 1) * len(locations) // len(durations)]
            cast = [c.id for c in characters if rng.random() < 0.7] or [characters[0].id]
            scenes.append(
                Scene(
                    number=number,
                    duration_s=duration,
                    description=hint or f"Beat {number} of {len(durations)}: {brief.prompt[:160]}",
                    shot_type=_SHOTS[(number - 1) % len(_SHOTS)],
                    camera_angle=rng.choice(_ANGLES),
                    camera_movement=rng.choice(_MOVES),
                    lighting=rng.choice(_LIGHT),
                    continuity_notes="opens on the previous scene's final frame" if number > 1 else "",
                    characters=cast,
                    location=location.id,
                )
            )
        storyboard = Storyboard(
            metadata=StoryboardMetadata(
                title=title, logline=brief.prompt[:200], style=brief.style, aspect_ratio=brief.aspect_ratio
            ),
            characters=characters,
            locations=locations,
            scenes=scenes,
        )
        return storyboard, ModelCall(model="local-storyboard", seconds=_elapsed(started))

    def audio_phrases(self, audio: Path, duration_s: float) -> tuple[list[float], ModelCall]:
        started = time.perf_counter()
        boundaries = phrase_boundaries(audio)
        return boundaries, ModelCall(model="local-audio-segmentation", seconds=_elapsed(started))


class LocalImageModel(ConfigurableResource):
    """Draws reference images and keyframes with Pillow."""

    def reference_image(
        self, *, subject: Character | Location, storyboard: Storyboard, out: Path, size: tuple[int, int]
    ) -> ModelCall:
        started = time.perf_counter()
        draw_reference(subject.name, subject.description, seed=stable_seed(storyboard.metadata.title, subject.id), size=size, out=out)
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
    """Renders a clip that moves from the start keyframe to the end keyframe with ffmpeg."""

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
        started = time.perf_counter()
        # The prompt and the seed change the frames in between, as they would a real model's.
        plain = out.with_name(f"plain-{out.name}")
        render_clip(start_frame, end_frame, plain, duration_s=scene.duration_s, fps=FPS, size=size)
        try:
            vary_clip(plain, out, variation=clip_variation(prompt, seed), frame_count=scene.duration_s * FPS)
        finally:
            plain.unlink(missing_ok=True)
        return ModelCall(model="local-ffmpeg", seconds=_elapsed(started))


class LocalJudge(ConfigurableResource):
    """Scores a clip from what can be measured: its length, black and frozen frames."""

    def judge(self, *, clip: Path, scene: Scene, storyboard: Storyboard, prompt: str) -> JudgeVerdict:
        started = time.perf_counter()
        facts = probe(clip)
        stats = frame_stats(clip)
        timing = max(0.0, 1.0 - abs(facts.duration_s - scene.duration_s) / scene.duration_s)
        technical = max(0.0, 1.0 - stats.black_frame_ratio - stats.frozen_frame_ratio)
        score = round(0.5 * timing + 0.5 * technical, 4)
        problems = []
        if stats.black_frame_ratio > 0.1:
            problems.append("keep the subject lit; avoid fading to black")
        if stats.frozen_frame_ratio > 0.5:
            problems.append("keep the camera and subject moving")
        return JudgeVerdict(
            score=score,
            categories={"timing": round(timing, 4), "technical_quality": round(technical, 4)},
            correction="; ".join(problems),
            call=ModelCall(model="local-judge", seconds=_elapsed(started)),
        )
