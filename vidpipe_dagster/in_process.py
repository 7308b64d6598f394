"""Running a whole project in this process: setup, each scene in order, then the cut.

This is what `vidpipe demo` and the end-to-end tests do on the embedded instance. Deployments get
the same order from the sequencing sensor instead.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from dagster import DagsterInstance, Definitions

from vidpipe_dagster.artifacts import load_materialized
from vidpipe_dagster.domain import StoredArtifact, Storyboard
from vidpipe_dagster.jobs import final_cut_job, preview_job, project_setup_job, scene_job
from vidpipe_dagster.partitions import PROJECT_TAG, scene_partition_key
from vidpipe_dagster.resources.storage import BlobStore


class RunFailed(RuntimeError):
    pass


def execute_partition(
    defs: Definitions, instance: DagsterInstance, job_name: str, partition_key: str, project: str, log_level: str = "DEBUG"
) -> None:
    """One run of a job for one partition; `log_level` is the console logger's (the event log keeps everything)."""
    result = defs.resolve_job_def(job_name).execute_in_process(
        instance=instance, partition_key=partition_key, tags={PROJECT_TAG: project}, raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
    )
    if not result.success:
        reasons = [failure_reason(event.step_failure_data.error) for event in result.all_events if event.is_step_failure]
        raise RunFailed(f"{job_name}[{partition_key}] failed (run {result.run_id}): {' | '.join(reasons)}")


def failure_reason(error) -> str:
    """The user-facing message of a step failure: Dagster wraps the asset's own exception."""
    while error.cause is not None:
        error = error.cause
    message = error.message.strip()
    # The message starts with the exception's dotted class name, which tells a user nothing.
    prefix, separator, rest = message.partition(": ")
    return rest if separator and error.cls_name and prefix.endswith(error.cls_name) else message


def run_project(
    defs: Definitions,
    instance: DagsterInstance,
    store: BlobStore,
    project: str,
    progress: Callable[[str], None] = lambda _line: None,
    skipped: Collection[str] = (),
    log_level: str = "DEBUG",
    previews: bool = False,
) -> StoredArtifact:
    """Materialize every asset of a submitted project, but the `skipped` scenes (and with
    `previews`, a preview cut after each scene); return the final video's artifact."""
    execute_partition(defs, instance, project_setup_job.name, project, project, log_level)
    storyboard = Storyboard.model_validate(load_materialized(instance, store, "storyboard", project).data)
    progress(f"storyboard '{storyboard.metadata.title}': {len(storyboard.scenes)} scenes, {storyboard.total_duration_s} s")
    for scene in storyboard.scenes:
        if scene.key in skipped:
            progress(f"scene {scene.key}/{len(storyboard.scenes):03d}: skipped")
            continue
        partition = str(scene_partition_key(project, scene.key))
        execute_partition(defs, instance, scene_job.name, partition, project, log_level)
        clip = load_materialized(instance, store, "scene_clip", partition)
        if previews:
            execute_partition(defs, instance, preview_job.name, project, project, log_level)
        progress(f"scene {scene.key}/{len(storyboard.scenes):03d}: clip attempt {clip.attempt}, {clip.facts['duration_s']} s")
    execute_partition(defs, instance, final_cut_job.name, project, project, log_level)
    final = load_materialized(instance, store, "final_video", project)
    progress(f"final cut: {final.facts['duration_s']} s, {final.facts['resolution']}")
    return final
