"""The domain of vidpipe: what a user asks for, what the storyboard says, and what gets stored.

Every type that crosses a boundary (brief files, model answers, stored manifests, metadata) is a
pydantic model defined here, so validation and error messages are the same wherever data enters.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    computed_field,
    field_validator,
    model_validator,
)

from vidpipe_dagster.creative.rubric import CATEGORY_WEIGHTS, Category, Grade, Verdict, fill_thresholds, rubric_score, verdict_for

PROJECT_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
SCENE_DURATIONS: tuple[int, ...] = (4, 6, 8)
MAX_SCENES = 99

ProjectId = Annotated[str, StringConstraints(pattern=PROJECT_ID_RE.pattern)]
SceneDuration = Literal[4, 6, 8]
AspectRatio = Literal["16:9", "9:16"]
Resolution = Literal["720p", "1080p"]
#: Short side in pixels of each resolution; 360p is the `local` backend's quick default, not offered to briefs.
RESOLUTION_SHORT_SIDE: dict[str, int] = {"360p": 360, "720p": 720, "1080p": 1080}
ModelT = TypeVar("ModelT", bound=BaseModel)


class InvalidInput(ValueError):
    """A user-supplied value was refused; the message names the field and the problem."""


class InvalidBrief(InvalidInput):
    pass


class OutputInvalid(ValueError):
    """A model's answer did not validate; the message names every problem (and earns the model one
    corrective turn)."""


def validate_project_id(project_id: str) -> str:
    """Refuse anything that is not a slug before it reaches a partition key or an object path."""
    if not isinstance(project_id, str) or not PROJECT_ID_RE.fullmatch(project_id):
        raise InvalidInput(
            f"project id {project_id!r} is not a slug: use 2-63 characters of a-z, 0-9 and '-', "
            "starting with a letter or digit"
        )
    return project_id


def scene_key(number: int) -> str:
    """The `scene` partition key of scene `number` (1-based): "001", "002", ..."""
    if not 1 <= number <= MAX_SCENES:
        raise InvalidInput(f"scene number {number} is outside 1..{MAX_SCENES}")
    return f"{number:03d}"


def scene_number(key: str) -> int:
    if not re.fullmatch(r"\d{3}", key) or int(key) < 1:
        raise InvalidInput(f"scene key {key!r} is not a scene number like '001'")
    return int(key)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class QualityOverride(_Strict):
    """Quality thresholds set by one layer (environment, brief, launchpad); unset ones come from below."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    accept: float | None = Field(default=None, ge=0, le=1, description="An attempt scoring at least this is accepted at once.")
    pass_: float | None = Field(default=None, ge=0, le=1, alias="pass", description="A best-of at least this meets the bar.")
    major: float | None = Field(default=None, ge=0, le=1, description="Below this an attempt fails and is never used unless forced.")
    max_attempts: int | None = Field(default=None, ge=1, le=10, description="Attempts per clip and per keyframe.")


class QualityThresholds(_Strict):
    """The thresholds in force for one step: defaults, then environment, brief and launchpad overrides."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    accept: float = Field(ge=0, le=1)
    pass_: float = Field(ge=0, le=1, alias="pass")
    major: float = Field(ge=0, le=1)
    max_attempts: int = Field(ge=1, le=10)

    @classmethod
    def resolve(cls, *layers: QualityOverride | None) -> QualityThresholds:
        """Later layers win; contradicting bars are refused with `InvalidInput` naming the fields."""
        try:
            values = fill_thresholds([layer.model_dump(by_alias=True) for layer in layers if layer is not None])
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
        return cls.model_validate(values)

    def verdict(self, score: float) -> Verdict:
        return verdict_for(score, accept=self.accept, pass_=self.pass_, major=self.major)


class Brief(_Strict):
    """The validated request for one project."""

    project_id: ProjectId
    prompt: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=8000)]
    scene_count: int = Field(default=4, ge=1, le=MAX_SCENES)
    scene_hints: list[Annotated[str, StringConstraints(max_length=2000)]] = Field(
        default_factory=list,
        description="Optional per-scene direction, in scene order; may be shorter than scene_count.",
    )
    style: str = Field(default="cinematic", max_length=200)
    aspect_ratio: AspectRatio = "16:9"
    audio: str | None = Field(
        default=None,
        max_length=1024,
        description=(
            "Path or gs:// URI of an audio track to time scenes by and mux. The scenes are cut at its "
            "phrases and cover the whole track, so their number comes from the track and scene_count "
            "is not used; the final cut ends with the track."
        ),
    )
    quality: QualityOverride | None = Field(
        default=None, description="Quality thresholds for this project: accept, pass, major, max_attempts."
    )
    resolution: Resolution | None = Field(
        default=None, description="Picture size of clips and cut; the model backend's default (720p for vertex) if unset."
    )
    keep_model_audio: bool = Field(
        default=False, description="With an audio track, mix the video model's own sound under it instead of dropping it."
    )
    regenerate_later_scenes: bool = Field(
        default=True,
        description="When a scene is regenerated, regenerate the scenes after it in turn.",
    )
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    budget_usd: float | None = Field(
        default=None,
        ge=0,
        description="The most the project's model calls may cost, in USD; unset: VIDPIPE_BUDGET_USD, else unlimited.",
    )

    @model_validator(mode="after")
    def _hints_fit(self) -> Brief:
        if len(self.scene_hints) > self.scene_count:
            raise ValueError(
                f"scene_hints has {len(self.scene_hints)} entries but scene_count is {self.scene_count}"
            )
        return self


def describe_validation_error(error: ValidationError, prefix: str) -> str:
    """One line per problem, each naming the field: `brief.scene_count: Input should be ...`."""
    lines = []
    for problem in error.errors():
        location = ".".join(str(part) for part in problem["loc"])
        lines.append(f"{prefix}.{location}: {problem['msg']}" if location else f"{prefix}: {problem['msg']}")
    return "; ".join(lines)


def parse_json_model(
    raw: str | bytes | Mapping[str, Any], schema: type[ModelT], what: str, error: type[Exception] = InvalidInput
) -> ModelT:
    """JSON text (or an already-parsed mapping) as `schema`, or `error` naming every bad field."""
    if isinstance(raw, (str, bytes)):
        try:
            raw = json.loads(raw)
        except RecursionError:
            raise error(f"{what} is not valid JSON: it nests too deeply") from None
        except ValueError as exc:  # also text that is not UTF-8, and integers of thousands of digits
            raise error(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(raw, Mapping):
        raise error(f"{what} must be a JSON object, got {type(raw).__name__}")
    try:
        return schema.model_validate(dict(raw))
    except ValidationError as exc:
        raise error(describe_validation_error(exc, what.split()[0])) from None


def parse_brief(raw: str | bytes | Mapping[str, Any]) -> Brief:
    """Parse a brief from JSON text or a dict, with an error that names every bad field."""
    return parse_json_model(raw, Brief, "brief", InvalidBrief)


class BriefLimits(_Strict):
    """What intake takes beyond a valid brief: how big a brief file and its name may be, how big
    its audio track, where a `gs://` track may come from, and how often intake tries again when
    vidpipe's own storage or database fails."""

    max_brief_bytes: int = Field(default=1_000_000, ge=1)
    max_name_bytes: int = Field(default=200, ge=1)
    max_audio_bytes: int = Field(default=200_000_000, ge=1)
    audio_sources: tuple[str, ...] = Field(
        default=(), description="gs://bucket/prefix URIs a brief's audio may name (besides the inbox's own)."
    )
    max_tries: int = Field(default=5, ge=1)


SubjectId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_-]{1,40}$")]
TransitionIn = Literal["cut", "continuous"]
Intensity = Literal["low", "medium", "high", "extreme"]
Tempo = Literal["slow", "moderate", "fast", "very_fast"]


class Character(_Strict):
    """A character and the traits that must never drift (the costume and makeup department's sheet)."""

    id: SubjectId
    name: str
    description: str = ""
    age: str = ""
    build: str = ""
    face: str = ""
    hair: str = ""
    wardrobe: str = ""
    accessories: list[str] = Field(default_factory=list)


class Location(_Strict):
    """A place as the production designer locks it: its look, its weather and its motivated light."""

    id: SubjectId
    name: str
    description: str = ""
    time_of_day: str = ""
    weather: str = ""
    palette: list[str] = Field(default_factory=list)
    key_elements: list[str] = Field(default_factory=list)
    light_sources: list[str] = Field(default_factory=list, description="The motivated sources of light in the place.")


class EmotionalArc(_Strict):
    beginning: str
    middle: str
    end: str


class Vision(_Strict):
    """The director's vision of the whole film, written before the storyboard."""

    visual_style: str = ""
    palette: list[str] = Field(default_factory=list)
    arc: EmotionalArc | None = None


class DirectorVision(_Strict):
    """What the director's step answers: the vision plus the cast and the places, fully described."""

    title: str
    logline: str
    vision: Vision
    characters: list[Character]
    locations: list[Location] = Field(min_length=1)


class Lighting(_Strict):
    """The gaffer's plan for one scene; every light is motivated by something in the place."""

    key_light: str
    quality: str = ""
    colour_temperature: str = ""
    motivated_sources: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        # Storyboards written before lighting had a structure said it in one phrase.
        return {"key_light": value} if isinstance(value, str) else value

    def __str__(self) -> str:
        parts = [self.key_light, self.quality, self.colour_temperature]
        return ", ".join(part for part in parts if part)


class MusicCue(_Strict):
    """The music under a scene, from the phrase analysis of the brief's track."""

    section: str
    mood: str = ""
    intensity: Intensity = "medium"
    tempo: Tempo = "moderate"


class Phrase(MusicCue):
    """A phrase of the brief's audio track: where it starts, and what the music does there."""

    start_s: float = Field(ge=0)


class StateChange(_Strict):
    """One thing a scene changes about a character or a place, that later scenes must keep."""

    subject: SubjectId = Field(description="id of the character or location that changes")
    aspect: str = Field(min_length=1, description="what changes, e.g. 'clothes', 'hair', 'injury', 'props', 'smoke'")
    value: str = Field(min_length=1, description="how it looks now, e.g. 'soaked through and dripping'")


class Scene(_Strict):
    number: int = Field(ge=1, le=MAX_SCENES)
    duration_s: SceneDuration
    description: str
    mood: str = ""
    intensity: Intensity = "medium"
    tempo: Tempo = "moderate"
    shot_type: str
    camera_angle: str
    camera_movement: str
    composition: str = ""
    lighting: Lighting
    time_of_day: str = Field(default="", description="When the scene happens; the location's time of day if empty.")
    weather: str = Field(default="", description="The weather in the scene; the location's weather if empty.")
    sound: str = ""
    dialogue: str = ""
    continuity_notes: str = ""
    characters: list[str] = Field(default_factory=list)
    wardrobe: dict[str, str] = Field(
        default_factory=dict, description="Character id -> what they wear in this scene, when it differs from their sheet."
    )
    location: str
    transition_in: TransitionIn = Field(
        default="continuous",
        description="'continuous' opens on the previous clip's last frame; 'cut' opens on a newly drawn keyframe.",
    )
    changes: list[StateChange] = Field(default_factory=list, description="What this scene changes, for later scenes.")
    music: MusicCue | None = None

    @property
    def key(self) -> str:
        return scene_key(self.number)

    @property
    def opens_on_previous_frame(self) -> bool:
        return self.number > 1 and self.transition_in == "continuous"

    def amended(self, direction: str) -> Scene:
        """The scene with a user's extra direction added to its description (not replacing it)."""
        direction = direction.strip()
        return self.model_copy(update={"description": f"{self.description} {direction}"}) if direction else self


class StoryboardMetadata(_Strict):
    title: str
    logline: str
    style: str
    aspect_ratio: AspectRatio = "16:9"


class Rule(_Strict):
    """A generation rule in force for a project, with where it came from."""

    text: str = Field(min_length=1)
    source: Literal["always", "preset", "judge"]
    preset: str | None = Field(default=None, description="The style or genre preset that brought it in.")
    scene: int | None = Field(default=None, description="The scene whose judge suggested it.")
    attempt: int | None = Field(default=None, description="The attempt of that scene whose judge suggested it.")

    @property
    def provenance(self) -> str:
        if self.source == "judge":
            return f"judge, scene {self.scene} attempt {self.attempt}"
        return f"preset '{self.preset}'" if self.source == "preset" else "always"


class StateLine(_Strict):
    """What a character or place looks like now, since which scene."""

    subject: str
    aspect: str
    value: str
    since_scene: int = Field(ge=1)


class Continuity(_Strict):
    """The continuity record after a scene: the state of every character and place, and the rules in
    force. Scene N+1 reads scene N's record the way it reads scene N's last frame."""

    after_scene: int = Field(ge=0, description="0: before the first scene.")
    state: list[StateLine] = Field(default_factory=list)
    rules: list[Rule] = Field(default_factory=list)


class Storyboard(_Strict):
    metadata: StoryboardMetadata
    vision: Vision = Field(default_factory=Vision)
    characters: list[Character]
    locations: list[Location] = Field(min_length=1)
    scenes: list[Scene] = Field(min_length=1)
    rules: list[Rule] = Field(default_factory=list, description="The rules in force from the first scene on.")

    @model_validator(mode="after")
    def _consistent(self) -> Storyboard:
        numbers = [scene.number for scene in self.scenes]
        if numbers != list(range(1, len(numbers) + 1)):
            raise ValueError(f"scenes must be numbered 1..{len(numbers)} in order, got {numbers}")
        character_ids = {c.id for c in self.characters}
        location_ids = {loc.id for loc in self.locations}
        for scene in self.scenes:
            unknown = set(scene.characters) - character_ids
            if unknown:
                raise ValueError(f"scene {scene.number} names unknown characters {sorted(unknown)}")
            if scene.location not in location_ids:
                raise ValueError(f"scene {scene.number} names unknown location {scene.location!r}")
            absent = set(scene.wardrobe) - set(scene.characters)
            if absent:
                raise ValueError(f"scene {scene.number}: wardrobe names characters not in the scene {sorted(absent)}")
            strangers = {change.subject for change in scene.changes} - set(scene.characters) - {scene.location}
            if strangers:
                raise ValueError(
                    f"scene {scene.number}: changes name {sorted(strangers)}, who are neither in the scene nor its location"
                )
        return self

    @property
    def total_duration_s(self) -> int:
        return sum(scene.duration_s for scene in self.scenes)

    @property
    def scene_keys(self) -> list[str]:
        return [scene.key for scene in self.scenes]

    def scene(self, key: str) -> Scene:
        number = scene_number(key)
        if number > len(self.scenes):
            raise InvalidInput(
                f"scene {key} does not exist: the storyboard '{self.metadata.title}' has "
                f"{len(self.scenes)} scenes"
            )
        return self.scenes[number - 1]

    def character(self, character_id: str) -> Character:
        return next(c for c in self.characters if c.id == character_id)

    def location(self, location_id: str) -> Location:
        return next(loc for loc in self.locations if loc.id == location_id)


class CallOrigin(BaseModel):
    """Where a reused answer comes from: the paid call, and the attempt that first stored its files."""

    request_key: str
    asset: str
    partition: str
    run_id: str | None = None
    attempt: int | None = Field(
        default=None,
        description="The attempt of asset[partition] that first stored the answer's files; None for an answer without "
        "files, or one whose run stopped before storing an attempt.",
    )
    source_objects: dict[str, str] = Field(
        default_factory=dict, description="File name -> the stored answer's key, which the reusing attempt's file is a copy of."
    )
    attempt_objects: dict[str, str] = Field(default_factory=dict, description="File name -> that attempt's object key.")

    def label(self) -> str:
        where = f"{self.asset}[{self.partition}]"
        return f"{where} attempt {self.attempt}" if self.attempt is not None else f"{where} run {(self.run_id or '-')[:8]}"


class ModelCall(BaseModel):
    """What one call to a model backend cost: recorded as materialization metadata."""

    model: str
    seconds: float
    usage: dict[str, float] = Field(default_factory=dict)
    prompts: list[str] = Field(
        default_factory=list, description="The prompts a text model was sent, in order, when the caller did not compose them."
    )
    cost_usd: float = Field(default=0.0, description="Priced by the pricing table; 0 offline and for a reused answer.")
    request_key: str | None = Field(default=None, description="The request's content hash (paid_path).")
    reused: bool = Field(default=False, description="A stored answer to the same request; no call was made.")
    reused_from: str | None = Field(
        default=None, description="Who paid for a reused answer: the attempt that first stored it (else the step and run)."
    )
    reused_from_attempt: CallOrigin | None = Field(default=None, description="A reused answer's lineage, exactly.")


Department = Literal["director", "cinematographer", "gaffer", "script_supervisor", "costume", "production_design"]
Severity = Literal["critical", "major", "minor"]


class JudgeIssue(BaseModel):
    """One problem the judge saw, for the department that can fix it."""

    department: Department
    category: Category
    severity: Severity
    description: str
    timestamp_s: float | None = Field(default=None, ge=0, description="Where in the clip; None for a still image.")
    location_in_frame: str | None = None
    suggested_fix: str


class JudgeVerdict(BaseModel):
    """The quality judge's opinion of one clip or keyframe: a grade per rubric category, issues,
    and a rule for later scenes. The score is computed from the grades (`creative.rubric`), never
    taken from the judge."""

    grades: dict[Category, Grade]
    issues: list[JudgeIssue] = Field(default_factory=list)
    feedback: str = ""
    rule_suggestion: str | None = Field(
        default=None, description="A systemic rule for every later prompt and judge (not scene-specific)."
    )
    call: ModelCall

    @field_validator("grades")
    @classmethod
    def _every_category(cls, grades: dict[str, str]) -> dict[str, str]:
        missing = [name for name in CATEGORY_WEIGHTS if name not in grades]
        if missing:
            raise ValueError(f"no grade for {', '.join(missing)}")
        return grades

    @computed_field
    @property
    def score(self) -> float:
        return rubric_score(self.grades)


# --- What is stored --------------------------------------------------------------------------


class StoredObject(BaseModel):
    """One object written create-only by a BlobStore."""

    key: str
    uri: str
    size: int
    sha256: str
    generation: int | None = None
    copied_from: str | None = Field(
        default=None, description="The key this object is a server-side copy of (a reused answer), when it was not uploaded."
    )


class StoredArtifact(BaseModel):
    """One attempt of one asset partition: its objects, its JSON payload, and where it came from.

    This is the manifest written beside the objects and the value downstream assets load.
    """

    asset: str
    partition: str
    attempt: int = Field(ge=1)
    objects: dict[str, StoredObject] = Field(default_factory=dict)
    data: dict[str, Any] = Field(default_factory=dict)
    facts: dict[str, Any] = Field(default_factory=dict)
    upstream: dict[str, int] = Field(
        default_factory=dict, description="'asset[partition]' -> attempt of every input used."
    )
    manifest_uri: str | None = None

    @field_validator("objects")
    @classmethod
    def _object_names(cls, objects: dict[str, StoredObject]) -> dict[str, StoredObject]:
        for name in objects:
            if not re.fullmatch(r"[a-z0-9_-]+\.[a-z0-9]+", name):
                raise ValueError(f"object name {name!r} must look like 'clip.mp4'")
        return objects


class MediaFacts(BaseModel):
    """What probing a media file tells: recorded on every clip and cut."""

    duration_s: float
    frame_count: int
    width: int
    height: int
    fps: float
    video_codec: str
    pixel_format: str
    has_audio: bool = False
    audio_codec: str | None = None
    audio_channels: int | None = None
    audio_sample_rate: int | None = None


class FrameStatistics(_Strict):
    """What one decode of a clip measured, stored in its attempt's facts (`frame_statistics`) so
    the judge and the `clip_quality` check read it instead of decoding the clip again."""

    measurer_version: int = Field(ge=0, description="The measuring code that took these; older ones are measured again.")
    decodes: int = Field(ge=1, description="Decoding passes over the clip it took to measure all of this.")
    frames: int = Field(ge=1)
    duration_s: float
    width: int
    height: int
    mean_luma: float
    black_ratio: float = Field(description="Frames darker than the black threshold.")
    frozen_ratio: float = Field(description="Frame pairs changing less than the quality bar's frozen threshold.")
    still_ratio: float = Field(description="Frame pairs changing less than the local judge's (looser) still threshold.")
    continuity_ssim: float | None = Field(description="First frame against `continuity_reference`; None for a cut.")
    continuity_reference: str | None = Field(description="sha256 of the frame the clip continues from.")
