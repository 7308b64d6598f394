"""The gaffer: the scene's key light, its quality and colour, and the sources that motivate it."""

from __future__ import annotations

from vidpipe_dagster.domain import Location, Scene


def lighting(scene: Scene, location: Location) -> list[str]:
    light = scene.lighting
    sources = light.motivated_sources or location.light_sources
    line = f"Key light: {light.key_light}."
    if light.quality:
        line += f" Quality: {light.quality}."
    if light.colour_temperature:
        line += f" Colour: {light.colour_temperature}."
    if sources:
        line += f" Motivated by {_and(sources)}; keep their direction from shot to shot."
    return [line]


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"
