from dagster import AssetExecutionContext, Config, asset
from pydantic import Field

from vidpipe_dagster.artifacts import PendingArtifact
from vidpipe_dagster.assets.common import in_project
from vidpipe_dagster.domain import Brief, BriefLimits, InvalidBrief, parse_brief
from vidpipe_dagster.intake import inspect_brief, submitted_brief
from vidpipe_dagster.partitions import projects_partitions
from vidpipe_dagster.resources.paid_calls import PaidCalls
from vidpipe_dagster.resources.storage import BlobStoreResource


class BriefConfig(Config):
    brief_json: str = Field(
        default="",
        description="A brief as JSON. Empty: use the brief submitted for this project (inbox or CLI).",
    )


def pasted_brief(text: str) -> Brief:
    """A brief pasted into the launchpad, held to the inbox's rules. It has no folder and allows no
    track source, so any `audio` is refused: a track comes through `start_project`, the inbox or
    `vidpipe submit`, which store a copy any worker can read."""
    return inspect_brief(text, base_dir=None, limits=BriefLimits()).brief


@asset(partitions_def=projects_partitions, group_name="project", kinds={"json"})
def brief(
    context: AssetExecutionContext, config: BriefConfig, blob_store: BlobStoreResource, paid_calls: PaidCalls
) -> PendingArtifact:
    """The validated request: project id, creative prompt, scene hints, style, optional audio."""
    with in_project(context):
        project = context.partition_key
        validated = pasted_brief(config.brief_json) if config.brief_json else parse_brief(submitted_brief(blob_store.open(), project))
        if validated.project_id != project:
            raise InvalidBrief(
                f"brief.project_id is {validated.project_id!r} but this run is for project {project!r}"
            )
        paid_calls.open_budget(project, validated.budget_usd)
        context.log.info(f"[project={project}] brief accepted: {validated.scene_count} scenes, style {validated.style!r}")
        return PendingArtifact(
            data=validated.model_dump(mode="json"),
            facts={"scene_count": validated.scene_count, "style": validated.style, "has_audio": bool(validated.audio)},
        )
