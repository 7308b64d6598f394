"""Starting a project from the UI: the brief as launchpad config, then the sequencer takes over."""

import json

from dagster import AssetKey, build_sensor_context

from vidpipe_dagster.artifacts import load_materialized
from vidpipe_dagster.definitions import build_defs
from vidpipe_dagster.intake import submitted_brief
from vidpipe_dagster.partitions import projects_partitions
from vidpipe_dagster.sensors import scene_sequencer


def sequencer_tick(defs, instance):
    context = build_sensor_context(instance=instance, resources={key: defs.resources[key] for key in ("blob_store", "controls")})
    return scene_sequencer(context)


def test_the_start_job_stores_the_brief_and_the_sequencer_sets_the_project_up(vidpipe_env, instance):
    defs = build_defs()
    config = {"project_id": "kites", "prompt": "two kites over a beach", "scene_count": 2, "scene_hints": ["the first kite rises"], "style": "watercolour"}

    result = defs.resolve_job_def("start_project").execute_in_process(instance=instance, run_config={"ops": {"store_project_brief": {"config": config}}})

    assert result.success
    assert instance.has_dynamic_partition(projects_partitions.name, "kites")
    stored = submitted_brief(defs.resources["blob_store"].open(), "kites").decode()
    assert '"style": "watercolour"' in stored and '"audio": null' in stored
    [setup] = sequencer_tick(defs, instance).run_requests
    assert (setup.job_name, setup.partition_key, setup.asset_selection) == ("project_setup", "kites", None)
    # The same run key every tick: the daemon launches it once.
    assert [r.run_key for r in sequencer_tick(defs, instance).run_requests] == [setup.run_key] == ["kites:setup:g0"]


def test_a_bad_brief_in_the_launchpad_is_refused_naming_the_field_and_stores_nothing(vidpipe_env, instance):
    defs = build_defs()
    result = defs.resolve_job_def("start_project").execute_in_process(
        instance=instance, run_config={"ops": {"store_project_brief": {"config": {"project_id": "My-Film", "prompt": "x"}}}}, raise_on_error=False
    )
    assert not result.success
    failure = next(event for event in result.all_events if event.is_step_failure)
    assert "brief.project_id" in failure.step_failure_data.error.cause.message
    assert instance.get_dynamic_partitions(projects_partitions.name) == []


def test_a_brief_materialized_on_its_page_moves_on_without_being_redone(vidpipe_env, instance):
    defs = build_defs()
    instance.add_dynamic_partitions(projects_partitions.name, ["by-hand"])
    brief_json = '{"project_id": "by-hand", "prompt": "a lighthouse at dusk"}'
    defs.resolve_job_def("project_setup").execute_in_process(
        instance=instance, partition_key="by-hand", asset_selection=[AssetKey("brief")],
        run_config={"ops": {"brief": {"config": {"brief_json": brief_json}}}},
    )
    assert load_materialized(instance, defs.resources["blob_store"].open(), "brief", "by-hand") is not None

    [setup] = sequencer_tick(defs, instance).run_requests

    assert setup.asset_selection == [AssetKey("storyboard"), AssetKey("character_sheets"), AssetKey("location_sheets")]


def test_a_partition_that_is_no_project_id_is_removed_with_the_rule_it_breaks(vidpipe_env, instance):
    defs = build_defs()
    instance.add_dynamic_partitions(projects_partitions.name, ["My-Film", "my_film", "fine-one"])

    assert sequencer_tick(defs, instance).run_requests == []  # fine-one has no brief yet: nothing to start

    assert instance.get_dynamic_partitions(projects_partitions.name) == ["fine-one"]


def test_a_pasted_brief_cannot_reach_a_file_or_another_projects_track(vidpipe_env, instance):
    defs = build_defs()
    instance.add_dynamic_partitions(projects_partitions.name, ["pasted"])
    for audio, says in [("/etc/hostname", "absolute path"), ("submissions/other/audio-0.wav", "submissions/"), ("song.wav", "a relative path needs the brief's folder")]:
        brief_json = json.dumps({"project_id": "pasted", "prompt": "a lighthouse at dusk", "audio": audio})
        result = defs.resolve_job_def("project_setup").execute_in_process(
            instance=instance, partition_key="pasted", asset_selection=[AssetKey("brief")],
            run_config={"ops": {"brief": {"config": {"brief_json": brief_json}}}}, raise_on_error=False,
        )
        assert not result.success
        failure = next(event for event in result.all_events if event.is_step_failure)
        assert says in failure.step_failure_data.error.message, failure.step_failure_data.error.message
        assert load_materialized(instance, defs.resources["blob_store"].open(), "brief", "pasted") is None
