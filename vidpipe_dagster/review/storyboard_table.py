"""The storyboard as Markdown tables (scenes, characters, locations), for its materialization in the UI."""

from __future__ import annotations

from vidpipe_dagster.domain import Storyboard


def _cell(text: str) -> str:
    """Table cells hold one line, and a pipe would end the cell."""
    return " ".join(str(text).split()).replace("\\", "\\\\").replace("|", "\\|") or " "


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)


def storyboard_markdown(board: Storyboard) -> str:
    names = {c.id: c.name for c in board.characters}
    places = {loc.id: loc.name for loc in board.locations}
    scenes = _table(
        ["scene", "s", "description", "shot", "camera", "lighting", "characters", "location"],
        [
            [
                scene.key, str(scene.duration_s), scene.description, scene.shot_type,
                f"{scene.camera_angle}, {scene.camera_movement}", scene.lighting,
                ", ".join(names.get(c, c) for c in scene.characters) or "-", places.get(scene.location, scene.location),
            ]
            for scene in board.scenes
        ],
    )
    characters = _table(["character", "id", "description"], [[c.name, c.id, c.description] for c in board.characters])
    locations = _table(["location", "id", "description"], [[loc.name, loc.id, loc.description] for loc in board.locations])
    return (
        f"### {_cell(board.metadata.title)}\n\n{_cell(board.metadata.logline)} ({board.total_duration_s} s, {_cell(board.metadata.style)})\n\n"
        f"#### Scenes\n\n{scenes}\n\n#### Characters\n\n{characters}\n\n#### Locations\n\n{locations}"
    )
