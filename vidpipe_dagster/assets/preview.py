"""A preview cut while scenes render: the accepted scenes so far, stitched without re-encoding,
with its own review page, so progress can be watched. A separate asset from `final_video`, so
lineage never mistakes a preview for the cut."""

from dagster import AssetExecutionContext, MetadataValue, asset

from vidpipe_dagster.artifacts import PendingArtifact
from vidpipe_dagster.assets.common import asset_step, fetch, in_project, lineage
from vidpipe_dagster.domain import Brief, InvalidInput, StoredArtifact, Storyboard
from vidpipe_dagster.media.ffmpeg import stitch
from vidpipe_dagster.media.probe import probe
from vidpipe_dagster.partitions import projects_partitions
from vidpipe_dagster.resources.controls import ProjectControls
from vidpipe_dagster.resources.ledger import AttemptLedger
from vidpipe_dagster.resources.storage import BlobStoreResource
from vidpipe_dagster.resources.workspace import WorkspaceResource
from vidpipe_dagster.review.film import write_review_page


def scenes_done(scene_keys: list[str], skipped: set[str] | dict[str, str], accepted: set[str] | dict) -> list[str]:
    """The kept scenes from the start of the film up to the first that has no accepted clip yet."""
    done = []
    for key in scene_keys:
        if key in skipped:
            continue
        if key not in accepted:
            break
        done.append(key)
    return done


@asset(partitions_def=projects_partitions, group_name="project", kinds={"mp4"})
def preview_video(
    context: AssetExecutionContext,
    brief: StoredArtifact,
    storyboard: StoredArtifact,
    scene_clip: dict[str, StoredArtifact],
    blob_store: BlobStoreResource,
    ledger: AttemptLedger,
    workspace: WorkspaceResource,
    controls: ProjectControls,
) -> PendingArtifact:
    """The scenes accepted so far, in order, stitched by stream copy (no audio), and their review page."""
    from vidpipe_dagster.media.frames import first_frame, write_png

    board = Storyboard.model_validate(storyboard.data)
    project = Brief.model_validate(brief.data).project_id
    skipped = controls.skipped(project)
    keys = scenes_done(board.scene_keys, skipped, scene_clip)
    with in_project(context):
        if not keys:
            raise InvalidInput(f"project {project!r} has no accepted scene to preview yet")
    clips = [scene_clip[key] for key in keys]
    store = blob_store.open()
    with asset_step(context, workspace) as directory:
        local_clips = [fetch(store, clip, "clip.mp4", directory) for clip in clips]
        cut = directory / "preview.mp4"
        stitch(local_clips, cut, workdir=directory)
        thumbnails = {key: write_png(first_frame(path), directory / f"thumb-{key}.png") for key, path in zip(keys, local_clips)}
        facts = probe(cut)
        review = write_review_page(
            directory / "review.html", kind=f"preview, {len(keys)} of {len(board.scenes)} scenes", project=project, board=board,
            clips=dict(zip(keys, clips)), thumbnails=thumbnails, ledger=ledger, store=store, skipped=skipped, duration_s=facts.duration_s,
        )
        context.add_output_metadata(
            {"review_page": MetadataValue.md(f"A preview, not the cut. `vidpipe review {project}` serves its review page until the final cut exists.")}
        )
        return PendingArtifact(
            workspace=directory,
            files={"preview.mp4": cut, "review.html": review},
            data={"scenes": {key: clip.attempt for key, clip in zip(keys, clips)}, "skipped": skipped},
            facts={
                "preview": True,
                "scenes_done": len(keys),
                "scene_count": len(board.scenes),
                "duration_s": round(facts.duration_s, 3),
                "scene_attempts": {key: clip.attempt for key, clip in zip(keys, clips)},
            },
            upstream=lineage(brief, storyboard, *clips),
        )
