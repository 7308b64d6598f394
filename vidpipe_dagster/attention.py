""""Needs attention": when a run of a project fails, the failing step and its error are kept per
project (until the project resumes, or a later run of the same partition succeeds), so `vidpipe
status` and the review page can say what stopped it."""

from dagster import DagsterRunStatus, DefaultSensorStatus, RunFailureSensorContext, RunStatusSensorContext, run_failure_sensor, run_status_sensor

from vidpipe_dagster.in_process import failure_reason
from vidpipe_dagster.jobs import PIPELINE_JOBS
from vidpipe_dagster.partitions import project_of_run
from vidpipe_dagster.resources.controls import ProjectControls
from vidpipe_dagster.sensors import SENSOR_INTERVAL_SECONDS


@run_failure_sensor(
    name="needs_attention",
    monitored_jobs=PIPELINE_JOBS,
    minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
    default_status=DefaultSensorStatus.RUNNING,
    description="Records, per project, the step that failed and its error: shown by `vidpipe status` and the review page.",
)
def needs_attention(context: RunFailureSensorContext, controls: ProjectControls) -> None:
    project = project_of_run(context.dagster_run.tags)
    if project is None:
        return
    failures = context.get_step_failure_events()
    if failures:
        step, error = failures[0].step_key or "(run)", failure_reason(failures[0].step_failure_data.error)
    else:  # the run failed outside any step (its worker died, say)
        step, error = "(run)", context.failure_event.message or "the run failed"
    partition = context.dagster_run.tags.get("dagster/partition", project)
    controls.record_attention(project, context.dagster_run.run_id, step, partition, error)
    context.log.warning(f"project {project} needs attention: {step} [{partition}]: {error}")


@run_status_sensor(
    name="attention_cleared",
    run_status=DagsterRunStatus.SUCCESS,
    monitored_jobs=PIPELINE_JOBS,
    minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
    default_status=DefaultSensorStatus.RUNNING,
    description="Clears a project's \"needs attention\" once a run of the partition that failed succeeds.",
)
def attention_cleared(context: RunStatusSensorContext, controls: ProjectControls) -> None:
    project = project_of_run(context.dagster_run.tags)
    if project is not None and controls.clear_attention(project, context.dagster_run.tags.get("dagster/partition", project)):
        context.log.info(f"project {project}: no longer needs attention")
