"""The prompts sent to the image and video models, composed from the departments' sections.

Every prompt ends with the rules in force. Keyframe and clip prompts carry the continuity record
before the scene as a "current state, keep it" section; the end keyframe adds what this scene
changes, so the clip ends where the next scene will begin.
"""

from __future__ import annotations

from vidpipe_dagster.creative.crew.camera import Moment, cinematography
from vidpipe_dagster.creative.crew.continuity import checklist
from vidpipe_dagster.creative.crew.design import setting, setting_state
from vidpipe_dagster.creative.crew.light import lighting
from vidpipe_dagster.creative.crew.wardrobe import cast, cast_state, traits
from vidpipe_dagster.creative.state import apply_changes
from vidpipe_dagster.domain import Character, Continuity, Location, Rule, Scene, StateChange, StateLine, Storyboard

STATE_HEADING = "Current state, keep it:"


def rules_section(rules: list[Rule]) -> list[str]:
    if not rules:
        return []
    return ["Rules:"] + [f"{index}. {rule.text}" for index, rule in enumerate(rules, start=1)]


def _header(board: Storyboard, scene: Scene) -> str:
    meta = board.metadata
    return f'Scene {scene.number} of {len(board.scenes)} of "{meta.title}", {scene.duration_s} s. Style: {meta.style}.'


def _mood(scene: Scene) -> list[str]:
    line = f"Mood: {scene.mood or 'as the action'}; intensity {scene.intensity}, tempo {scene.tempo.replace('_', ' ')}."
    if scene.music:
        music = scene.music
        line += f" Music: {music.section}, {music.mood or 'as the picture'}, {music.intensity} intensity, {music.tempo.replace('_', ' ')} tempo; cut to it."
    return [line]


def _state(board: Storyboard, scene: Scene, state: list[StateLine]) -> list[str]:
    lines = cast_state(board, scene, state) + setting_state(board.location(scene.location), state)
    return [STATE_HEADING, *lines] if lines else []


def _scene_sections(board: Storyboard, scene: Scene, state: list[StateLine], moment: Moment | None) -> list[str]:
    location = board.location(scene.location)
    return [
        _header(board, scene),
        f"Action: {scene.description.rstrip('.')}.",
        *_mood(scene),
        *cinematography(scene, moment),
        *lighting(scene, location),
        *setting(location, scene),
        *cast(board, scene),
        *_state(board, scene, state),
        *checklist(board, scene, state),
    ]


def keyframe_prompt(
    board: Storyboard,
    scene: Scene,
    moment: Moment,
    record: Continuity,
    changes: list[StateChange],
    *,
    references: list[str],
    previous_frame: str | None,
) -> str:
    """The image prompt of the scene's `moment` frame. The end frame shows the scene's changes
    already made; `references` name the attached images in order, then the frame it follows."""
    state = apply_changes(record.state, changes, scene.number) if moment == "end" else record.state
    lines = [f"One {board.metadata.aspect_ratio} film frame: the {moment} of the shot.", *_scene_sections(board, scene, state, moment)]
    attached = [f"reference image {index}: {name}" for index, name in enumerate(references, start=1)]
    if previous_frame:
        attached.append(f"last image: {previous_frame} (hold its faces, wardrobe, light and palette)")
    if attached:
        lines.append("Attached: " + "; ".join(attached) + ".")
    lines.append("No text, captions, borders or watermarks.")
    return "\n".join([*lines, *rules_section(record.rules)])


def clip_prompt(
    board: Storyboard, scene: Scene, record: Continuity, changes: list[StateChange]
) -> str:
    """The video prompt of the scene, from its start keyframe to its end keyframe, which already shows `changes`."""
    lines = _scene_sections(board, scene, record.state, None)
    if changes:
        lines += ["By the end of the shot (as the end frame shows):"] + _change_lines(board, changes)
    if scene.sound or scene.dialogue:
        lines.append("Sound: " + "; ".join(part for part in (scene.sound, f"dialogue: {scene.dialogue}" if scene.dialogue else "") if part) + ".")
    return "\n".join([*lines, *rules_section(record.rules)])


def _change_lines(board: Storyboard, changes: list[StateChange]) -> list[str]:
    names = {c.id: c.name for c in board.characters} | {loc.id: loc.name for loc in board.locations}
    return [f"- {names[change.subject]}, {change.aspect}: {change.value}." for change in changes]


def reference_prompt(subject: Character | Location, board: Storyboard) -> str:
    """A reference sheet: the continuity reference every later frame is held to."""
    style = board.metadata.style
    if isinstance(subject, Character):
        lines = [
            f"Character reference sheet, {style}: the continuity reference for {subject.name}.",
            traits(subject),
            "Full body, neutral pose facing the lens, neutral grey background, soft even front light.",
        ]
    else:
        lines = [
            f"Location reference, {style}: the continuity reference for {subject.name}.",
            *setting(subject),
            f"Light from {' and '.join(subject.light_sources)}." if subject.light_sources else "",
            "Wide at eye level, deep focus, clear foreground, middle ground and background; no people.",
        ]
    lines.append("No text, captions or watermarks.")
    return "\n".join([line for line in lines if line] + rules_section(board.rules))

