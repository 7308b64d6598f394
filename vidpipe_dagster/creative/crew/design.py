"""The production designer: the place, its time and weather, its elements and palette, and its
current state."""

from __future__ import annotations

from vidpipe_dagster.creative.state import lines_for
from vidpipe_dagster.domain import Location, Scene, StateLine


def setting(location: Location, scene: Scene | None = None) -> list[str]:
    """The place as the scene finds it (its own time and weather when it says), else as the sheet has it."""
    time_of_day = (scene.time_of_day if scene else "") or location.time_of_day
    weather = (scene.weather if scene else "") or location.weather
    when = ", ".join(part for part in (time_of_day, weather) if part)
    line = f"Setting: {location.name}" + (f", {when}" if when else "")
    line += f": {location.description.rstrip('.')}." if location.description else "."
    lines = [line]
    if location.key_elements:
        lines.append(f"In the set: {', '.join(location.key_elements)}.")
    if location.palette:
        lines.append(f"Palette: {', '.join(location.palette)}.")
    return lines


def setting_state(location: Location, state: list[StateLine]) -> list[str]:
    return [f"- {location.name}, {line.aspect}: {line.value} (since scene {line.since_scene})." for line in lines_for(state, location.id)]
