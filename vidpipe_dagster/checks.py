"""Asset checks: is the accepted clip of each scene good enough?"""

from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetCheckSeverity, AssetIn, MetadataValue, asset_check

from vidpipe_dagster.artifacts import split_partition
from vidpipe_dagster.domain import JudgeVerdict, ModelCall, QualityThresholds, StoredArtifact, Storyboard
from vidpipe_dagster.partitions import scenes_partitions
from vidpipe_dagster.quality import assess, clip_measures, measure_frames, stored_statistics
from vidpipe_dagster.resources.storage import BlobStoreResource
from vidpipe_dagster.resources.workspace import WorkspaceResource


@asset_check(
    asset="scene_clip",
    partitions_def=scenes_partitions,
    additional_ins={"scene_keyframes": AssetIn("scene_keyframes"), "storyboard": AssetIn("storyboard")},
    description=(
        "Duration and resolution as planned, no black or frozen stretch, continuity with the previous "
        "scene's last frame, and the judge's grades under the thresholds in force. The measures are those "
        "stored with the attempt, taken again from the stored clip only when they are missing or come "
        "from an older measurer; the grades are those recorded when the attempt was made (a judge "
        "call costs money)."
    ),
)
def clip_quality(
    context: AssetCheckExecutionContext,
    scene_clip: StoredArtifact,
    scene_keyframes: StoredArtifact,
    storyboard: StoredArtifact,
    blob_store: BlobStoreResource,
    workspace: WorkspaceResource,
) -> AssetCheckResult:
    board = Storyboard.model_validate(storyboard.data)
    _, scene_key = split_partition(scene_clip.partition)
    scene = board.scene(scene_key)
    store = blob_store.open()
    recorded = scene_clip.facts["quality"]
    verdict = JudgeVerdict.model_validate({**recorded, "call": ModelCall(model="recorded", seconds=0)})
    thresholds = QualityThresholds.model_validate(recorded["thresholds"])
    size = (scene_keyframes.data["width"], scene_keyframes.data["height"])
    reference = scene_keyframes.objects["start.png"].sha256 if scene.opens_on_previous_frame else None
    statistics, measured = stored_statistics(scene_clip.facts, reference)
    decodes = 0
    if statistics is None:
        with workspace.open(f"check-{scene_clip.partition}") as directory:
            clip = store.get_file(scene_clip.objects["clip.mp4"].key, directory / "clip.mp4")
            start = store.get_file(scene_keyframes.objects["start.png"].key, directory / "start.png") if reference else None
            statistics, _ = measure_frames(clip, start, reference)
        decodes = statistics.decodes
        measured = f"now ({measured})"
    report = assess(verdict, thresholds, clip_measures(statistics, scene, size))
    return AssetCheckResult(
        passed=report.passed,
        # A clip below the bar is only ever accepted on purpose (best of max_attempts, forced, or
        # picked by a person): a warning to look at, not an error that stops the project.
        severity=AssetCheckSeverity.WARN,
        description="; ".join(report.problems) or "meets the quality bar",
        metadata={
            "attempt": MetadataValue.int(scene_clip.attempt),
            "score": MetadataValue.float(report.score),
            "verdict": MetadataValue.text(report.verdict),
            "measures": MetadataValue.json(report.scores()),
            "measured": MetadataValue.text(measured),
            "decodes": MetadataValue.int(decodes),
        },
    )
