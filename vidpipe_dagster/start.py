"""Starting a project from the UI: the launchpad's config is the brief itself, field by field, and
one small job stores it exactly as the inbox does and adds the project's partition. The scene
sequencer then starts the project on its next tick, like any project whose brief exists."""

from typing import Literal

from dagster import Config, OpExecutionContext, job, op
from pydantic import Field

from vidpipe_dagster.domain import Brief
from vidpipe_dagster.intake import submit_brief
from vidpipe_dagster.resources.quality_policy import QualityConfig
from vidpipe_dagster.resources.storage import BlobStoreResource


def _described(name: str) -> str:
    return Brief.model_fields[name].description or ""


class StartProjectConfig(Config):
    """The brief's fields; the brief's own validation applies to them."""

    project_id: str = Field(description="The project's id: 2-63 characters of a-z, 0-9 and '-', starting with a letter or digit.")
    prompt: str = Field(description="What the film is about.")
    scene_count: int = Field(default=4, description="How many scenes (ignored with an audio track).")
    scene_hints: list[str] = Field(default_factory=list, description=_described("scene_hints"))
    style: str = Field(default="cinematic", description="The look, e.g. 'painterly animation'.")
    aspect_ratio: Literal["16:9", "9:16"] = Field(default="16:9", description="The frame's shape.")
    audio: str = Field(default="", description="Path or gs:// URI of an audio track; empty for none. " + _described("audio"))
    quality: QualityConfig = Field(
        default_factory=QualityConfig, description="Quality thresholds for this project; unset ones come from the environment."
    )
    resolution: Literal["", "720p", "1080p"] = Field(default="", description="Picture size; empty for the model backend's default.")
    keep_model_audio: bool = Field(default=False, description=_described("keep_model_audio"))
    regenerate_later_scenes: bool = Field(default=True, description=_described("regenerate_later_scenes"))
    seed: int = Field(default=0, description="Seed for the models.")
    budget_usd: float = Field(default=0, description="The most the project's model calls may cost, in USD; 0 for the environment's default.")

    def brief(self) -> dict:
        quality = self.quality.override().model_dump(by_alias=True, exclude_none=True)
        return {
            **self.model_dump(exclude={"quality"}),
            "audio": self.audio or None,
            "quality": quality or None,
            "resolution": self.resolution or None,
            "budget_usd": self.budget_usd or None,
        }


@op(out={}, description="Validate the brief, store it as the inbox does, and add the project's partition.")
def store_project_brief(context: OpExecutionContext, config: StartProjectConfig, blob_store: BlobStoreResource):  # no output
    brief = submit_brief(context.instance, blob_store.open(), config.brief())
    context.log.info(f"project {brief.project_id}: brief stored; the scene sequencer starts it on its next tick")


@job(description="Start a project: fill in the brief in the launchpad's config and launch. Nothing else to do.")
def start_project():
    store_project_brief()
