from pathlib import Path
from typing import Any

from dagster import AssetExecutionContext, MetadataValue, ResourceParam, asset

from vidpipe_dagster.artifacts import PendingArtifact
from vidpipe_dagster.assets.common import TRANSIENT_RETRY, fetch_audio, lineage, scratch_step
from vidpipe_dagster.domain import Brief, InvalidInput, StoredArtifact
from vidpipe_dagster.log_context import get_logger
from vidpipe_dagster.media.audio import audio_duration
from vidpipe_dagster.media.ffmpeg import MediaError
from vidpipe_dagster.model_log import logged_call
from vidpipe_dagster.partitions import projects_partitions, register_scene_numbers
from vidpipe_dagster.resources.models.protocols import TextModel
from vidpipe_dagster.resources.storage import BlobStore, BlobStoreResource
from vidpipe_dagster.resources.workspace import WorkspaceResource
from vidpipe_dagster.review.storyboard_table import storyboard_markdown
from vidpipe_dagster.timing import durations_for_audio

log = get_logger(__name__)


def audio_timing(request: Brief, text_model: TextModel, store: BlobStore, directory: Path) -> tuple[list[int], dict[str, Any]]:
    """Scene lengths cut at the phrases of the brief's audio track, and the facts behind them."""
    track = fetch_audio(store, request, directory)
    try:
        duration = audio_duration(track)
    except MediaError as exc:
        raise InvalidInput(f"brief.audio ({request.audio}) is not a readable audio track: {exc}") from None
    phrases, call = logged_call("audio", None, lambda: text_model.audio_phrases(track, duration))
    durations = durations_for_audio(duration, phrases)
    log.info("audio track %.2f s, phrases start at %s s: scenes of %s s", duration, phrases, durations)
    return durations, {
        "audio_duration_s": round(duration, 3),
        "phrase_boundaries_s": [round(start, 2) for start in phrases],
        "audio_model": call.model_dump(),
    }


@asset(partitions_def=projects_partitions, group_name="project", pool="text_model", kinds={"json"}, retry_policy=TRANSIENT_RETRY)
def storyboard(
    context: AssetExecutionContext,
    brief: StoredArtifact,
    text_model: ResourceParam[TextModel],
    blob_store: BlobStoreResource,
    workspace: WorkspaceResource,
) -> PendingArtifact:
    """Metadata, characters, locations and ordered scenes (4, 6 or 8 s each). With an audio track,
    the number and lengths of the scenes come from the track's phrases, not brief.scene_count."""
    with scratch_step(context, workspace) as directory:
        request = Brief.model_validate(brief.data)
        scene_durations, audio_facts = (
            audio_timing(request, text_model, blob_store.open(), directory) if request.audio else (None, {})
        )
        board, call = logged_call("text", None, lambda: text_model.write_storyboard(request, scene_durations))
        # The scene dimension grows only as far as the longest storyboard needs.
        register_scene_numbers(context.instance, len(board.scenes))
        context.log.info(
            f"[project={request.project_id}] storyboard '{board.metadata.title}': "
            f"{len(board.scenes)} scenes, {board.total_duration_s} s"
        )
        context.add_output_metadata({"storyboard": MetadataValue.md(storyboard_markdown(board))})
        return PendingArtifact(
            data=board.model_dump(mode="json"),
            facts={
                "title": board.metadata.title,
                "scene_count": len(board.scenes),
                "total_duration_s": board.total_duration_s,
                "scene_durations": [scene.duration_s for scene in board.scenes],
                "model": call.model_dump(),
                **audio_facts,
            },
            upstream=lineage(brief),
        )
