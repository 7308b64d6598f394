"""Per-scene assets: keyframes, then the clip between them.

Scene N follows scene N-1's accepted clip: a `continuous` scene opens on its last frame, a `cut`
draws a new start keyframe conditioned on it, and both read the continuity record (state and
rules) it leaves. Dagster cannot declare an edge to the previous partition of a non-time dimension,
so the predecessor is read from the event log and a missing one fails the step at once with a
message saying what to materialize first.
"""

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from dagster import AssetExecutionContext, Config, MetadataValue, ResourceParam, asset
from pydantic import Field

from vidpipe_dagster.artifacts import PendingArtifact, commit_artifact, load_materialized, read_manifest, split_partition
from vidpipe_dagster.assets.judging import (
    JudgedKeyframe,
    chart_metadata,
    clip_last_frame,
    judge_keyframe,
    previous_last_frame,
    project_size,
    rewriter,
    thresholds_for,
)
from vidpipe_dagster.assets.continuity import continuity_after, continuity_before, keyframes_record, record_lines
from vidpipe_dagster.assets.common import TRANSIENT_RETRY, asset_step, fetch, image_markdown, in_project, lineage, scratch_step
from vidpipe_dagster.domain import Brief, InvalidInput, ModelCall, Scene, StoredArtifact, Storyboard
from vidpipe_dagster.log_context import get_logger
from vidpipe_dagster.media.probe import probe
from vidpipe_dagster.paid_path import paid_models
from vidpipe_dagster.partitions import scene_partition_key, scenes_partitions
from vidpipe_dagster.creative.compose import clip_prompt, keyframe_prompt
from vidpipe_dagster.creative.versions import prompt_version
from vidpipe_dagster.quality import BelowTheBar, QualityReport, assess, clip_measures, judged_attempts, measure_frames
from vidpipe_dagster.resources.controls import ProjectControls
from vidpipe_dagster.resources.lease import ProjectLease
from vidpipe_dagster.resources.ledger import AttemptLedger, AttemptStatus
from vidpipe_dagster.resources.models.protocols import ImageModel, QualityJudge, TextModel, VideoModel
from vidpipe_dagster.resources.paid_calls import PaidCalls
from vidpipe_dagster.resources.quality_policy import QualityConfig, QualityPolicy
from vidpipe_dagster.resources.storage import BlobStore, BlobStoreResource, ObjectMissing
from vidpipe_dagster.resources.workspace import WorkspaceResource
from vidpipe_dagster.sequencing import previous_kept_scene

if TYPE_CHECKING:
    from PIL import Image

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


def scene_direction(context: AssetExecutionContext, own: str) -> str:
    """The extra direction for this scene: a `prompt_override` given to either step of the scene's
    run amends the scene for both, so its keyframes and its clip are drawn from one description."""
    if own.strip():
        return own
    ops = (context.run.run_config or {}).get("ops", {})
    given = [ops.get(name, {}).get("config", {}).get("prompt_override", "") for name in ("scene_keyframes", "scene_clip")]
    return next((direction for direction in given if direction.strip()), "")


class KeyframeConfig(Config):
    regenerate: Literal["both", "end"] = Field(
        default="both",
        description=(
            "'both' draws the end keyframe and, for a cut scene, a new start keyframe (a continuous "
            "scene's start is the previous clip's last frame); 'end' keeps the accepted start keyframe."
        ),
    )
    prompt_override: str = Field(
        default="", description="Extra direction added to the scene's description; given to either step of the run, it reaches both."
    )
    quality: QualityConfig = Field(
        default_factory=QualityConfig, description="Thresholds for this run; unset ones come from the brief, then the environment."
    )
    force: bool = Field(default=False, description="Keep the first keyframe drawn whatever the judge says.")
    use_attempt: int = Field(default=0, ge=0, description="Make this stored attempt the accepted one; generate nothing.")


def previous_clip_of(
    context: AssetExecutionContext, store: BlobStore, project: str, scene: Scene, skipped: set[str]
) -> StoredArtifact | None:
    """The accepted clip of the last scene before this one that was not skipped, which every scene
    after the first needs (its last frame and its continuity record); a missing one fails at once
    saying what to materialize."""
    opens_on = previous_kept_scene(scene.number, skipped)
    if opens_on is None:
        return None
    previous_partition = str(scene_partition_key(project, opens_on))
    previous_clip = load_materialized(context.instance, store, "scene_clip", previous_partition)
    if previous_clip is None:
        raise MissingPredecessor(
            f"scene {scene.key} of project {project!r} follows scene {opens_on}, which has "
            f"no clip yet: materialize scene_clip[{previous_partition}] first"
        )
    return previous_clip


@asset(
    partitions_def=scenes_partitions,
    group_name="scenes",
    pool="image_model",
    kinds={"png"},
    retry_policy=TRANSIENT_RETRY,
    code_version=prompt_version("keyframes"),
)
def scene_keyframes(
    context: AssetExecutionContext,
    config: KeyframeConfig,
    storyboard: StoredArtifact,
    character_sheets: StoredArtifact,
    location_sheets: StoredArtifact,
    brief: StoredArtifact,
    image_model: ResourceParam[ImageModel],
    text_model: ResourceParam[TextModel],
    quality_judge: ResourceParam[QualityJudge],
    video_model: ResourceParam[VideoModel],
    quality_policy: QualityPolicy,
    blob_store: BlobStoreResource,
    workspace: WorkspaceResource,
    paid_calls: PaidCalls,
    controls: ProjectControls,
):  # PendingArtifact, or the StoredArtifact a user picked
    """Start and end keyframe of a scene. A continuous scene starts on the previous clip's last
    frame; the first scene and a cut draw a new start keyframe from the reference sheets and the
    previous scene's end frame. Prompts carry the continuity record (state and rules) before the
    scene; the end keyframe also shows what the scene changes. Each drawn keyframe is judged on the
    rubric and redrawn from a rewritten prompt until it passes; one still below the pass bar after
    its attempts fails the step, so no clip is paid for from it."""
    store = blob_store.open()
    with in_project(context):
        if config.use_attempt:
            return chosen_attempt(store, "scene_keyframes", context.partition_key, config.use_attempt)
        board, scene = storyboard_scene(storyboard, context.partition_key)
        request = Brief.model_validate(brief.data)
        thresholds = thresholds_for(quality_policy, request, config.quality)
    scene = scene.amended(scene_direction(context, config.prompt_override))
    project, _ = split_partition(context.partition_key)
    size = project_size(request, board.metadata.aspect_ratio, video_model)
    # `force` asks for fresh calls too: no stored answer is reused.
    image_model, text_model, quality_judge = paid_models(
        context, paid_calls, image_model, text_model, quality_judge, force=config.force
    )
    with asset_step(context, workspace) as directory:
        references = [fetch(store, character_sheets, f"{c}.png", directory) for c in scene.characters]
        references.append(fetch(store, location_sheets, f"{scene.location}.png", directory))
        reference_names = [board.character(c).name for c in scene.characters] + [board.location(scene.location).name]
        used = [storyboard, character_sheets, location_sheets]
        previous_clip = previous_clip_of(context, store, project, scene, controls.skipped(project))
        record = continuity_before(board, previous_clip)
        changes, changes_call = text_model.scene_changes(storyboard=board, scene=scene, record=record)
        calls = [changes_call]
        previous_end = None
        if previous_clip is not None:
            previous_end = clip_last_frame(store, previous_clip, directory)
            used.append(previous_clip)
        start = directory / "start.png"
        prompts: dict[str, str] = {}
        judged: dict[str, JudgedKeyframe] = {}

        def judged_keyframe(name: str, prompt: str, previous: Path | None) -> Path:
            """Draw, judge and redraw one keyframe; the accepted one's prompt is the one kept."""
            judged[name] = judge_keyframe(
                name=name, prompt=prompt, directory=directory, judge=quality_judge, text_model=text_model,
                scene=scene, storyboard=board, thresholds=thresholds, force=config.force,
                previous_frame=previous_end, rules=[rule.text for rule in record.rules],
                previous_description=board.scenes[record.after_scene - 1].description if record.after_scene else None,
                draw=lambda text, out: image_model.keyframe(
                    prompt=text, storyboard=board, scene=scene, references=references, previous_frame=previous, out=out, size=size,
                ),
            )
            calls.extend(judged[name].calls)
            prompts[name] = judged[name].prompt
            return judged[name].path
        opening = "first" if previous_clip is None else scene.transition_in
        if config.regenerate == "end":
            current = load_materialized(context.instance, store, "scene_keyframes", context.partition_key)
            if current is None:
                raise InvalidInput(f"scene_keyframes[{context.partition_key}] has no start keyframe to keep yet; regenerate both")
            fetch(store, current, "start.png", directory).rename(start)
            used.append(current)
        elif opening == "continuous":
            # The previous clip's last frame becomes this scene's start; the judge still sees it.
            previous_end = previous_end.rename(start)
            log.info("scene %s continues from the last frame of scene_clip attempt %d", scene.key, previous_clip.attempt)
        else:
            prompts["start"] = keyframe_prompt(
                board, scene, "start", record, changes, references=reference_names,
                previous_frame=f"the last frame of scene {record.after_scene}" if previous_end else None,
            )
            start = judged_keyframe("start", prompts["start"], previous_end)
        end_prompt = keyframe_prompt(
            board, scene, "end", record, changes, references=reference_names, previous_frame="the start frame of this shot"
        )
        end = judged_keyframe("end", end_prompt, start)
        quality = {name: keyframe.rows for name, keyframe in judged.items()}
        worst = min((keyframe.report for keyframe in judged.values()), key=lambda report: report.score)
        context.add_output_metadata(
            {
                "preview": image_markdown([("start", start), ("end", end)]),
                **chart_metadata(worst, sum(len(rows) for rows in quality.values())),
                **{f"{moment}_prompt": MetadataValue.md(f"```\n{text}\n```") for moment, text in prompts.items()},
            }
        )
        return PendingArtifact(
            workspace=directory,
            files={"start.png": start, "end.png": end},
            data={
                "scene": scene.key,
                "width": size[0],
                "height": size[1],
                "opening": opening,
                "prompts": prompts,
                "continuity_in": record.model_dump(mode="json"),
                "changes": [change.model_dump(mode="json") for change in changes],
            },
            facts={
                "resolution": f"{size[0]}x{size[1]}",
                "opening": opening,
                "prompts": prompts,
                "state_in": record_lines(record)["state"],
                "rules_in_force": record_lines(record)["rules"],
                "rule_count": len(record.rules),
                "changes": [f"{c.subject}, {c.aspect}: {c.value}" for c in changes],
                "models": [c.model_dump() for c in calls],
                "quality": quality,
            },
            scores={"passed": worst.passed, "score": worst.score, "judge_score": worst.judge.score, "keyframes": {
                name: keyframe.report.scores() for name, keyframe in judged.items()
            }},
            upstream=lineage(*used),
        )


class ClipConfig(Config):
    prompt_override: str = Field(
        default="", description="Extra direction added to the scene's description; given to either step of the run, it reaches both."
    )
    quality: QualityConfig = Field(
        default_factory=QualityConfig, description="Thresholds for this run; unset ones come from the brief, then the environment."
    )
    force: bool = Field(default=False, description="Accept the first attempt whatever the quality checks say.")
    use_attempt: int = Field(default=0, ge=0, description="Make this stored attempt the accepted one; generate nothing.")


@asset(
    partitions_def=scenes_partitions,
    group_name="scenes",
    pool="video_model",
    kinds={"mp4"},
    retry_policy=TRANSIENT_RETRY,
    code_version=prompt_version("clip"),
)
def scene_clip(
    context: AssetExecutionContext,
    config: ClipConfig,
    storyboard: StoredArtifact,
    scene_keyframes: StoredArtifact,
    brief: StoredArtifact,
    video_model: ResourceParam[VideoModel],
    quality_judge: ResourceParam[QualityJudge],
    text_model: ResourceParam[TextModel],
    quality_policy: QualityPolicy,
    blob_store: BlobStoreResource,
    ledger: AttemptLedger,
    lease: ProjectLease,
    workspace: WorkspaceResource,
    paid_calls: PaidCalls,
) -> StoredArtifact:
    """The scene's clip, moving from its start keyframe to its end keyframe.

    Every attempt is judged on the rubric and stored with its grades; one short of the accept bar
    is retried from a prompt the text model rewrites with the judge's fixes. If none is accepted
    within max_attempts, the best is used and flagged, or, below the pass bar, the step fails."""
    from vidpipe_dagster.media.frames import frame_strip, write_png

    partition = context.partition_key
    store = blob_store.open()
    with in_project(context):
        if config.use_attempt:
            return chosen_attempt(store, "scene_clip", partition, config.use_attempt)
        board, scene = storyboard_scene(storyboard, partition)
        scene = scene.amended(scene_direction(context, config.prompt_override))
        request = Brief.model_validate(brief.data)
        thresholds = thresholds_for(quality_policy, request, config.quality)
    # `force` asks for fresh calls too: no stored answer is reused.
    video_model, quality_judge, text_model = paid_models(
        context, paid_calls, video_model, quality_judge, text_model, force=config.force
    )
    size = (scene_keyframes.data["width"], scene_keyframes.data["height"])
    record, changes = keyframes_record(board, scene.number, scene_keyframes)
    # The model's own sound is kept when there is no music track, or mixed under it on request.
    with_audio = request.audio is None or request.keep_model_audio
    # The scene this one follows: the one before it, or the last kept one when that was skipped.
    previous_description = board.scenes[record.after_scene - 1].description if record.after_scene else None
    stored_attempts: list[StoredArtifact] = []
    prompts: list[str] = []
    rewrites: list[ModelCall] = []
    pictures: dict[int, list[Image.Image]] = {}
    with scratch_step(context, workspace) as directory:
        start = fetch(store, scene_keyframes, "start.png", directory)
        end = fetch(store, scene_keyframes, "end.png", directory)
        # Pixel continuity is measured only where the shot goes on; a cut opens on a new frame.
        continues_from = start if scene.opens_on_previous_frame else None
        reference = scene_keyframes.objects["start.png"].sha256 if continues_from else None
        # The judge sees the previous scene's last frame either way: a continuous scene opens on it.
        previous_frame = continues_from or previous_last_frame(store, scene_keyframes, record.after_scene, directory)

        def attempt(number: int, prompt: str) -> tuple[StoredArtifact, QualityReport]:
            # This asset stores its own attempts, so it takes the IO manager's fence itself: a
            # worker whose project lease was taken over neither pays for a clip nor publishes one.
            lease.held.assert_held()
            out = directory / f"try-{number}" / "clip.mp4"
            out.parent.mkdir()
            call = video_model.clip(
                prompt=prompt, scene=scene, start_frame=start, end_frame=end, out=out, size=size,
                seed=request.seed + scene.number * 100 + number, audio=with_audio,
            )
            # One decode measures the clip for the judge, the quality bar, the check and the strip.
            statistics, decoded = measure_frames(out, continues_from, reference)
            verdict = quality_judge.judge(
                media=out, scene=scene, storyboard=board, prompt=prompt, previous_frame=previous_frame,
                previous_description=previous_description, rules=[rule.text for rule in record.rules],
                measures=statistics,
            )
            report = assess(verdict, thresholds, clip_measures(statistics, scene, size))
            facts = probe(out)
            previous_prompt = prompts[-1] if prompts else None
            prompts.append(prompt)
            stored = commit_artifact(
                store=store, ledger=ledger, asset="scene_clip", partition=partition, run_id=context.run.run_id,
                before_publish=lease.held.check,
                pending=PendingArtifact(
                    workspace=directory,
                    # The last frame, which the next scene opens on or is judged against, from the same pass.
                    files={"clip.mp4": out, "last.png": write_png(decoded.last, out.parent / "last.png")},
                    data={
                        "scene": scene.key,
                        "prompt": prompt,
                        "previous_prompt": previous_prompt,
                        "duration_s": scene.duration_s,
                        "continuity_in": record.model_dump(mode="json"),
                        "changes": [change.model_dump(mode="json") for change in changes],
                        "rule_suggestion": verdict.rule_suggestion,
                    },
                    facts={
                        "duration_s": round(facts.duration_s, 3),
                        "frame_count": facts.frame_count,
                        "resolution": f"{facts.width}x{facts.height}",
                        "fps": facts.fps,
                        "has_audio": facts.has_audio,
                        "prompt": prompt,
                        "previous_prompt": previous_prompt,
                        "quality": report.scores(),
                        "frame_statistics": statistics.model_dump(mode="json"),
                        "problems": report.problems,
                        "model": call.model_dump(),
                        "judge": verdict.call.model_dump(),
                        "rewrite": rewrites[-1].model_dump() if previous_prompt is not None else None,
                        "rule_suggestion": verdict.rule_suggestion,
                    },
                    scores=report.scores(),
                    upstream=lineage(storyboard, scene_keyframes),
                ),
            )
            stored_attempts.append(stored)
            pictures[stored.attempt] = decoded.thumbnails
            if report.problems:
                ledger.update("scene_clip", partition, stored.attempt, AttemptStatus.STORED, note="; ".join(report.problems))
            log.info("scene %s attempt %d: %s", scene.key, stored.attempt, report.why())
            return stored, report

        try:
            chosen, tried = judged_attempts(
                what=f"the clip of scene {scene.key}",
                prompt=clip_prompt(board, scene, record, changes),
                max_attempts=thresholds.max_attempts, force=config.force, attempt=attempt, rewrite=rewriter(text_model, rewrites),
            )
        except BelowTheBar:
            for stored in stored_attempts:
                ledger.update("scene_clip", partition, stored.attempt, AttemptStatus.REJECTED)
            raise
        for stored in stored_attempts:
            if stored.attempt != chosen.result.attempt:
                ledger.update("scene_clip", partition, stored.attempt, AttemptStatus.REJECTED)
        report = chosen.report
        flag = "passed" if report.passed else ("forced" if config.force else f"best of {len(tried)} attempts; below the quality bar ({report.verdict})")
        strip = write_png(frame_strip(pictures[chosen.result.attempt]), directory / "strip.png")
        context.add_output_metadata(
            {
                "frame_strip": image_markdown([(f"accepted attempt {chosen.result.attempt}", strip)], width=960),
                **chart_metadata(report, len(tried)),
                "attempts_tried": MetadataValue.json([{"attempt": t.result.attempt, **t.report.scores()} for t in tried]),
                "quality_flag": MetadataValue.text(flag),
                "continuity_after": MetadataValue.json(record_lines(continuity_after(board, chosen.result))),
            }
        )
        return chosen.result


def chosen_attempt(store: BlobStore, asset: str, partition: str, attempt: int) -> StoredArtifact:
    """An attempt a user picked to be the accepted one; it must exist in storage."""
    try:
        return read_manifest(store, asset, partition, attempt)
    except ObjectMissing:
        raise InvalidInput(f"{asset}[{partition}] has no stored attempt {attempt}") from None
