"""The script supervisor: how the shot joins the one before, screen direction, eyelines and props."""

from __future__ import annotations

from vidpipe_dagster.domain import Scene, StateLine, Storyboard


def checklist(board: Storyboard, scene: Scene, state: list[StateLine]) -> list[str]:
    names = [board.character(character_id).name for character_id in scene.characters]
    previous = board.scenes[scene.number - 2] if scene.number > 1 else None
    lines = ["Continuity checklist:"]
    if previous is None:
        lines.append("- Opening shot: establish the place and who is where.")
    elif scene.opens_on_previous_frame:
        lines.append(f"- Continues scene {previous.number}'s shot from its last frame: same framing, light, positions.")
    else:
        lines.append(
            f"- Cut from scene {previous.number}: a new angle, but the same faces, wardrobe, state and look."
        )
    if previous is not None and previous.location == scene.location:
        lines.append("- Screen direction: characters keep their left/right sides; do not cross the 180-degree line.")
    if len(names) >= 2:
        lines.append(f"- Eyelines: {names[0]} and {names[1]} look at each other or at the same thing, never past it.")
    elif names:
        lines.append(f"- Eyelines: {names[0]} looks into the open side of the frame.")
    props = [f"{board.character(line.subject).name} holds {line.value}" for line in state if line.aspect == "props" and line.subject in scene.characters]
    if props:
        lines.append(f"- Props in hand: {'; '.join(props)}.")
    if scene.continuity_notes:
        lines.append(f"- {scene.continuity_notes.rstrip('.')}.")
    return lines
