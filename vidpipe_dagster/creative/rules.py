"""Generation rules: the ones always in force, presets for a brief's style and genre, and rules the
judge taught, folded scene by scene with their provenance, de-duplicated and capped."""

from __future__ import annotations

import re
from collections.abc import Iterable

from vidpipe_dagster.creative.words import mentions
from vidpipe_dagster.domain import Rule

#: The old system's proactive rules: in force in every project.
ALWAYS: tuple[str, ...] = (
    "Each character's gender, age, face and build match their reference sheet in every frame.",
    "Show exactly the characters the scene names, no extra people or animals.",
    "Wet, dirty, torn or injured states persist until a scene changes them.",
    "Screen directions are relative to the camera: left and right are the viewer's.",
    "Every frame has a foreground, a middle ground and a background.",
)

#: Style and genre presets: the words that bring each in (whole words and their inflections), and
#: its rules: what it is, and what it is NOT.
PRESETS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "painterly": (
        ("painterly", "painting", "painted", "watercolour", "watercolor", "oil paint", "gouache"),
        (
            "Painterly look: visible brush texture and soft painted edges in every frame.",
            "Not photorealistic: no lens flares, film grain or photographic skin detail.",
        ),
    ),
    "animation": (
        ("animation", "animate", "cartoon", "anime", "pixar", "ghibli"),
        (
            "Animated film: consistent character designs and simplified shapes from frame to frame.",
            "Not live action: no photographic textures mixed into the drawn world.",
        ),
    ),
    "noir": (
        ("noir", "detective", "hardboiled"),
        (
            "Film noir: hard low-key light, deep shadows, venetian-blind and street-lamp patterns.",
            "Not bright or pastel: no flat high-key lighting.",
        ),
    ),
    "documentary": (
        ("documentary", "handheld", "verite"),
        ("Documentary look: natural available light and observational framing.", "Not staged glamour lighting."),
    ),
    "storm": (
        ("storm", "rain", "gale", "thunder", "lightning", "downpour"),
        (
            "Weather is continuous: rain, wind and wet surfaces stay consistent within a scene and ease only gradually.",
            "Not clean studio weather: wet things look wet, wind moves hair, cloth and water.",
        ),
    ),
    "sea": (
        ("sea", "ocean", "boat", "ship", "harbour", "harbor", "wave", "lighthouse", "coast", "surf", "sail"),
        (
            "The sea is one body of water: horizon level, swell and direction of the waves consistent across shots.",
            "Boats obey water: hulls sit in the water with wakes, never float above it.",
        ),
    ),
    "urban": (
        ("city", "street", "urban", "building", "sidewalk", "traffic", "downtown", "rooftop"),
        ("City scenes keep a consistent skyline, signage free of readable text.", "Not an empty film set: some life in the background."),
    ),
    "nature": (
        ("forest", "mountain", "river", "lake", "tree", "wildlife", "meadow"),
        ("Nature stays nature: no roads, wires or buildings unless the scene names them.",),
    ),
    "sports": (
        ("sport", "athlete", "match", "race", "sprint", "football", "tennis", "surf"),
        ("Athletic motion is physically plausible: weight, balance and follow-through.",),
    ),
    "medical": (
        ("hospital", "doctor", "surgery", "patient", "clinic", "nurse"),
        ("Medical settings are clean and procedural; no graphic wounds.",),
    ),
}

#: Learned rules kept at most; the oldest learned one makes room for a new one.
MAX_LEARNED = 8


def _key(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def preset_rules(texts: Iterable[str]) -> list[Rule]:
    """The rules always in force plus the presets whose words appear in `texts` (the brief's prompt,
    style and hints)."""
    said = " ".join(texts)
    rules = [Rule(text=text, source="always") for text in ALWAYS]
    for name, (stems, texts_of_preset) in PRESETS.items():
        if mentions(said, stems):
            rules += [Rule(text=text, source="preset", preset=name) for text in texts_of_preset]
    return merge(rules, [])


def merge(rules: list[Rule], new: list[Rule]) -> list[Rule]:
    """`rules` then `new`, each text once (case and punctuation ignored, the first kept), with at
    most `MAX_LEARNED` judge rules: the oldest go first."""
    if isinstance(new, (str, Rule)):
        raise TypeError("merge takes a list of Rule objects, not one rule or a string")
    seen: set[str] = set()
    kept: list[Rule] = []
    for rule in [*rules, *new]:
        key = _key(rule.text)
        if key and key not in seen:
            seen.add(key)
            kept.append(rule)
    learned = [rule for rule in kept if rule.source == "judge"]
    evicted = {id(rule) for rule in learned[: max(0, len(learned) - MAX_LEARNED)]}
    return [rule for rule in kept if id(rule) not in evicted]


def learn(rules: list[Rule], suggestion: str | None, *, scene: int, attempt: int) -> list[Rule]:
    """`rules` with the judge's suggestion for scene `scene`, attempt `attempt`, folded in."""
    text = (suggestion or "").strip()
    if not text:
        return list(rules)
    return merge(rules, [Rule(text=text, source="judge", scene=scene, attempt=attempt)])
