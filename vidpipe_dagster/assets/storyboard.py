from pathlib import Path
from typing import Any

from dagster import AssetExecutionContext, MetadataValue, ResourceParam, asset

from vidpipe_dagster.artifacts import PendingArtifact
from vidpipe_dagster.assets.common import TRANSIENT_RETRY, fetch_audio, lineage, scratch_step
from vidpipe_dagster.creative.crew.wardrobe import traits
from vidpipe_dagster.creative.music import music_for_scenes
from vidpipe_dagster.creative.versions import prompt_version
from vidpipe_dagster.domain import Brief, InvalidInput, MusicCue, StoredArtifact, Storyboard
from vidpipe_dagster.log_context import get_logger
from vidpipe_dagster.media.ffmpeg import MediaError
from vidpipe_dagster.paid_path import paid_models
from vidpipe_dagster.partitions import projects_partitions, register_scene_numbers
from vidpipe_dagster.resources.models.protocols import TextModel
from vidpipe_dagster.resources.paid_calls import PaidCalls
from vidpipe_dagster.resources.storage import BlobStore, BlobStoreResource
from vidpipe_dagster.resources.workspace import WorkspaceResource
from vidpipe_dagster.review.storyboard_table import storyboard_markdown
from vidpipe_dagster.timing import durations_for_audio

log = get_logger(__name__)


def audio_timing(
    request: Brief, text_model: TextModel, store: BlobStore, directory: Path
) -> tuple[list[int], list[MusicCue], dict[str, Any]]:
    """Scene lengths cut at the phrases of the brief's audio track, the music under each scene, and
    the facts behind them."""
    from vidpipe_dagster.media.audio import audio_duration

    track = fetch_audio(store, request, directory)
    try:
        duration = audio_duration(track)
    except MediaError as exc:
        raise InvalidInput(f"brief.audio ({request.audio}) is not a readable audio track: {exc}") from None
    phrases, call = text_model.audio_phrases(track, duration)
    boundaries = [phrase.start_s for phrase in phrases if phrase.start_s > 0]
    durations = durations_for_audio(duration, boundaries)
    log.info("audio track %.2f s, phrases start at %s s: scenes of %s s", duration, boundaries, durations)
    return durations, music_for_scenes(phrases, durations), {
        "audio_duration_s": round(duration, 3),
        "phrase_boundaries_s": [round(start, 2) for start in boundaries],
        "phrases": [f"{p.start_s:.2f} s {p.section}: {p.mood}, {p.intensity} intensity, {p.tempo} tempo" for p in phrases],
        "audio_model": call.model_dump(),
    }


def vision_markdown(board: Storyboard) -> str:
    """The director's vision as a director reads it: logline, look, arc, cast, places and rules."""
    vision = board.vision
    lines = [f"**{board.metadata.title}**: {board.metadata.logline}", "", f"Style: {vision.visual_style or board.metadata.style}"]
    if vision.palette:
        lines.append(f"Palette: {', '.join(vision.palette)}")
    if vision.arc:
        lines.append(f"Arc: {vision.arc.beginning} → {vision.arc.middle} → {vision.arc.end}")
    lines += ["", "| character | fixed traits |", "|---|---|"]
    lines += [f"| {c.name} | {traits(c).split(': ', 1)[1]} |" for c in board.characters]
    lines += ["", "| location | time, weather | light sources | key elements |", "|---|---|---|---|"]
    lines += [
        f"| {loc.name} | {loc.time_of_day}, {loc.weather} | {', '.join(loc.light_sources)} | {', '.join(loc.key_elements)} |"
        for loc in board.locations
    ]
    lines += ["", "| scene | opens | place, time | light | changes |", "|---|---|---|---|---|"]
    lines += [
        f"| {s.number} | {s.transition_in} | {board.location(s.location).name}, {s.time_of_day} | {s.lighting} | "
        f"{'; '.join(f'{c.subject} {c.aspect}: {c.value}' for c in s.changes)} |"
        for s in board.scenes
    ]
    lines += ["", "Rules in force from scene 1:"] + [f"{i}. {rule.text} [{rule.provenance}]" for i, rule in enumerate(board.rules, start=1)]
    return "\n".join(lines)


@asset(
    partitions_def=projects_partitions,
    group_name="project",
    pool="text_model",
    kinds={"json"},
    retry_policy=TRANSIENT_RETRY,
    code_version=prompt_version("storyboard"),
)
def storyboard(
    context: AssetExecutionContext,
    brief: StoredArtifact,
    text_model: ResourceParam[TextModel],
    blob_store: BlobStoreResource,
    workspace: WorkspaceResource,
    paid_calls: PaidCalls,
) -> PendingArtifact:
    """The director's vision (logline, style, palette, arc, every character's fixed traits, every
    location's time, weather and light), then the scenes on it (4, 6 or 8 s each, each opening as a
    cut or continuous), and the rules in force. With an audio track, the number and lengths of the
    scenes come from the track's phrases, not brief.scene_count."""
    (text_model,) = paid_models(context, paid_calls, text_model)
    with scratch_step(context, workspace) as directory:
        request = Brief.model_validate(brief.data)
        scene_durations, music, audio_facts = (
            audio_timing(request, text_model, blob_store.open(), directory) if request.audio else (None, None, {})
        )
        board, call = text_model.write_storyboard(request, scene_durations, music)
        # The scene dimension grows only as far as the longest storyboard needs.
        register_scene_numbers(context.instance, len(board.scenes))
        context.add_output_metadata({"vision": MetadataValue.md(vision_markdown(board))})
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
                "cuts": [scene.number for scene in board.scenes if scene.transition_in == "cut"],
                "character_count": len(board.characters),
                "location_count": len(board.locations),
                "rule_count": len(board.rules),
                "model": call.model_dump(),
                **audio_facts,
            },
            upstream=lineage(brief),
        )
