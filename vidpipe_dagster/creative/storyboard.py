"""Writing a storyboard with a text model: the director's request, then the scenes in batches.

The answers come in plain schemas the model's JSON mode accepts (`VisionDraft`, `ScenesDraft`); they
are validated into the domain's types here, and every problem is named by its field
(`scenes[2].transition_in: ...`) so the model gets one precise corrective turn. Long films are
written `BATCH_SIZE` scenes at a time so each answer stays well inside the model's output limit;
every batch sees the vision and the scene before it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from vidpipe_dagster.creative.rules import preset_rules
from vidpipe_dagster.domain import (
    Brief,
    DirectorVision,
    MusicCue,
    OutputInvalid,
    Scene,
    StateChange,
    Storyboard,
    StoryboardMetadata,
    describe_validation_error,
    parse_json_model,
)
from vidpipe_dagster.timing import snap_duration

BATCH_SIZE = 10

DIRECTOR_SYSTEM = (
    "You are the director of a short film. Before any storyboard, you fix the film's vision: a "
    "logline, a visual style, a colour palette and an emotional arc; every character's concrete, "
    "visible traits (age, build, face, hair, wardrobe, accessories) that must never drift; every "
    "location's time of day, weather, palette, key elements and motivated light sources. No vague "
    "words, no real people, adults only. Answer with JSON only, in the schema given."
)
SCENES_SYSTEM = (
    "You are the storyboard artist and cinematographer of a short film. You write scenes a camera "
    "can shoot, each one continuous shot of its given length, on the director's vision. Each scene "
    "says its mood, intensity and tempo; shot, angle, movement and composition; a lighting plan "
    "whose every light is motivated; sound and dialogue cues; who is present and what they wear; "
    "whether it opens as a 'cut' (new angle or place) or 'continuous' (the same shot goes on); and "
    "what it visibly changes (wet, dirty, torn, injured, props in hand, smoke, debris). Answer with "
    "JSON only, in the schema given."
)


# --- The schemas the model answers in ---------------------------------------------------------


class DraftCharacter(BaseModel):
    id: str = Field(description="short lowercase slug, e.g. 'mara'")
    name: str
    age: str = Field(description="e.g. 'late fifties'")
    build: str
    face: str
    hair: str
    wardrobe: str = Field(description="garments, colours and materials")
    accessories: list[str]


class DraftLocation(BaseModel):
    id: str = Field(description="short lowercase slug, e.g. 'harbor'")
    name: str
    description: str
    time_of_day: str
    weather: str
    palette: list[str] = Field(description="3-5 colours")
    key_elements: list[str] = Field(description="5-7 things the camera sees")
    light_sources: list[str] = Field(description="the sources that motivate the light")


class DraftArc(BaseModel):
    beginning: str
    middle: str
    end: str


class VisionDraft(BaseModel):
    """The director's answer."""

    title: str
    logline: str
    visual_style: str
    palette: list[str]
    arc: DraftArc
    characters: list[DraftCharacter]
    locations: list[DraftLocation]


class DraftLighting(BaseModel):
    key_light: str
    quality: str = Field(description="soft or hard, and why")
    colour_temperature: str = Field(description="e.g. 'warm 3200 K'")
    motivated_sources: list[str]


class DraftWardrobe(BaseModel):
    character: str = Field(description="character id")
    wardrobe: str


class DraftChange(BaseModel):
    subject: str = Field(description="id of a character in the scene, or of the scene's location")
    aspect: str = Field(description="e.g. 'wet', 'dirt', 'injury', 'clothes', 'hair', 'props', 'smoke', 'debris'")
    value: str = Field(description="how it looks now, e.g. 'soaked through and dripping'")


class DraftScene(BaseModel):
    number: int
    description: str = Field(description="what happens, in one or two visual sentences")
    mood: str
    intensity: str = Field(description="low, medium, high or extreme")
    tempo: str = Field(description="slow, moderate, fast or very_fast")
    shot_type: str
    camera_angle: str
    camera_movement: str
    composition: str
    lighting: DraftLighting
    time_of_day: str
    weather: str
    sound: str
    dialogue: str
    continuity_notes: str
    characters: list[str] = Field(description="ids of the characters present")
    wardrobe: list[DraftWardrobe] = Field(description="only where a present character's wardrobe differs from the vision")
    location: str = Field(description="id of the scene's location")
    transition_in: str = Field(description="'cut' or 'continuous'")
    changes: list[DraftChange]


class ScenesDraft(BaseModel):
    """One batch of scenes."""

    scenes: list[DraftScene]


class ChangesDraft(BaseModel):
    """What one scene changes, for the continuity record."""

    changes: list[DraftChange]


# --- Requests -----------------------------------------------------------------------------------


def director_prompt(brief: Brief, scene_count: int) -> str:
    hints = "".join(f"\n- scene {i}: {hint}" for i, hint in enumerate(brief.scene_hints, start=1) if hint)
    return (
        f"Creative brief: {brief.prompt}\n"
        f"Visual style asked for: {brief.style}\n"
        f"Aspect ratio: {brief.aspect_ratio}. The film has {scene_count} scenes."
        + (f"\nDirection for particular scenes:{hints}" if hints else "")
        + "\nWrite the director's vision: title, logline, visual style, palette, emotional arc, "
        "every recurring character and every location."
    )


def batches(count: int, size: int = BATCH_SIZE) -> list[range]:
    """Scene numbers (1-based) in batches of at most `size`."""
    return [range(start, min(start + size, count + 1)) for start in range(1, count + 1, size)]


def scenes_prompt(
    brief: Brief,
    vision: DirectorVision,
    numbers: range,
    durations: list[int],
    music: list[MusicCue] | None,
    previous: Scene | None,
) -> str:
    """The request for scenes `numbers` (durations and music cues are for the whole film)."""
    lines = [
        f"Brief: {brief.prompt}",
        "Director's vision (JSON): " + vision.model_dump_json(),
        f"The film has {len(durations)} scenes. Write scenes {numbers.start} to {numbers.stop - 1} now, in order:",
    ]
    for number in numbers:
        hint = brief.scene_hints[number - 1] if number <= len(brief.scene_hints) else ""
        line = f"- scene {number}: {durations[number - 1]} s"
        if music:
            cue = music[number - 1]
            line += f"; music: {cue.section}, {cue.mood or 'unnamed'} mood, {cue.intensity} intensity, {cue.tempo} tempo"
        if hint:
            line += f"; direction: {hint}"
        lines.append(line)
    if previous is not None:
        lines.append("The scene just before (JSON), continue from it: " + previous.model_dump_json(exclude={"music"}))
    lines.append(
        "Use only the vision's character and location ids. Scene 1 opens with a 'cut'. Open a scene "
        "'continuous' only when the same shot goes on in the same place; a new place, time or angle is a 'cut'."
    )
    return "\n".join(lines)


def changes_prompt(board: Storyboard, scene: Scene, state_lines: list[str]) -> str:
    """The request for what `scene` changes, given the state of things before it."""
    present = [board.character(c) for c in scene.characters]
    return "\n".join(
        [
            f"Scene {scene.number} (JSON): " + scene.model_dump_json(exclude={"changes", "music"}),
            "Characters present: " + (", ".join(f"{c.id} ({c.name})" for c in present) or "none"),
            f"Location: {scene.location}",
            "State before the scene:" + ("".join(f"\n- {line}" for line in state_lines) or " nothing changed yet"),
            "List what this scene visibly changes that later scenes must keep: wet, dirt, injuries, torn "
            "or stained clothes, hair, props in hand, smoke, debris, broken things. Name each change's "
            "subject by the id of ONE present character or of the location; never change a character "
            "who is not present, and never give everyone the same change unless each one undergoes it. "
            "An empty list is fine.",
        ]
    )


# --- Answers ------------------------------------------------------------------------------------


def _slug(text: str) -> str:
    return (re.sub(r"[^a-z0-9_-]+", "-", str(text).strip().lower()).strip("-") or "x")[:40]


def parse_vision(raw: str | Mapping[str, Any]) -> DirectorVision:
    draft = parse_json_model(raw, VisionDraft, "vision", OutputInvalid)
    candidate = {
        "title": draft.title,
        "logline": draft.logline,
        "vision": {"visual_style": draft.visual_style, "palette": draft.palette, "arc": draft.arc.model_dump()},
        "characters": [{**c.model_dump(), "id": _slug(c.id), "description": ""} for c in draft.characters],
        "locations": [{**loc.model_dump(), "id": _slug(loc.id)} for loc in draft.locations],
    }
    try:
        return DirectorVision.model_validate(candidate)
    except ValidationError as exc:
        raise OutputInvalid(describe_validation_error(exc, "vision")) from None


def parse_scenes(
    raw: str | Mapping[str, Any],
    vision: DirectorVision,
    numbers: range,
    durations: list[int],
    music: list[MusicCue] | None,
) -> list[Scene]:
    """One batch of scenes, numbered `numbers`, with the film's durations and music; `OutputInvalid`
    names every bad field (by its place in the answer) and every unknown id."""
    draft = parse_json_model(raw, ScenesDraft, "scenes", OutputInvalid)
    if len(draft.scenes) != len(numbers):
        raise OutputInvalid(f"scenes: expected exactly {len(numbers)} scenes ({numbers.start}-{numbers.stop - 1}), got {len(draft.scenes)}")
    characters = {c.id for c in vision.characters}
    locations = {loc.id for loc in vision.locations}
    scenes, problems = [], []
    for index, (number, scene) in enumerate(zip(numbers, draft.scenes, strict=True)):
        cast = [_slug(c) for c in scene.characters]
        location = _slug(scene.location)
        unknown = sorted(set(cast) - characters)
        if unknown:
            problems.append(f"scenes.{index}.characters: {unknown} are not character ids of the vision ({sorted(characters)})")
        if location not in locations:
            problems.append(f"scenes.{index}.location: {location!r} is not a location id of the vision ({sorted(locations)})")
        candidate = {
            **scene.model_dump(exclude={"wardrobe", "changes"}),
            "number": number,
            "duration_s": snap_duration(durations[number - 1]),
            "intensity": scene.intensity.strip().lower(),
            "tempo": scene.tempo.strip().lower().replace(" ", "_"),
            "transition_in": "cut" if number == 1 else scene.transition_in.strip().lower(),
            "characters": cast,
            "location": location,
            "wardrobe": {_slug(w.character): w.wardrobe for w in scene.wardrobe if _slug(w.character) in cast},
            "changes": [
                {**c.model_dump(), "subject": _slug(c.subject)}
                for c in scene.changes
                if _slug(c.subject) in [*cast, location]
            ],
            "music": music[number - 1].model_dump() if music else None,
        }
        try:
            scenes.append(Scene.model_validate(candidate))
        except ValidationError as exc:
            problems.append(describe_validation_error(exc, f"scenes.{index}"))
    if problems:
        raise OutputInvalid("; ".join(problems))
    return scenes


def parse_changes(raw: str | Mapping[str, Any], scene: Scene) -> list[StateChange]:
    """The changes of `scene`; a change to anyone not present (or another place) is refused by name."""
    draft = parse_json_model(raw, ChangesDraft, "changes", OutputInvalid)
    allowed = [*scene.characters, scene.location]
    strangers = [f"changes.{i}.subject: {c.subject!r} is not in scene {scene.number} ({allowed})" for i, c in enumerate(draft.changes) if _slug(c.subject) not in allowed]
    if strangers:
        raise OutputInvalid("; ".join(strangers))
    return [StateChange(subject=_slug(c.subject), aspect=c.aspect, value=c.value) for c in draft.changes]


def assemble(brief: Brief, vision: DirectorVision, scenes: list[Scene]) -> Storyboard:
    """The storyboard: the vision's cast and places, the scenes, and the rules in force from scene 1
    (those always on, and the presets the brief's words call for)."""
    return Storyboard(
        metadata=StoryboardMetadata(title=vision.title, logline=vision.logline, style=brief.style, aspect_ratio=brief.aspect_ratio),
        vision=vision.vision,
        characters=vision.characters,
        locations=vision.locations,
        scenes=scenes,
        rules=preset_rules([brief.prompt, brief.style, *brief.scene_hints]),
    )

