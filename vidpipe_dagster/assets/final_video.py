from typing import TYPE_CHECKING

from dagster import AssetExecutionContext, MetadataValue, asset

from vidpipe_dagster.artifacts import PendingArtifact, split_partition
from vidpipe_dagster.assets.judging import thresholds_for
from vidpipe_dagster.assets.common import asset_step, fetch, fetch_audio, image_markdown, in_project, lineage
from vidpipe_dagster.domain import Brief, InvalidInput, StoredArtifact, Storyboard
from vidpipe_dagster.log_context import get_logger
from vidpipe_dagster.media.ffmpeg import mux_audio, stitch
from vidpipe_dagster.media.probe import probe
from vidpipe_dagster.partitions import projects_partitions
from vidpipe_dagster.resources.controls import ProjectControls
from vidpipe_dagster.resources.ledger import AttemptLedger, AttemptRecord
from vidpipe_dagster.resources.paid_calls import PaidCalls
from vidpipe_dagster.resources.quality_policy import QualityConfig, QualityPolicy
from vidpipe_dagster.resources.storage import BlobStoreResource
from vidpipe_dagster.resources.workspace import WorkspaceResource
from vidpipe_dagster.review.film import write_review_page

if TYPE_CHECKING:
    from vidpipe_dagster.media.charts import AttemptScore

log = get_logger(__name__)


def attempt_scores(records: list[AttemptRecord], scene_keys: list[str], accepted: list[StoredArtifact]) -> dict[str, list["AttemptScore"]]:
    """Every judged attempt of each scene, marking the one this cut uses."""
    from vidpipe_dagster.media.charts import AttemptScore

    used = {clip.partition: clip.attempt for clip in accepted}
    scores: dict[str, list[AttemptScore]] = {key: [] for key in scene_keys}
    for record in records:
        key = split_partition(record.partition)[1]
        if key in scores and "score" in record.scores:
            scores[key].append(
                AttemptScore(record.attempt, record.scores["score"], record.scores["passed"], used.get(record.partition) == record.attempt)
            )
    return scores


class MissingScenes(InvalidInput):
    """Some scene of the storyboard has no accepted clip yet."""


@asset(partitions_def=projects_partitions, group_name="project", kinds={"mp4"})
def final_video(
    context: AssetExecutionContext,
    brief: StoredArtifact,
    storyboard: StoredArtifact,
    scene_clip: dict[str, StoredArtifact],
    blob_store: BlobStoreResource,
    ledger: AttemptLedger,
    quality_policy: QualityPolicy,
    workspace: WorkspaceResource,
    paid_calls: PaidCalls,
    controls: ProjectControls,
) -> PendingArtifact:
    """Every accepted clip of the project, stitched in storyboard order (and muxed with the brief's
    audio track), leaving out the scenes a person skipped; a contact sheet with one thumbnail per
    scene; and the review page (`vidpipe review`)."""
    from vidpipe_dagster.media.charts import score_chart
    from vidpipe_dagster.media.draw import contact_sheet
    from vidpipe_dagster.media.frames import first_frame

    board = Storyboard.model_validate(storyboard.data)
    request = Brief.model_validate(brief.data)
    skipped = controls.skipped(request.project_id)
    scene_keys = [key for key in board.scene_keys if key not in skipped]
    missing = [key for key in scene_keys if key not in scene_clip]
    with in_project(context):
        if missing:
            raise MissingScenes(
                f"project {request.project_id!r} cannot be cut yet: scenes {', '.join(missing)} have no "
                "accepted clip; materialize scene_clip for them first"
            )
    clips = [scene_clip[key] for key in scene_keys]
    store = blob_store.open()
    with asset_step(context, workspace) as directory:
        local_clips = [fetch(store, clip, "clip.mp4", directory) for clip in clips]
        cut = directory / "final.mp4"
        sound = "the video model's own sound" if probe(local_clips[0]).has_audio else "none"
        if request.audio:
            stitched = directory / "stitched.mp4"
            stitch(local_clips, stitched, workdir=directory)
            # The scenes run up to 2 s past the track (timing.picture_length): the cut ends with it.
            # The track wins; the clips' own sound stays under it only if the brief asks.
            keep = request.keep_model_audio and sound != "none"
            mux_audio(stitched, fetch_audio(store, request, directory), cut, keep_video_audio=keep)
            sound = "the music track over the video model's sound" if keep else "the music track"
        else:
            stitch(local_clips, cut, workdir=directory)
        thumbnails = []
        for key, clip_path in zip(scene_keys, local_clips):
            thumbnail = directory / f"thumb-{key}.png"
            first_frame(clip_path).save(thumbnail)
            thumbnails.append((f"scene {key}", thumbnail))
        sheet = contact_sheet(thumbnails, directory / "contact_sheet.png")
        scores = attempt_scores(ledger.attempts("scene_clip", partition_prefix=f"{request.project_id}|"), scene_keys, clips)
        accept_bar = thresholds_for(quality_policy, request, QualityConfig()).accept
        chart = score_chart(scores, accept_bar, directory / "scores.png")
        facts = probe(cut)
        review = write_review_page(
            directory / "review.html", kind="final cut", project=request.project_id, board=board,
            clips=dict(zip(scene_keys, clips)), thumbnails={key: path for key, (_, path) in zip(scene_keys, thumbnails)},
            ledger=ledger, store=store, skipped=skipped, duration_s=facts.duration_s,
        )
        log.info("final cut: %d scenes, %.2f s", len(clips), facts.duration_s)
        context.add_output_metadata(
            {
                "contact_sheet": image_markdown([("contact sheet", sheet)], width=960),
                "quality_scores": image_markdown([("score per attempt per scene", chart)], width=720),
                "review_page": MetadataValue.md(
                    f"The review page (player, scene timeline, every attempt) is `review/uri` below; "
                    f"`vidpipe review {request.project_id}` serves it."
                ),
            }
        )
        return PendingArtifact(
            workspace=directory,
            files={"final.mp4": cut, "contact_sheet.png": sheet, "scores.png": chart, "review.html": review},
            data={"scenes": {key: clip.attempt for key, clip in zip(scene_keys, clips)}, "skipped": skipped},
            facts={
                "duration_s": round(facts.duration_s, 3),
                "expected_duration_s": (
                    min(board.total_duration_s, storyboard.facts["audio_duration_s"]) if request.audio else board.total_duration_s
                ),
                "frame_count": facts.frame_count,
                "resolution": f"{facts.width}x{facts.height}",
                "has_audio": facts.has_audio,
                "sound": sound,
                "scene_count": len(clips),
                "scene_attempts": {key: clip.attempt for key, clip in zip(scene_keys, clips)},
                "skipped_scenes": skipped,
                "attempt_scores": {key: [vars(a) for a in attempts] for key, attempts in scores.items()},
                # What the project's model calls cost so far, per step and scene, and how many were reused.
                **paid_calls.totals(request.project_id).metadata(),
            },
            upstream=lineage(brief, storyboard, *clips),
        )
