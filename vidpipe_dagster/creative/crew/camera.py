"""The cinematographer: shot, angle, movement and composition."""

from __future__ import annotations

from typing import Literal

from vidpipe_dagster.domain import Scene

Moment = Literal["start", "end"]

_MOMENTS: dict[str, str] = {
    "start": "the poised moment just before the action, in a clean readable pose, never mid-motion",
    "end": "the settled moment just after the action, poses at rest, never mid-motion",
}


def cinematography(scene: Scene, moment: Moment | None = None) -> list[str]:
    lines = [f"Camera: {scene.shot_type}, {scene.camera_angle}, {scene.camera_movement}."]
    if scene.composition:
        lines.append(f"Composition: {scene.composition}.")
    if moment:
        lines.append(f"Frame: {_MOMENTS[moment]}.")
    return lines
