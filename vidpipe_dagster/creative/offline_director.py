"""The `local` backend's director and storyboard artist: reads the brief's own words.

Places, times of day, weather, light, cast and what each scene changes all come from the prompt and
the scene hints, by whole-word matching (`creative.words`), so a brief about a lighthouse gets its
stairwell, lamp room and headland, its midnight is lit by the lamp and its dawn by the low sun.
Deterministic: the same brief gives the same storyboard in every process.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

from vidpipe_dagster.creative.seeds import stable_seed
from vidpipe_dagster.creative.words import first_index, first_mentioned, mentions, words
from vidpipe_dagster.domain import (
    Brief,
    Character,
    DirectorVision,
    EmotionalArc,
    Lighting,
    Location,
    MusicCue,
    Scene,
    StateChange,
    Vision,
)


@dataclass(frozen=True)
class Role:
    stems: tuple[str, ...]
    label: str
    names: tuple[str, ...]
    age: str
    build: str
    face: str
    hair: str
    wardrobe: str
    accessories: tuple[str, ...] = ()


ROLES: dict[str, Role] = {
    "keeper": Role(("keeper", "lighthouse keeper"), "lighthouse keeper", ("Tomas", "Agnes", "Ewan", "Maren"),
                   "late fifties", "broad-shouldered, a little stooped", "weathered, grey stubble, deep-set blue eyes",
                   "short, salt-and-pepper, under a navy wool cap", "cable-knit navy sweater, yellow oilskin coat, black rubber boots",
                   ("brass pocket watch",)),
    "dog": Role(("dog", "hound", "puppy", "stray"), "stray dog", ("Biscuit", "Pepper", "Skipper"),
                "young adult", "wiry, medium-sized", "amber eyes, one ear folded, grey muzzle",
                "a shaggy brindle coat", "a frayed rope collar"),
    "cat": Role(("cat", "kitten"), "cat", ("Moss", "Juniper"), "adult cat", "lean", "green eyes, white blaze",
                "short tabby fur", "no collar"),
    "fisher": Role(("fisherman", "fisher", "sailor", "skipper", "captain"), "fisher", ("Ines", "Rory", "Hal"),
                   "forties", "stocky", "sun-creased, red beard", "wind-tangled red hair", "orange waterproofs over a grey hoodie",
                   ("knitted gloves",)),
    "detective": Role(("detective", "investigator", "inspector"), "detective", ("Vera", "Sol"), "mid forties", "lean",
                      "sharp cheekbones, tired hazel eyes", "dark hair pinned back", "charcoal trench coat, white shirt, loosened tie"),
    "surfer": Role(("surfer", "surf"), "surfer", ("Kai", "Lena"), "mid twenties", "athletic", "tanned, freckled",
                   "sun-bleached shoulder-length hair", "black wetsuit", ("leash on the right ankle",)),
    "robot": Role(("robot", "android", "machine"), "robot", ("Unit Nine", "Cog"), "decades old", "small, boxy",
                  "round lens eyes glowing amber", "none", "dented sky-blue paint", ("antenna",)),
    "woman": Role(("woman", "girl", "mother", "grandmother", "she"), "woman", ("Ada", "Cleo", "Esme"), "thirties",
                  "slight", "oval face, dark brows", "black hair in a low bun", "mustard raincoat over a grey dress"),
    "man": Role(("man", "boy", "father", "grandfather", "he"), "man", ("Bram", "Dev", "Finn"), "thirties", "tall, lanky",
                "narrow face, stubble", "curly brown hair", "green canvas jacket, jeans, work boots"),
}
# The cast when the brief names nobody: two people, described in full.
_DEFAULT_ROLES = ("woman", "man")


@dataclass(frozen=True)
class Place:
    stems: tuple[str, ...]
    name: str
    description: str
    key_elements: tuple[str, ...]
    palette: tuple[str, ...]
    light_sources: tuple[str, ...]
    daylight_via: str = ""  # how daylight gets into an interior; empty outdoors


PLACES: dict[str, Place] = {
    "lamp-room": Place(("lamp", "lens", "lantern room", "beam"), "{of} lamp room",
                       "the glass-walled lamp room at the top of the tower",
                       ("the great Fresnel lens", "brass clockwork that turns the lamp", "storm panes on every side", "an iron gallery rail outside"),
                       ("brass gold", "lamp amber", "storm blue"), ("the great lamp", "its turning beam"), "through the storm panes"),
    "stairwell": Place(("stair", "staircase", "spiral", "climb", "tower"), "{of} stairwell",
                       "a tight spiral of iron stairs inside whitewashed stone walls",
                       ("iron spiral stairs", "small deep-set windows", "a rope handrail", "oil lamps in wall niches"),
                       ("whitewash", "rust", "slate blue"), ("the small deep-set windows", "oil lamps in wall niches"), "through the small deep-set windows"),
    "doorway": Place(("door", "doorway", "threshold", "porch", "shelter"), "{of} door",
                     "the heavy wooden door at the foot of the building, opening onto the weather",
                     ("a heavy oak door", "a worn stone step", "coils of rope", "a storm lantern on a hook"),
                     ("oak brown", "lantern amber", "rain grey"), ("the storm lantern on its hook", "grey light from outside"), "through the open door"),
    "headland": Place(("headland", "boat", "sea", "ocean", "shore", "coast", "cliff", "harbour", "harbor", "wave", "cove", "beach"),
                      "Headland and open sea", "a rocky headland above the open sea",
                      ("black rocks streaming with surf", "the tower on the cliff", "open sea to the horizon", "a small fishing boat"),
                      ("slate grey", "sea green", "pale gold"), ("the sky over the sea", "the lighthouse beam")),
    "kitchen": Place(("kitchen", "home", "house", "apartment", "room", "table"), "{of} kitchen",
                     "a small lived-in kitchen", ("a scrubbed wooden table", "a window over the sink", "a kettle on the stove"),
                     ("cream", "sage", "copper"), ("the window over the sink", "a pendant lamp"), "through the window over the sink"),
    "workshop": Place(("workshop", "garage", "lab", "laboratory", "machine"), "Workshop",
                      "a cluttered workshop full of half-built machines", ("a long workbench", "hanging tools", "sparks of a grinder"),
                      ("oil black", "steel", "safety orange"), ("a hanging work lamp", "a dusty skylight"), "through the dusty skylight"),
    "forest": Place(("forest", "wood", "woods", "tree", "grove"), "Forest", "a deep forest of old trees",
                    ("mossy trunks", "a narrow path", "ferns"), ("moss green", "bark brown", "mist white"), ("light through the canopy",)),
    "street": Place(("city", "street", "alley", "downtown", "traffic", "sidewalk"), "City street", "a narrow city street",
                    ("wet asphalt", "shop fronts", "parked cars"), ("asphalt grey", "sodium orange", "neon teal"),
                    ("street lamps", "shop windows")),
    "rooftop": Place(("rooftop", "roof"), "Rooftop", "a flat rooftop above the city",
                     ("water tanks", "a low parapet", "the skyline beyond"), ("concrete grey", "sky blue"), ("the open sky", "the city glow")),
    "desert": Place(("desert", "dune", "sand"), "Desert", "open desert of wind-carved dunes", ("dunes", "a lone track"),
                    ("ochre", "bone white"), ("the sun",)),
    "mountain": Place(("mountain", "summit", "peak", "ridge", "snow"), "Mountain ridge", "a high rocky ridge",
                      ("scree", "a cairn", "distant peaks"), ("granite", "snow white", "sky blue"), ("the open sky",)),
}
_DEFAULT_PLACE = Place((), "Open country", "open rolling country under a wide sky", ("a lone tree", "a dirt track"),
                       ("grass green", "sky blue"), ("the open sky",))
# Buildings whose name an interior takes when the brief mentions one.
_BUILDINGS = ("lighthouse", "castle", "cottage", "farmhouse", "station", "ship", "school", "hospital")

TIMES: dict[str, tuple[str, ...]] = {
    "dawn": ("dawn", "sunrise", "daybreak", "first light"),
    "morning": ("morning",),
    "noon": ("noon", "midday"),
    "afternoon": ("afternoon",),
    "dusk": ("dusk", "sunset", "twilight", "evening"),
    "midnight": ("midnight",),
    "night": ("night", "dark"),
}
# Key light, quality and colour temperature of daylight at each time of day.
_DAYLIGHT: dict[str, tuple[str, str, str]] = {
    "dawn": ("low dawn sun breaking over the horizon", "soft", "cool 6500 K warming to 4000 K"),
    "morning": ("clear morning sun, raking low", "soft", "neutral 5000 K"),
    "noon": ("high overhead sun", "hard", "neutral 5600 K"),
    "afternoon": ("slanting afternoon sun", "soft", "warm 4500 K"),
    "dusk": ("the last blue daylight", "soft", "cool 7000 K against warm practicals"),
    "night": ("{source}", "hard", "warm 2700 K against blue night"),
    "midnight": ("{source}", "hard", "warm 2700 K against blue night"),
}
WEATHERS: dict[str, tuple[str, ...]] = {
    "clearing": ("clearing", "clears", "clear sky", "breaking clouds"),
    "storm": ("storm", "gale", "thunder", "lightning", "tempest"),
    "rain": ("rain", "drizzle", "downpour", "shower"),
    "fog": ("fog", "mist", "haze"),
    "snow": ("snow", "blizzard", "sleet"),
    "clear": ("sunny", "sunlit", "clear", "cloudless"),
}
_WEATHER_SOURCES = {"storm": "lightning flashes through the cloud", "clearing": "sun breaking through the cloud"}
_WEATHER_SOUND = {"storm": "wind howling, rain lashing", "rain": "rain drumming on glass and stone", "clearing": "gulls, a calming swell"}

_HIGH = ("storm", "falter", "crank", "fight", "chase", "crash", "fall", "scream", "race", "struggle", "escape", "battle", "run")
_LOW = ("shelter", "rest", "sleep", "wait", "calm", "quiet", "still", "watch", "clearing", "home", "lets it in", "together")
_MOODS_BY_TIME = {"dawn": "hopeful", "morning": "fresh", "noon": "plain", "afternoon": "easy", "dusk": "brooding", "night": "tense", "midnight": "tense"}
_ALL_PRESENT = ("two of them", "both", "together", "they", "everyone", "the pair")


@dataclass(frozen=True)
class ChangeCue:
    stems: tuple[str, ...]
    on: str  # "character" or "location"
    aspect: str
    value: str
    needs_weather: tuple[str, ...] = ()
    interior_only: bool = False


_SOAKED = "soaked through and dripping"
_DRY_WEATHER = ("clearing", "clear")
CHANGES: tuple[ChangeCue, ...] = (
    ChangeCue(("shelter", "soak", "drench", "swim", "wade", "plunge", "caught in the rain"), "character", "wet", _SOAKED,
              needs_weather=("storm", "rain")),
    ChangeCue(("crank", "repair", "fix", "grease", "oil"), "character", "dirt", "streaked with black machine grease"),
    ChangeCue(("fall", "trip", "stumble", "wound", "hurt", "bruise"), "character", "injury", "a fresh graze on the left cheekbone"),
    ChangeCue(("tear", "rip", "snag"), "character", "clothes", "torn at the right sleeve"),
    ChangeCue(("falter", "sputter", "smoke", "fire", "burn"), "location", "smoke", "a haze of lamp smoke under the ceiling"),
    ChangeCue(("break", "shatter", "smash", "crack"), "location", "damage", "one pane cracked across"),
    ChangeCue(("rain hits", "rain on", "rain against", "leak", "flood"), "location", "windows", "rain streaming down the glass",
              interior_only=True),
)
_PROP_VERBS = ("carry", "hold", "grab", "take", "pick", "lift", "clutch")
_ARTICLES = ("up", "the", "a", "an", "his", "her", "their", "its")


def _seeded(brief: Brief) -> random.Random:
    return random.Random(stable_seed(brief.project_id, brief.seed, brief.prompt))


def _hints(brief: Brief, count: int) -> list[str]:
    """One line of direction per scene: the brief's hint, or the prompt's clauses spread over the scenes."""
    clauses = [c.strip() for c in re.split(r"[.;]|, and | and then ", brief.prompt) if c.strip()] or [brief.prompt]
    return [
        (brief.scene_hints[index] if index < len(brief.scene_hints) and brief.scene_hints[index] else clauses[index * len(clauses) // count])
        for index in range(count)
    ]


def _cast(brief: Brief, rng: random.Random) -> list[tuple[str, Role, Character]]:
    text = " ".join([brief.prompt, *brief.scene_hints])
    found = sorted(
        ((index, key) for key, role in ROLES.items() if key not in _DEFAULT_ROLES and (index := first_index(text, role.stems)) is not None),
    )
    keys = [key for _, key in found][:3] or list(_DEFAULT_ROLES)
    cast = []
    for key in keys:
        role = ROLES[key]
        name = rng.choice(role.names)
        cast.append((key, role, Character(
            id=re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-"), name=name,
            description=f"{name}, the {role.label}",
            age=role.age, build=role.build, face=role.face, hair=role.hair, wardrobe=role.wardrobe,
            accessories=list(role.accessories),
        )))
    return cast


def _building(brief: Brief) -> str | None:
    said = words(" ".join([brief.prompt, *brief.scene_hints]))
    return next((name for name in _BUILDINGS if mentions(said, [name])), None)


def _place_name(place: Place, building: str | None) -> str:
    if "{of}" not in place.name:
        return place.name
    return place.name.replace("{of}", building.capitalize() if building else "The").replace("The ", "The ", 1)


@dataclass
class _Beat:
    hint: str
    place: str
    time: str
    weather: str
    cast: list[str] = field(default_factory=list)


def _beats(brief: Brief, hints: list[str], cast: list[tuple[str, Role, Character]]) -> list[_Beat]:
    stems_of = {key: place.stems for key, place in PLACES.items()}
    prompt_place = first_mentioned(brief.prompt, stems_of)
    prompt_time = first_mentioned(brief.prompt, TIMES)
    prompt_weather = first_mentioned(brief.prompt, WEATHERS)
    beats: list[_Beat] = []
    for hint in hints:
        previous = beats[-1] if beats else None
        place = first_mentioned(hint, stems_of) or (previous.place if previous else prompt_place) or "open-country"
        time = first_mentioned(hint, TIMES) or (previous.time if previous else None) or (prompt_time if prompt_time != "dawn" else None) or "dusk"
        weather = first_mentioned(hint, WEATHERS) or (previous.weather if previous else prompt_weather) or "clear"
        if weather == "rain" and prompt_weather == "storm":
            weather = "storm"  # the rain of the brief's storm
        named = [character.id for key, role, character in cast if mentions(hint, [*role.stems, character.name.lower()])]
        everyone = mentions(hint, _ALL_PRESENT) or not named
        beats.append(_Beat(hint, place, time, weather, [c.id for _, _, c in cast] if everyone else named))
    return beats


def _place(key: str) -> Place:
    return PLACES.get(key, _DEFAULT_PLACE)


def _lighting(place: Place, time: str, weather: str) -> Lighting:
    key, quality, temperature = _DAYLIGHT[time]
    night = "{source}" in key
    if night:
        key = place.light_sources[0]
    elif place.daylight_via:
        key = f"{key} {place.daylight_via}"
    if weather in ("storm", "rain", "fog") and not night:
        quality = "soft, diffused by cloud"
    sources = list(place.light_sources) + ([_WEATHER_SOURCES[weather]] if weather in _WEATHER_SOURCES else [])
    return Lighting(key_light=key, quality=quality, colour_temperature=temperature, motivated_sources=sources)


def _clauses(hint: str) -> list[str]:
    return [c.strip() for c in re.split(r"[;,:]| and | as | while | when ", hint) if c.strip()]


def _changes(
    beat: _Beat, place_id: str, place: Place, cast: list[tuple[str, Role, Character]], soaked: set[str]
) -> list[StateChange]:
    """What the beat changes, each change on the character its clause names (or on everyone present
    when it says 'the two of them'), never on everyone in the scene alike. Whoever was soaked
    (`soaked`, kept up to date here) dries off once the weather clears."""
    present = [(role, character) for _, role, character in cast if character.id in beat.cast]
    changes: dict[tuple[str, str], StateChange] = {}
    subjects: list[str] = []
    for clause in _clauses(beat.hint):
        named = [c.id for role, c in present if mentions(clause, [*role.stems, c.name.lower()])]
        if mentions(clause, _ALL_PRESENT):
            named = [c.id for _, c in present]
        subjects = named or subjects
        for cue in CHANGES:
            if not mentions(clause, cue.stems):
                continue
            if cue.needs_weather and beat.weather not in cue.needs_weather:
                continue
            if cue.on == "location":
                if not cue.interior_only or place.daylight_via:
                    changes[(place_id, cue.aspect)] = StateChange(subject=place_id, aspect=cue.aspect, value=cue.value)
                continue
            for subject in subjects:
                changes[(subject, cue.aspect)] = StateChange(subject=subject, aspect=cue.aspect, value=cue.value)
        said = words(clause)
        verb_at = first_index(said, _PROP_VERBS)
        if subjects and verb_at is not None:
            noun = [w for w in said[verb_at + 1 :] if w not in _ARTICLES][:2]
            if noun:
                changes[(subjects[0], "props")] = StateChange(subject=subjects[0], aspect="props", value=f"the {' '.join(noun)}")
    if beat.weather in _DRY_WEATHER:
        for subject in sorted(soaked & set(beat.cast)):
            changes.setdefault((subject, "wet"), StateChange(subject=subject, aspect="wet", value="damp, drying off"))
    soaked.difference_update(subject for (subject, aspect), change in changes.items() if aspect == "wet" and change.value != _SOAKED)
    soaked.update(subject for (subject, aspect), change in changes.items() if aspect == "wet" and change.value == _SOAKED)
    return list(changes.values())


def _intensity(hint: str) -> tuple[str, str]:
    if mentions(hint, _HIGH):
        return "high", "fast"
    if mentions(hint, _LOW):
        return "low", "slow"
    return "medium", "moderate"


def _camera(number: int, count: int, intensity: str, hint: str) -> tuple[str, str, str]:
    if number == 1:
        return "wide establishing shot", "low angle" if mentions(hint, ["climb", "tower", "up"]) else "eye level", "slow push in"
    if number == count:
        return "wide shot", "high angle", "slow crane up"
    if intensity == "high":
        return "medium close-up", "low angle", "handheld, following the action"
    if intensity == "low":
        return "medium shot", "eye level", "slow dolly in"
    return "medium wide shot", "eye level", "gentle pan following the subject"


def write_storyboard_parts(
    brief: Brief, durations: list[int], music: list[MusicCue] | None = None
) -> tuple[DirectorVision, list[Scene]]:
    """The vision and the scenes of the brief, one scene per duration."""
    return _plan(brief, durations, music)


def _plan(brief: Brief, durations: list[int], music: list[MusicCue] | None) -> tuple[DirectorVision, list[Scene]]:
    rng = _seeded(brief)
    cast = _cast(brief, rng)
    beats = _beats(brief, _hints(brief, len(durations)), cast)
    building = _building(brief)
    place_ids = list(dict.fromkeys(beat.place for beat in beats))
    locations = []
    for place_id in place_ids:
        place, first = _place(place_id), next(beat for beat in beats if beat.place == place_id)
        locations.append(Location(
            id=place_id, name=_place_name(place, building), description=place.description,
            time_of_day=first.time, weather=first.weather, palette=list(place.palette),
            key_elements=list(place.key_elements), light_sources=list(place.light_sources),
        ))
    scenes = []
    soaked: set[str] = set()
    for number, (beat, duration) in enumerate(zip(beats, durations, strict=True), start=1):
        place = _place(beat.place)
        intensity, tempo = _intensity(beat.hint)
        shot, angle, move = _camera(number, len(beats), intensity, beat.hint)
        previous = beats[number - 2] if number > 1 else None
        cut = previous is None or previous.place != beat.place or previous.time != beat.time
        names = [c.name for _, _, c in cast if c.id in beat.cast]
        sound = [_WEATHER_SOUND[beat.weather]] if beat.weather in _WEATHER_SOUND else []
        scenes.append(Scene(
            number=number, duration_s=duration, description=beat.hint.rstrip("."),
            mood=_MOODS_BY_TIME[beat.time] if intensity != "high" else "urgent", intensity=intensity, tempo=tempo,
            shot_type=shot, camera_angle=angle, camera_movement=move,
            composition=f"{names[0]} on the left third, {place.key_elements[0]} leading the eye" if names else f"{place.key_elements[0]} on the lower third",
            lighting=_lighting(place, beat.time, beat.weather), time_of_day=beat.time, weather=beat.weather,
            sound="; ".join(sound), characters=beat.cast, location=beat.place,
            transition_in="cut" if cut else "continuous",
            changes=_changes(beat, beat.place, place, cast, soaked),
            music=music[number - 1] if music else None,
        ))
    moods = [scene.mood for scene in scenes]
    roles = [role.label for _, role, _ in cast]
    title = "The " + " and the ".join(label.title() for label in roles[:2])
    vision = DirectorVision(
        title=title,
        logline=brief.prompt.split(". ")[0][:200],
        vision=Vision(
            visual_style=brief.style,
            palette=list(dict.fromkeys(colour for location in locations for colour in location.palette))[:6],
            arc=EmotionalArc(beginning=moods[0], middle=moods[len(moods) // 2], end=moods[-1]),
        ),
        characters=[character for _, _, character in cast],
        locations=locations,
    )
    return vision, scenes
