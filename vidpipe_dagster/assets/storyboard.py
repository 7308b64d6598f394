from dagster import AssetExecutionContext, ResourceParam, asset

from vidpipe_dagster.artifacts import PendingArtifact
from vidpipe_dagster.assets.common import TRANSIENT_RETRY, in_project, lineage
from vidpipe_dagster.domain import Brief, StoredArtifact
from vidpipe_dagster.partitions import projects_partitions, register_scene_numbers
from vidpipe_dagster.resources.models.protocols import TextModel


@asset(partitions_def=projects_partitions, group_name="project", pool="text_model", kinds={"json"}, retry_policy=TRANSIENT_RETRY)
def storyboard(context: AssetExecutionContext, brief: StoredArtifact, text_model: ResourceParam[TextModel]) -> PendingArtifact:
    """Metadata, characters, locations and ordered scenes (4, 6 or 8 s each)."""
    with in_project(context):
        request = Brief.model_validate(brief.data)
        board, call = text_model.write_storyboard(request)
        # The scene dimension grows only as far as the longest storyboard needs.
        register_scene_numbers(context.instance, len(board.scenes))
        context.log.info(
            f"[project={request.project_id}] storyboard '{board.metadata.title}': "
            f"{len(board.scenes)} scenes, {board.total_duration_s} s"
        )
        return PendingArtifact(
            data=board.model_dump(mode="json"),
            facts={
                "title": board.metadata.title,
                "scene_count": len(board.scenes),
                "total_duration_s": board.total_duration_s,
                "scene_durations": [scene.duration_s for scene in board.scenes],
                "model": call.model_dump(),
            },
            upstream=lineage(brief),
        )
