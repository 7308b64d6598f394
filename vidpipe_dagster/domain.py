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
    field_validator,
    model_validator,
)

PROJECT_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
SCENE_DURATIONS: tuple[int, ...] = (4, 6, 8)
MAX_SCENES = 99

ProjectId = Annotated[str, StringConstraints(pattern=PROJECT_ID_RE.pattern)]
SceneDuration = Literal[4, 6, 8]
AspectRatio = Literal["16:9", "9:16"]
ModelT = TypeVar("ModelT", bound=BaseModel)


class InvalidInput(ValueError):
    """A user-supplied value was refused; the message names the field and the problem."""


class InvalidBrief(InvalidInput):
    pass


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
        description=(
            "Path or gs:// URI of an audio track to time scenes by and mux. The scenes are cut at its "
            "phrases and cover the whole track, so their number comes from the track and scene_count "
            "is not used; the final cut ends with the track."
        ),
    )
    max_attempts: int = Field(default=3, ge=1, le=10)
    regenerate_later_scenes: bool = Field(
        default=True,
        description="When a scene is regenerated, regenerate the scenes after it in turn.",
    )
    seed: int = Field(default=0, ge=0)
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
        except json.JSONDecodeError as exc:
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


class Character(_Strict):
    id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_-]{1,40}$")]
    name: str
    description: str


class Location(_Strict):
    id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_-]{1,40}$")]
    name: str
    description: str


class Scene(_Strict):
    number: int = Field(ge=1, le=MAX_SCENES)
    duration_s: SceneDuration
    description: str
    shot_type: str
    camera_angle: str
    camera_movement: str
    lighting: str
    continuity_notes: str = ""
    characters: list[str] = Field(default_factory=list)
    location: str

    @property
    def key(self) -> str:
        return scene_key(self.number)


class StoryboardMetadata(_Strict):
    title: str
    logline: str
    style: str
    aspect_ratio: AspectRatio = "16:9"


class Storyboard(_Strict):
    metadata: StoryboardMetadata
    characters: list[Character]
    locations: list[Location] = Field(min_length=1)
    scenes: list[Scene] = Field(min_length=1)

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


class ModelCall(BaseModel):
    """What one call to a model backend cost: recorded as materialization metadata."""

    model: str
    seconds: float
    usage: dict[str, float] = Field(default_factory=dict)
    cost_usd: float = Field(default=0.0, description="Priced by the pricing table; 0 offline and for a reused answer.")
    request_key: str | None = Field(default=None, description="The request's content hash (paid_path).")
    reused: bool = Field(default=False, description="A stored answer to the same request; no call was made.")
    reused_from: str | None = Field(default=None, description="The step and run whose call paid for a reused answer.")


class JudgeVerdict(BaseModel):
    """The quality judge's opinion of one clip: a 0..1 score, per-category scores, a correction."""

    score: float = Field(ge=0.0, le=1.0)
    categories: dict[str, float] = Field(default_factory=dict)
    correction: str = ""
    call: ModelCall


# --- What is stored --------------------------------------------------------------------------


class StoredObject(BaseModel):
    """One object written create-only by a BlobStore."""

    key: str
    uri: str
    size: int
    sha256: str
    generation: int | None = None


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
