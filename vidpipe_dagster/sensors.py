"""Sensors: briefs in the inbox become projects, and projects advance scene by scene.

Both sensors keep no state of their own beyond what Dagster stores (run keys, the event log, a
cursor) and our database (paused projects), so any number of daemons can run them and a restart
loses nothing.
"""

import json
import os

from dagster import (
    AssetCheckKey,
    AssetKey,
    DagsterEventType,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from vidpipe_dagster.artifacts import load_materialized, split_partition
from vidpipe_dagster.domain import Brief, InvalidInput, Storyboard, validate_project_id
from vidpipe_dagster.intake import submitted_brief, take_briefs
from vidpipe_dagster.jobs import final_cut_job, preview_job, project_setup_job, scene_job
from vidpipe_dagster.partitions import PROJECT_TAG, projects_partitions, scene_partition_key
from vidpipe_dagster.resources.controls import ProjectControls
from vidpipe_dagster.resources.inbox import InboxResource
from vidpipe_dagster.resources.storage import BlobStoreResource
from vidpipe_dagster.sequencing import NextStep, ProjectProgress, next_step

# How often the daemon evaluates the sensors; a studio that wants briefs picked up faster lowers it.
SENSOR_INTERVAL_SECONDS = int(os.environ.get("VIDPIPE_SENSOR_INTERVAL_SECONDS", "10"))

IN_FLIGHT = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
]


@sensor(
    name="inbox",
    job=project_setup_job,
    minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
    default_status=DefaultSensorStatus.RUNNING,
    description="Turns each brief dropped into the inbox into a project and starts it; rejects bad ones with a reason file.",
)
def inbox_sensor(context: SensorEvaluationContext, inbox: InboxResource, blob_store: BlobStoreResource) -> SensorResult:
    # The cursor counts the tries of briefs kept waiting by a failure of our own storage.
    tick = take_briefs(context.instance, blob_store.open(), inbox.open(), inbox.limits(), json.loads(context.cursor or "{}"), context.log)
    projects = [brief.project_id for brief in tick.accepted]
    return SensorResult(
        # The run key makes a brief start one run however often it is seen.
        run_requests=[RunRequest(run_key=f"brief:{project}", partition_key=project, tags={PROJECT_TAG: project}) for project in projects],
        dynamic_partitions_requests=[projects_partitions.build_add_request(projects)] if projects else [],
        cursor=json.dumps(tick.failures),
    )


def _latest_by_partition(context: SensorEvaluationContext, asset: str) -> dict[str, int]:
    return dict(context.instance.get_latest_storage_id_by_partition(AssetKey(asset), DagsterEventType.ASSET_MATERIALIZATION))


def _scene_ids(latest: dict[str, int], project: str) -> dict[str, int]:
    return {split_partition(partition)[1]: storage_id for partition, storage_id in latest.items() if split_partition(partition)[0] == project}


def _request(project: str, step: NextStep, generation: int) -> RunRequest:
    # Never the same request twice for the same state: a failed step waits for a person (after
    # the instance's run retries) instead of failing again every tick, until `vidpipe resume`.
    run_key = f"{project}:{step.kind}:{step.scene or '-'}:{step.basis}:g{generation}"
    tags = {PROJECT_TAG: project, "vidpipe/reason": step.reason}
    if step.kind in ("final_cut", "preview"):
        job = final_cut_job if step.kind == "final_cut" else preview_job
        return RunRequest(run_key=run_key, job_name=job.name, partition_key=project, tags=tags)
    clip_only = step.kind == "clip"
    return RunRequest(
        run_key=run_key,
        job_name=scene_job.name,
        partition_key=str(scene_partition_key(project, step.scene)),
        tags=tags,
        asset_selection=[AssetKey("scene_clip")] if clip_only else None,
        asset_check_keys=[AssetCheckKey(AssetKey("scene_clip"), "clip_quality")] if clip_only else None,
    )


SETUP_AFTER_BRIEF = ("storyboard", "character_sheets", "location_sheets")


def _setup_request(project: str, brief_materialized: bool, store, generation: int) -> RunRequest | None:
    """A project whose brief exists (stored by the start job or the CLI, or materialized on its
    asset page) and which has no storyboard yet is set up: once per generation."""
    if not brief_materialized:
        try:
            submitted_brief(store, project)
        except InvalidInput:
            return None  # a partition with no brief yet: a person is still adding it
    return RunRequest(
        run_key=f"{project}:setup:g{generation}",
        job_name=project_setup_job.name,
        partition_key=project,
        tags={PROJECT_TAG: project, "vidpipe/reason": "its brief exists"},
        # A brief materialized with launchpad config is not in storage: keep it, make the rest.
        asset_selection=[AssetKey(name) for name in SETUP_AFTER_BRIEF] if brief_materialized else None,
    )


@sensor(
    name="scene_sequencer",
    jobs=[project_setup_job, scene_job, preview_job, final_cut_job],
    minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "Sets up each project whose brief exists, requests its next scene once the one before it is "
        "accepted (with a preview cut in between), regenerates scenes made stale by a regeneration "
        "(per the brief's policy), and recuts when a scene changed. Removes partitions that are no project id."
    ),
)
def scene_sequencer(context: SensorEvaluationContext, blob_store: BlobStoreResource, controls: ProjectControls) -> SensorResult:
    instance = context.instance
    busy = {record.dagster_run.tags.get(PROJECT_TAG) for record in instance.get_run_records(RunsFilter(statuses=IN_FLIGHT))}
    controls_by_project = controls.states()
    latest = {asset: _latest_by_partition(context, asset) for asset in ("storyboard", "character_sheets", "location_sheets", "scene_keyframes", "scene_clip", "preview_video", "final_video")}
    store = blob_store.open()
    requests = []
    briefs = _latest_by_partition(context, "brief")
    for project in instance.get_dynamic_partitions(projects_partitions.name):
        try:
            validate_project_id(project)
        except InvalidInput as exc:
            # A partition added by hand (the UI's "Add a partition" accepts any name) that no
            # project can have: said once, in this sensor's log, and removed.
            instance.delete_dynamic_partition(projects_partitions.name, project)
            context.log.warning(f"removed the partition {project!r} from {projects_partitions.name}: {exc}")
            continue
        paused, generation = controls_by_project.get(project, (False, 0))
        if paused or project in busy:
            continue
        if project not in latest["storyboard"]:
            setup = _setup_request(project, project in briefs, store, generation)
            if setup is not None:
                context.log.info(f"project {project}: setup (its brief exists)")
                requests.append(setup)
            continue
        keyframes, clips = _scene_ids(latest["scene_keyframes"], project), _scene_ids(latest["scene_clip"], project)
        final = latest["final_video"].get(project)
        references = max(latest["character_sheets"].get(project, 0), latest["location_sheets"].get(project, 0))
        newest = max([latest["storyboard"][project], references, *keyframes.values(), *clips.values()])
        if final is not None and final > newest:
            continue  # cut after everything it is made of: nothing to read, nothing to do
        board = Storyboard.model_validate(load_materialized(instance, store, "storyboard", project).data)
        brief = Brief.model_validate(load_materialized(instance, store, "brief", project).data)
        step = next_step(
            ProjectProgress(
                scene_keys=board.scene_keys,
                storyboard=latest["storyboard"][project],
                references=references,
                keyframes=keyframes,
                clips=clips,
                final=final,
                regenerate_later_scenes=brief.regenerate_later_scenes,
                skipped=frozenset(controls.skipped(project)),
                wants_preview=True,
                preview=latest["preview_video"].get(project),
            )
        )
        if step is not None:
            context.log.info(f"project {project}: {step.kind} {step.scene or ''} ({step.reason})")
            requests.append(_request(project, step, generation))
    return SensorResult(run_requests=requests)
