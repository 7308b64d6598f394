"""Per-scene assets: keyframes, then the clip between them.

Scene N opens on the last frame of scene N-1's accepted clip. Dagster cannot declare an edge to
the previous partition of a non-time dimension, so the predecessor is read from the event log and
a missing one fails the step at once with a message saying what to materialize first.
"""


from pathlib import Path
from typing import Literal

from dagster import AssetExecutionContext, Config, MetadataValue, ResourceParam, asset
from pydantic import Field

from vidpipe_dagster.artifacts import PendingArtifact, commit_artifact, load_materialized, read_manifest, split_partition
from vidpipe_dagster.assets.common import TRANSIENT_RETRY, asset_step, fetch, image_markdown, in_project, lineage, scratch_step
from vidpipe_dagster.domain import Brief, InvalidInput, Scene, StoredArtifact, Storyboard
from vidpipe_dagster.log_context import get_logger
from vidpipe_dagster.media.frames import extract_last_frame, frame_strip, write_png
from vidpipe_dagster.media.probe import probe
from vidpipe_dagster.model_log import logged_call
from vidpipe_dagster.partitions import scene_partition_key, scenes_partitions
from vidpipe_dagster.prompts import clip_prompt, keyframe_prompt
from vidpipe_dagster.quality import QualityReport, QualityThresholds, assess, correction_for, measure_clip
from vidpipe_dagster.resources.controls import ProjectControls
from vidpipe_dagster.resources.lease import ProjectLease
from vidpipe_dagster.resources.ledger import AttemptLedger, AttemptStatus
from vidpipe_dagster.resources.models.protocols import ImageModel, QualityJudge, VideoModel
from vidpipe_dagster.resources.storage import BlobStore, BlobStoreResource, ObjectMissing
from vidpipe_dagster.resources.workspace import WorkspaceResource
from vidpipe_dagster.sequencing import previous_kept_scene
from vidpipe_dagster.timing import frame_size

log = get_logger(__name__)


class MissingPredecessor(InvalidInput):
    """The previous scene has no clip yet: there is no frame to continue from."""


def storyboard_scene(storyboard_artifact: StoredArtifact, partition: str) -> tuple[Storyboard, Scene]:
    """The storyboard and this partition's scene; a phantom cell (a scene number past the end of
    this project's storyboard) is refused with a clear error."""
    board = Storyboard.model_validate(storyboard_artifact.data)
    project, scene = split_partition(partition)
    try:
        return board, board.scene(scene)
    except InvalidInput as exc:
        raise InvalidInput(f"project {project!r}: {exc}") from None


class KeyframeConfig(Config):
    regenerate: Literal["both", "end"] = Field(
        default="both",
        description="'end' keeps the accepted start keyframe and draws a new end keyframe only.",
    )
    prompt_override: str = Field(default="", description="Extra direction for the regenerated keyframes.")
    use_attempt: int = Field(default=0, ge=0, description="Make this stored attempt the accepted one; generate nothing.")


@asset(partitions_def=scenes_partitions, group_name="scenes", pool="image_model", kinds={"png"}, retry_policy=TRANSIENT_RETRY)
def scene_keyframes(
    context: AssetExecutionContext,
    config: KeyframeConfig,
    storyboard: StoredArtifact,
    character_sheets: StoredArtifact,
    location_sheets: StoredArtifact,
    image_model: ResourceParam[ImageModel],
    blob_store: BlobStoreResource,
    workspace: WorkspaceResource,
    controls: ProjectControls,
):  # PendingArtifact, or the StoredArtifact a user picked
    """Start and end keyframe of a scene; the start continues from the previous scene's last frame."""
    store = blob_store.open()
    with in_project(context):
        if config.use_attempt:
            return chosen_attempt(store, "scene_keyframes", context.partition_key, config.use_attempt)
        board, scene = storyboard_scene(storyboard, context.partition_key)
    project, _ = split_partition(context.partition_key)
    size = frame_size(board.metadata.aspect_ratio)
    with asset_step(context, workspace) as directory:
        references = [fetch(store, character_sheets, f"{c}.png", directory) for c in scene.characters]
        references.append(fetch(store, location_sheets, f"{scene.location}.png", directory))
        used = [storyboard, character_sheets, location_sheets]
        start = directory / "start.png"
        calls = []
        opens_on = previous_kept_scene(scene.number, controls.skipped(project))
        if config.regenerate == "end":
            current = load_materialized(context.instance, store, "scene_keyframes", context.partition_key)
            if current is None:
                raise InvalidInput(f"scene_keyframes[{context.partition_key}] has no start keyframe to keep yet; regenerate both")
            fetch(store, current, "start.png", directory).rename(start)
            used.append(current)
        elif opens_on is None:
            calls.append(
                logged_call("image", scene.key, lambda: image_model.keyframe(
                    prompt=f"{keyframe_prompt(scene, board, 'start')} {config.prompt_override}".strip(), storyboard=board, scene=scene,
                    references=references, previous_frame=None, out=start, size=size,
                ))
            )
        else:
            previous_partition = str(scene_partition_key(project, opens_on))
            previous_clip = load_materialized(context.instance, store, "scene_clip", previous_partition)
            if previous_clip is None:
                raise MissingPredecessor(
                    f"scene {scene.key} of project {project!r} opens on the last frame of scene "
                    f"{opens_on}, which has no clip yet: materialize "
                    f"scene_clip[{previous_partition}] first"
                )
            extract_last_frame(fetch(store, previous_clip, "clip.mp4", directory), start)
            used.append(previous_clip)
            log.info("scene %s opens on the last frame of %s attempt %d", scene.key, previous_partition, previous_clip.attempt)
        end = directory / "end.png"
        calls.append(
            logged_call("image", scene.key, lambda: image_model.keyframe(
                prompt=f"{keyframe_prompt(scene, board, 'end')} {config.prompt_override}".strip(), storyboard=board, scene=scene,
                references=references, previous_frame=start, out=end, size=size,
            ))
        )
        context.add_output_metadata({"preview": image_markdown([("start", start), ("end", end)])})
        return PendingArtifact(
            workspace=directory,
            files={"start.png": start, "end.png": end},
            data={"scene": scene.key, "width": size[0], "height": size[1]},
            facts={"resolution": f"{size[0]}x{size[1]}", "models": [c.model_dump() for c in calls]},
            upstream=lineage(*used),
        )


class ClipConfig(Config):
    prompt_override: str = Field(default="", description="Replaces the storyboard's description of this scene.")
    max_attempts: int = Field(default=0, ge=0, le=10, description="Attempts before the best one is accepted; 0 = the brief's max_attempts.")
    force: bool = Field(default=False, description="Accept the first attempt whatever the quality checks say.")
    use_attempt: int = Field(default=0, ge=0, description="Make this stored attempt the accepted one; generate nothing.")


@asset(
    partitions_def=scenes_partitions,
    group_name="scenes",
    pool="video_model",
    kinds={"mp4"},
    retry_policy=TRANSIENT_RETRY,
)
def scene_clip(
    context: AssetExecutionContext,
    config: ClipConfig,
    storyboard: StoredArtifact,
    scene_keyframes: StoredArtifact,
    brief: StoredArtifact,
    video_model: ResourceParam[VideoModel],
    quality_judge: ResourceParam[QualityJudge],
    blob_store: BlobStoreResource,
    ledger: AttemptLedger,
    lease: ProjectLease,
    workspace: WorkspaceResource,
) -> StoredArtifact:
    """The scene's clip, moving from its start keyframe to its end keyframe.

    Every attempt is judged and stored; a failing one is retried with a corrected prompt, and if
    none passes within max_attempts the best is accepted and flagged."""
    partition = context.partition_key
    store = blob_store.open()
    with in_project(context):
        if config.use_attempt:
            return chosen_attempt(store, "scene_clip", partition, config.use_attempt)
        board, scene = storyboard_scene(storyboard, partition)
    request = Brief.model_validate(brief.data)
    size = (scene_keyframes.data["width"], scene_keyframes.data["height"])
    max_attempts = 1 if config.force else config.max_attempts or request.max_attempts
    tried: list[tuple[StoredArtifact, QualityReport]] = []
    on_disk: dict[int, Path] = {}
    correction = None
    with scratch_step(context, workspace) as directory:
        start = fetch(store, scene_keyframes, "start.png", directory)
        end = fetch(store, scene_keyframes, "end.png", directory)
        continues_from = start if scene.number > 1 else None
        for round_number in range(1, max_attempts + 1):
            # This asset stores its own attempts, so it takes the IO manager's fence itself: a
            # worker whose project lease was taken over neither pays for a clip nor publishes one.
            lease.held.check()
            prompt = clip_prompt(scene, board, override=config.prompt_override or None, correction=correction)
            out = directory / f"try-{round_number}" / "clip.mp4"
            out.parent.mkdir()
            call = logged_call("video", scene.key, lambda: video_model.clip(
                prompt=prompt, scene=scene, start_frame=start, end_frame=end, out=out, size=size,
                seed=request.seed + scene.number * 100 + round_number,
            ))
            verdict = logged_call("judge", scene.key, lambda: quality_judge.judge(clip=out, scene=scene, storyboard=board, prompt=prompt))
            report = assess(measure_clip(out, scene, size, continues_from, verdict), QualityThresholds())
            facts = probe(out)
            stored = commit_artifact(
                store=store, ledger=ledger, asset="scene_clip", partition=partition, run_id=context.run.run_id,
                before_publish=lease.held.check,
                pending=PendingArtifact(
                    workspace=directory,
                    files={"clip.mp4": out},
                    data={"scene": scene.key, "prompt": prompt, "duration_s": scene.duration_s},
                    facts={
                        "duration_s": round(facts.duration_s, 3),
                        "frame_count": facts.frame_count,
                        "resolution": f"{facts.width}x{facts.height}",
                        "fps": facts.fps,
                        "prompt": prompt,
                        "quality": report.scores(),
                        "problems": report.problems,
                        "model": call.model_dump(),
                        "judge": verdict.call.model_dump(),
                    },
                    upstream=lineage(storyboard, scene_keyframes),
                ),
            )
            ledger.update("scene_clip", partition, stored.attempt, AttemptStatus.STORED, scores=report.scores(), note="; ".join(report.problems) or None)
            tried.append((stored, report))
            on_disk[stored.attempt] = out
            log.info("scene %s attempt %d: score %.2f%s", scene.key, stored.attempt, report.score, "" if report.passed else f" ({'; '.join(report.problems)})")
            if report.passed or config.force:
                break
            correction = correction_for(report, verdict.correction)
        accepted, report = tried[-1] if (report.passed or config.force) else max(tried, key=lambda pair: pair[1].score)
        for stored, rejected in tried:
            if stored.attempt != accepted.attempt:
                ledger.update("scene_clip", partition, stored.attempt, AttemptStatus.REJECTED)
        flag = "" if report.passed else ("forced" if config.force else f"best of {len(tried)} attempts; below the quality bar")
        strip = write_png(frame_strip(on_disk[accepted.attempt]), directory / "strip.png")
        context.add_output_metadata(
            {
                "frame_strip": image_markdown([(f"accepted attempt {accepted.attempt}", strip)], width=960),
                "attempts_tried": MetadataValue.json([{"attempt": s.attempt, **r.scores()} for s, r in tried]),
                "quality_flag": MetadataValue.text(flag or "passed"),
            }
        )
        return accepted


def chosen_attempt(store: BlobStore, asset: str, partition: str, attempt: int) -> StoredArtifact:
    """An attempt a user picked to be the accepted one; it must exist in storage."""
    try:
        return read_manifest(store, asset, partition, attempt)
    except ObjectMissing:
        raise InvalidInput(f"{asset}[{partition}] has no stored attempt {attempt}") from None
