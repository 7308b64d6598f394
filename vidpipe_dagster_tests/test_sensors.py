"""The inbox and sequencing sensors, evaluated against a real instance."""

import json
from pathlib import Path

from dagster import DagsterRunStatus, build_sensor_context

from vidpipe_dagster.artifacts import load_materialized
from vidpipe_dagster.definitions import build_defs
from vidpipe_dagster.in_process import execute_partition
from vidpipe_dagster.intake import submit_brief
from vidpipe_dagster.partitions import PROJECT_TAG
from vidpipe_dagster.sensors import inbox_sensor, scene_sequencer


def evaluate(sensor, defs, instance):
    context = build_sensor_context(instance=instance, resources={key: defs.resources[key] for key in ("inbox", "blob_store", "controls")})
    return sensor(context)


def drop(inbox: Path, name: str, content) -> Path:
    inbox.mkdir(parents=True, exist_ok=True)
    path = inbox / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def test_good_briefs_start_projects_and_bad_ones_are_moved_aside_with_a_reason(vidpipe_env, instance):
    defs = build_defs()
    inbox = vidpipe_env / "inbox"
    submit_brief(instance, defs.resources["blob_store"].open(), {"project_id": "taken", "prompt": "first"})
    drop(inbox, "a-good.json", {"project_id": "good-one", "prompt": "a heron at dawn"})
    drop(inbox, "b-not-json.json", "{oops")
    drop(inbox, "c-bad-id.json", {"project_id": "Bad Id", "prompt": "x"})
    drop(inbox, "d-taken.json", {"project_id": "taken", "prompt": "a different brief"})
    drop(inbox, "e-no-prompt.json", {"project_id": "no-prompt"})

    result = evaluate(inbox_sensor, defs, instance)

    assert [(r.run_key, r.partition_key, r.tags[PROJECT_TAG]) for r in result.run_requests] == [("brief:good-one", "good-one", "good-one")]
    assert list(result.dynamic_partitions_requests[0].partition_keys) == ["good-one"]
    assert sorted(p.name for p in inbox.glob("*.json")) == []
    assert [p.name.split(".")[0] for p in (inbox / "accepted").glob("*.json")] == ["a-good"]
    reasons = {p.name.split(".")[0]: p.read_text() for p in (inbox / "rejected").glob("*.reason.txt")}
    assert "not valid JSON" in reasons["b-not-json"]
    assert "brief.project_id" in reasons["c-bad-id"]
    assert "project 'taken' exists already" in reasons["d-taken"]
    assert "brief.prompt" in reasons["e-no-prompt"]
    assert load_materialized(instance, defs.resources["blob_store"].open(), "brief", "taken") is None  # untouched


def test_a_brief_seen_again_after_a_crash_starts_its_project_once(vidpipe_env, instance):
    defs = build_defs()
    brief = {"project_id": "seen-twice", "prompt": "a kite in a storm"}
    drop(vidpipe_env / "inbox", "kite.json", brief)
    first = evaluate(inbox_sensor, defs, instance)
    # As if the daemon died after storing the brief but before moving the file out of the inbox.
    drop(vidpipe_env / "inbox", "kite.json", brief)
    second = evaluate(inbox_sensor, defs, instance)

    assert [r.run_key for r in first.run_requests] == [r.run_key for r in second.run_requests] == ["brief:seen-twice"]
    assert not list((vidpipe_env / "inbox").glob("*.json"))
    assert not (vidpipe_env / "inbox" / "rejected").exists()


def run_requested(defs, instance, request) -> None:
    result = defs.resolve_job_def(request.job_name).execute_in_process(
        instance=instance, partition_key=request.partition_key, tags=request.tags,
        asset_selection=request.asset_selection,
    )
    assert result.success


def drive(defs, instance, limit: int = 20) -> list[tuple[str, str]]:
    """Do what the daemon would: evaluate the sequencer and run what it asks, until it asks nothing."""
    done = []
    for _ in range(limit):
        requests = evaluate(scene_sequencer, defs, instance).run_requests
        if not requests:
            return done
        for request in requests:
            done.append((request.job_name, request.partition_key))
            run_requested(defs, instance, request)
    raise AssertionError(f"the sequencer never settled: {done}")


def test_the_sequencer_runs_scenes_in_order_then_cuts_and_ignores_phantom_cells(vidpipe_env, instance):
    defs = build_defs()
    store = defs.resources["blob_store"].open()
    for project, scenes in (("short", 2), ("longer", 3)):
        submit_brief(instance, store, {"project_id": project, "prompt": "rain on a tin roof", "scene_count": scenes})
        execute_partition(defs, instance, "project_setup", project, project)

    steps = drive(defs, instance)

    # A preview of the scenes so far before each next scene; the cut needs none.
    assert [s for s in steps if "short" in s[1]] == [("scene", "short|001"), ("preview", "short"), ("scene", "short|002"), ("final_cut", "short")]
    assert [s for s in steps if "longer" in s[1]] == [
        ("scene", "longer|001"), ("preview", "longer"), ("scene", "longer|002"), ("preview", "longer"), ("scene", "longer|003"), ("final_cut", "longer"),
    ]
    assert load_materialized(instance, store, "final_video", "short").data["scenes"] == {"001": 1, "002": 1}


def test_regenerating_a_scene_cascades_to_later_scenes_and_a_new_cut(vidpipe_env, instance):
    defs = build_defs()
    store = defs.resources["blob_store"].open()
    submit_brief(instance, store, {"project_id": "cascade", "prompt": "a bell rings", "scene_count": 3})
    execute_partition(defs, instance, "project_setup", "cascade", "cascade")
    drive(defs, instance)

    defs.resolve_job_def("scene").execute_in_process(
        instance=instance, partition_key="cascade|002",
        run_config={"ops": {"scene_clip": {"config": {"prompt_override": "the bell cracks"}}}},
    )
    steps = drive(defs, instance)

    assert steps == [("scene", "cascade|003"), ("final_cut", "cascade")]
    final = load_materialized(instance, store, "final_video", "cascade")
    assert final.data["scenes"] == {"001": 1, "002": 2, "003": 2}


def test_busy_and_stopped_projects_are_left_alone(vidpipe_env, instance):
    defs = build_defs()
    store = defs.resources["blob_store"].open()
    for project in ("busy", "stopped", "free"):
        submit_brief(instance, store, {"project_id": project, "prompt": "waves", "scene_count": 1})
        execute_partition(defs, instance, "project_setup", project, project)
    instance.create_run_for_job(defs.resolve_job_def("final_cut"), tags={PROJECT_TAG: "busy"}, status=DagsterRunStatus.STARTED)
    defs.resources["controls"].set_paused("stopped", True)

    requests = evaluate(scene_sequencer, defs, instance).run_requests

    assert [r.partition_key for r in requests] == ["free|001"]

    defs.resources["controls"].set_paused("stopped", False)
    resumed = {r.partition_key: r.run_key for r in evaluate(scene_sequencer, defs, instance).run_requests}
    # A new generation: the step is asked for again even if its earlier run failed or was stopped.
    assert resumed["stopped|001"].endswith(":g1") and resumed["free|001"].endswith(":g0")
