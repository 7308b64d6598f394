"""One reference image per character and per location, to keep them consistent across scenes.

Each is drawn from a reference-sheet prompt (`creative.compose.reference_prompt`): every fixed trait,
the rules in force, and a neutral framing that makes it the continuity reference."""

from collections.abc import Sequence

from dagster import AssetExecutionContext, ResourceParam, asset

from vidpipe_dagster.artifacts import PendingArtifact
from vidpipe_dagster.assets.common import TRANSIENT_RETRY, asset_step, image_markdown, lineage
from vidpipe_dagster.creative.compose import reference_prompt
from vidpipe_dagster.creative.versions import prompt_version
from vidpipe_dagster.domain import Character, Location, StoredArtifact, Storyboard
from vidpipe_dagster.paid_path import paid_models
from vidpipe_dagster.partitions import projects_partitions
from vidpipe_dagster.resources.models.protocols import ImageModel
from vidpipe_dagster.resources.paid_calls import PaidCalls
from vidpipe_dagster.resources.workspace import WorkspaceResource
from vidpipe_dagster.timing import frame_size


def _reference_sheets(
    context: AssetExecutionContext,
    storyboard_artifact: StoredArtifact,
    subjects_of,
    image_model: ImageModel,
    workspace: WorkspaceResource,
    paid_calls: PaidCalls,
) -> PendingArtifact:
    (image_model,) = paid_models(context, paid_calls, image_model)
    board = Storyboard.model_validate(storyboard_artifact.data)
    subjects: Sequence[Character | Location] = subjects_of(board)
    size = frame_size(board.metadata.aspect_ratio)
    with asset_step(context, workspace) as directory:
        files, calls, prompts = {}, [], {}
        for subject in subjects:
            out = directory / f"{subject.id}.png"
            prompts[subject.id] = reference_prompt(subject, board)
            calls.append(image_model.reference_image(prompt=prompts[subject.id], subject=subject, storyboard=board, out=out, size=size))
            files[out.name] = out
        if files:
            context.add_output_metadata({"preview": image_markdown([(s.name, files[f"{s.id}.png"]) for s in subjects])})
        return PendingArtifact(
            workspace=directory,
            files=files,
            data={"subjects": [subject.id for subject in subjects], "prompts": prompts},
            facts={"count": len(files), "model_seconds": round(sum(c.seconds for c in calls), 3), "prompts": prompts},
            upstream=lineage(storyboard_artifact),
        )


# Both sheets are drawn alike, from the same prompt templates.
reference_sheet_asset = asset(
    partitions_def=projects_partitions,
    group_name="project",
    pool="image_model",
    kinds={"png"},
    retry_policy=TRANSIENT_RETRY,
    code_version=prompt_version("references"),
)


@reference_sheet_asset
def character_sheets(
    context: AssetExecutionContext,
    storyboard: StoredArtifact,
    image_model: ResourceParam[ImageModel],
    workspace: WorkspaceResource,
    paid_calls: PaidCalls,
) -> PendingArtifact:
    """One reference image per character of the storyboard."""
    return _reference_sheets(context, storyboard, lambda board: board.characters, image_model, workspace, paid_calls)


@reference_sheet_asset
def location_sheets(
    context: AssetExecutionContext,
    storyboard: StoredArtifact,
    image_model: ResourceParam[ImageModel],
    workspace: WorkspaceResource,
    paid_calls: PaidCalls,
) -> PendingArtifact:
    """One reference image per location of the storyboard."""
    return _reference_sheets(context, storyboard, lambda board: board.locations, image_model, workspace, paid_calls)
