"""Per-scene assets: keyframes, then the clip between them.

Scene N opens on the last frame of scene N-1's accepted clip. Dagster cannot declare an edge to
the previous partition of a non-time dimension, so the predecessor is read from the event log and
a missing one fails the step at once with a message saying what to materialize first.
"""


from dagster import AssetExecutionContext, Config, ResourceParam, asset
from pydantic import Field

from vidpipe_dagster.artifacts import PendingArtifact, load_materialized, split_partition
from vidpipe_dagster.assets.common import asset_step, fetch, image_markdown, lineage
from vidpipe_dagster.domain import InvalidInput, Scene, StoredArtifact, Storyboard, scene_key
from vidpipe_dagster.log_context import get_logger
from vidpipe_dagster.media.frames import extract_last_frame
from vidpipe_dagster.media.probe import probe
from vidpipe_dagster.partitions import scene_partition_key, scenes_partitions
from vidpipe_dagster.prompts import clip_prompt, keyframe_prompt
from vidpipe_dagster.resources.models.protocols import ImageModel, VideoModel
from vidpipe_dagster.resources.storage import BlobStoreResource
from vidpipe_dagster.resources.workspace import WorkspaceResource
from vidpipe_dagster.timing import frame_size

log = get_logger(__name__)


class MissingPredecessor(RuntimeError):
    pass


def storyboard_scene(storyboard_artifact: StoredArtifact, partition: str) -> tuple[Storyboard, Scene]:
    """The storyboard and this partition's scene; a phantom cell (a scene number past the end of
    this project's storyboard) is refused with a clear error."""
    board = Storyboard.model_validate(storyboard_artifact.data)
    project, scene = split_partition(partition)
    try:
        return board, board.scene(scene)
    except InvalidInput as exc:
        raise InvalidInput(f"project {project!r}: {exc}") from None


@asset(partitions_def=scenes_partitions, group_name="scenes", pool="image_model", kinds={"png"})
def scene_keyframes(
    context: AssetExecutionContext,
    storyboard: StoredArtifact,
    character_sheets: StoredArtifact,
    location_sheets: StoredArtifact,
    image_model: ResourceParam[ImageModel],
    blob_store: BlobStoreResource,
    workspace: WorkspaceResource,
) -> PendingArtifact:
    """Start and end keyframe of a scene; the start continues from the previous scene's last frame."""
    board, scene = storyboard_scene(storyboard, context.partition_key)
    project, _ = split_partition(context.partition_key)
    store = blob_store.open()
    size = frame_size(board.metadata.aspect_ratio)
    with asset_step(context, workspace) as directory:
        references = [fetch(store, character_sheets, f"{c}.png", directory) for c in scene.characters]
        references.append(fetch(store, location_sheets, f"{scene.location}.png", directory))
        used = [storyboard, character_sheets, location_sheets]
        start = directory / "start.png"
        calls = []
        if scene.number == 1:
            calls.append(
                image_model.keyframe(
                    prompt=keyframe_prompt(scene, board, "start"), storyboard=board, scene=scene,
                    references=references, previous_frame=None, out=start, size=size,
                )
            )
        else:
            previous_partition = str(scene_partition_key(project, scene_key(scene.number - 1)))
            previous_clip = load_materialized(context.instance, store, "scene_clip", previous_partition)
            if previous_clip is None:
                raise MissingPredecessor(
                    f"scene {scene.key} of project {project!r} opens on the last frame of scene "
                    f"{scene_key(scene.number - 1)}, which has no clip yet: materialize "
                    f"scene_clip[{previous_partition}] first"
                )
            extract_last_frame(fetch(store, previous_clip, "clip.mp4", directory), start)
            used.append(previous_clip)
            log.info("scene %s opens on the last frame of %s attempt %d", scene.key, previous_partition, previous_clip.attempt)
        end = directory / "end.png"
        calls.append(
            image_model.keyframe(
                prompt=keyframe_prompt(scene, board, "end"), storyboard=board, scene=scene,
                references=references, previous_frame=start, out=end, size=size,
            )
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


@asset(partitions_def=scenes_partitions, group_name="scenes", pool="video_model", kinds={"mp4"})
def scene_clip(
    context: AssetExecutionContext,
    config: ClipConfig,
    storyboard: StoredArtifact,
    scene_keyframes: StoredArtifact,
    brief: StoredArtifact,
    video_model: ResourceParam[VideoModel],
    blob_store: BlobStoreResource,
    workspace: WorkspaceResource,
) -> PendingArtifact:
    """The scene's clip, moving from its start keyframe to its end keyframe."""
    board, scene = storyboard_scene(storyboard, context.partition_key)
    store = blob_store.open()
    size = (scene_keyframes.data["width"], scene_keyframes.data["height"])
    prompt = clip_prompt(scene, board, override=config.prompt_override or None)
    with asset_step(context, workspace) as directory:
        start = fetch(store, scene_keyframes, "start.png", directory)
        end = fetch(store, scene_keyframes, "end.png", directory)
        out = directory / "clip.mp4"
        call = video_model.clip(
            prompt=prompt, scene=scene, start_frame=start, end_frame=end, out=out, size=size,
            seed=int(brief.data.get("seed", 0)) + scene.number,
        )
        facts = probe(out)
        log.info("clip of scene %s: %.2f s, %d frames", scene.key, facts.duration_s, facts.frame_count)
        return PendingArtifact(
            workspace=directory,
            files={"clip.mp4": out},
            data={"scene": scene.key, "prompt": prompt, "duration_s": scene.duration_s},
            facts={
                "duration_s": round(facts.duration_s, 3),
                "frame_count": facts.frame_count,
                "resolution": f"{facts.width}x{facts.height}",
                "fps": facts.fps,
                "prompt": prompt,
                "model": call.model_dump(),
            },
            upstream=lineage(storyboard, scene_keyframes),
        )

