"""Costume and makeup: each present character's fixed traits and this scene's wardrobe, and how they
look now (the continuity record)."""

from __future__ import annotations

from vidpipe_dagster.creative.state import lines_for
from vidpipe_dagster.domain import Character, Scene, StateLine, Storyboard


def traits(character: Character, wardrobe: str | None = None) -> str:
    fixed = [
        ("age", character.age),
        ("build", character.build),
        ("face", character.face),
        ("hair", character.hair),
        ("wears", wardrobe or character.wardrobe),
        ("accessories", ", ".join(character.accessories)),
    ]
    described = "; ".join(f"{name}: {value}" for name, value in fixed if value)
    return f"{character.name}: {described or character.description}."


def cast(board: Storyboard, scene: Scene) -> list[str]:
    if not scene.characters:
        return ["Cast: nobody on screen."]
    return ["Cast (match the reference sheets exactly):"] + [
        f"- {traits(board.character(character_id), scene.wardrobe.get(character_id))}" for character_id in scene.characters
    ]


def cast_state(board: Storyboard, scene: Scene, state: list[StateLine]) -> list[str]:
    lines = []
    for character_id in scene.characters:
        name = board.character(character_id).name
        lines += [f"- {name}, {line.aspect}: {line.value} (since scene {line.since_scene})." for line in lines_for(state, character_id)]
    return lines
