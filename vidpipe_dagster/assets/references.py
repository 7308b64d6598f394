"""One reference image per character and per location, to keep them consistent across scenes."""


from collections.abc import Sequence

from dagster import AssetExecutionContext, ResourceParam, asset

from vidpipe_dagster.artifacts import PendingArtifact
from vidpipe_dagster.assets.common import TRANSIENT_RETRY, asset_step, image_markdown, lineage
from vidpipe_dagster.domain import Character, Location, StoredArtifact, Storyboard
from vidpipe_dagster.model_log import logged_call
from vidpipe_dagster.partitions import projects_partitions
from vidpipe_dagster.resources.models.protocols import ImageModel
from vidpipe_dagster.resources.workspace import WorkspaceResource
from vidpipe_dagster.timing import frame_size


def _reference_sheets(
    context: AssetExecutionContext,
    storyboard_artifact: StoredArtifact,
    subjects_of,
    image_model: ImageModel,
    workspace: WorkspaceResource,
) -> PendingArtifact:
    board = Storyboard.model_validate(storyboard_artifact.data)
    subjects: Sequence[Character | Location] = subjects_of(board)
    size = frame_size(board.metadata.aspect_ratio)
    with asset_step(context, workspace) as directory:
        files, calls = {}, []
        for subject in subjects:
            out = directory / f"{subject.id}.png"
            calls.append(logged_call("image", None, lambda: image_model.reference_image(subject=subject, storyboard=board, out=out, size=size)))
            files[out.name] = out
        if files:
            context.add_output_metadata({"preview": image_markdown([(s.name, files[f"{s.id}.png"]) for s in subjects])})
        return PendingArtifact(
            workspace=directory,
            files=files,
            data={"subjects": [subject.id for subject in subjects]},
            facts={"count": len(files), "model_seconds": round(sum(c.seconds for c in calls), 3)},
            upstream=lineage(storyboard_artifact),
        )


@asset(partitions_def=projects_partitions, group_name="project", pool="image_model", kinds={"png"}, retry_policy=TRANSIENT_RETRY)
def character_sheets(
    context: AssetExecutionContext,
    storyboard: StoredArtifact,
    image_model: ResourceParam[ImageModel],
    workspace: WorkspaceResource,
) -> PendingArtifact:
    """One reference image per character of the storyboard."""
    return _reference_sheets(context, storyboard, lambda board: board.characters, image_model, workspace)


@asset(partitions_def=projects_partitions, group_name="project", pool="image_model", kinds={"png"}, retry_policy=TRANSIENT_RETRY)
def location_sheets(
    context: AssetExecutionContext,
    storyboard: StoredArtifact,
    image_model: ResourceParam[ImageModel],
    workspace: WorkspaceResource,
) -> PendingArtifact:
    """One reference image per location of the storyboard."""
    return _reference_sheets(context, storyboard, lambda board: board.locations, image_model, workspace)
