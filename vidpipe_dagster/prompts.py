"""Prompts for the model backends, built from the storyboard: plain functions, no I/O."""

from __future__ import annotations

from typing import Literal

from vidpipe_dagster.domain import Brief, Character, Location, Scene, Storyboard


def storyboard_prompt(brief: Brief, scene_durations: list[int]) -> str:
    hints = "\n".join(
        f"- Scene {index}: {hint}" for index, hint in enumerate(brief.scene_hints, start=1) if hint
    )
    return (
        f"Write a storyboard for a {len(scene_durations)}-scene video in a {brief.style} style, "
        f"aspect ratio {brief.aspect_ratio}.\n"
        f"Creative brief: {brief.prompt}\n"
        f"Scene durations in seconds, in order: {', '.join(map(str, scene_durations))}.\n"
        + (f"Direction for particular scenes:\n{hints}\n" if hints else "")
        + "Give every scene a shot type, camera angle and movement, lighting and continuity notes, "
        "and name its characters and location by id."
    )


def reference_prompt(subject: Character | Location, storyboard: Storyboard) -> str:
    kind = "Character reference sheet" if isinstance(subject, Character) else "Location reference"
    return f"{kind}, {storyboard.metadata.style} style: {subject.name}. {subject.description}"


def _scene_cast(scene: Scene, storyboard: Storyboard) -> str:
    names = [storyboard.character(character_id).name for character_id in scene.characters]
    return ", ".join(names) if names else "no characters"


def keyframe_prompt(scene: Scene, storyboard: Storyboard, moment: Literal["start", "end"]) -> str:
    location = storyboard.location(scene.location)
    return (
        f"The {moment} frame of scene {scene.number} of '{storyboard.metadata.title}' "
        f"({storyboard.metadata.style}). {scene.description} "
        f"Shot: {scene.shot_type}, {scene.camera_angle}. Lighting: {scene.lighting}. "
        f"Location: {location.name}. Characters: {_scene_cast(scene, storyboard)}. "
        f"{scene.continuity_notes}".strip()
    )


def clip_prompt(scene: Scene, storyboard: Storyboard, *, override: str | None = None, correction: str | None = None) -> str:
    """The video prompt of a scene; a user's override replaces the description, a judge's
    correction is appended so a retry addresses what the last attempt got wrong."""
    description = override or scene.description
    prompt = (
        f"{description} Camera: {scene.camera_movement}, {scene.shot_type}, {scene.camera_angle}. "
        f"Lighting: {scene.lighting}. Style: {storyboard.metadata.style}. "
        f"Characters: {_scene_cast(scene, storyboard)}."
    )
    return f"{prompt} Correction: {correction}" if correction else prompt
