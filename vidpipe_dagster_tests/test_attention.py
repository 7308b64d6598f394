"""A failed run leaves its project marked "needs attention" with the failing step and its error."""

from dagster import DagsterEventType, build_run_status_sensor_context

from vidpipe_dagster.attention import attention_cleared, needs_attention
from vidpipe_dagster.definitions import build_defs
from vidpipe_dagster.intake import submit_brief
from vidpipe_dagster.partitions import PROJECT_TAG
from vidpipe_dagster_tests.test_in_process import sample_brief


def test_a_failed_scene_run_is_recorded_for_its_project_until_it_resumes(vidpipe_env, instance):
    defs = build_defs()
    controls = defs.resources["controls"]
    submit_brief(instance, defs.resources["blob_store"].open(), sample_brief(project_id="stuck"))
    defs.resolve_job_def("project_setup").execute_in_process(instance=instance, partition_key="stuck")
    failed = defs.resolve_job_def("scene").execute_in_process(
        instance=instance, partition_key="stuck|002", tags={PROJECT_TAG: "stuck"}, raise_on_error=False
    )
    failure = next(event for event in failed.all_events if event.event_type == DagsterEventType.RUN_FAILURE)

    context = build_run_status_sensor_context(
        sensor_name="needs_attention", dagster_event=failure, dagster_instance=instance, dagster_run=failed.dagster_run,
        resources={"controls": controls},
    ).for_run_failure()
    needs_attention(context)

    attention = controls.attention("stuck")
    assert (attention.step, attention.partition, attention.run_id) == ("scene_keyframes", "stuck|002", failed.run_id)
    assert "materialize scene_clip[stuck|001] first" in attention.error
    assert attention.describe().startswith(f"step scene_keyframes [stuck|002] failed in run {failed.run_id[:8]}: scene 002")
    assert controls.attention("other") is None

    assert not controls.clear_attention("stuck", "stuck|001")  # another partition succeeding changes nothing
    controls.set_paused("stuck", False)
    assert controls.attention("stuck") is None


def test_a_later_success_of_the_failed_partition_clears_the_attention(vidpipe_env, instance):
    defs = build_defs()
    controls = defs.resources["controls"]
    submit_brief(instance, defs.resources["blob_store"].open(), sample_brief(project_id="unstuck", scene_count=1, scene_hints=[]))
    setup = defs.resolve_job_def("project_setup").execute_in_process(instance=instance, partition_key="unstuck")
    controls.record_attention("unstuck", "earlier", "storyboard", "unstuck", "the text model timed out")
    success = next(event for event in setup.all_events if event.event_type == DagsterEventType.RUN_SUCCESS)

    attention_cleared(
        build_run_status_sensor_context(
            sensor_name="attention_cleared", dagster_event=success, dagster_instance=instance, dagster_run=setup.dagster_run,
            resources={"controls": controls},
        )
    )

    assert controls.attention("unstuck") is None


def test_the_steer_job_pauses_resumes_and_skips_from_launchpad_config(vidpipe_env, instance):
    defs = build_defs()
    controls = defs.resources["controls"]
    steer = defs.resolve_job_def("steer_project")

    def launch(**config) -> bool:
        return steer.execute_in_process(instance=instance, run_config={"ops": {"steer": {"config": config}}}, raise_on_error=False).success

    assert launch(project="harbor", action="pause")
    assert controls.states()["harbor"][0] is True
    assert launch(project="harbor", action="skip", scene=2, reason="the gulls look wrong")
    assert controls.skipped("harbor") == {"002": "the gulls look wrong"}
    assert not launch(project="harbor", action="skip", scene=3)  # no reason
    assert not launch(project="Harbor", action="resume")  # not a slug
    assert launch(project="harbor", action="unskip", scene=2)
    assert launch(project="harbor", action="resume")
    assert controls.skipped("harbor") == {} and controls.states()["harbor"][0] is False
