"""The preview cut: the scenes done so far, watchable while the rest render, never taken for the cut."""

from dagster import AssetKey, AssetRecordsFilter

from vidpipe_dagster.artifacts import load_materialized
from vidpipe_dagster.assets.preview import scenes_done
from vidpipe_dagster.definitions import build_defs
from vidpipe_dagster.in_process import run_project
from vidpipe_dagster.intake import submit_brief
from vidpipe_dagster.media.probe import probe
from vidpipe_dagster.review.server import latest_cut
from vidpipe_dagster_tests.test_in_process import sample_brief


def test_scenes_done_is_the_kept_prefix_with_clips():
    keys = ["001", "002", "003", "004"]
    assert scenes_done(keys, set(), {"001", "002", "004"}) == ["001", "002"]
    assert scenes_done(keys, {"002"}, {"001", "003"}) == ["001", "003"]
    assert scenes_done(keys, set(), {"002"}) == []


def test_a_preview_follows_each_scene_and_the_cut_never_reads_it(vidpipe_env, instance, tmp_path):
    defs = build_defs()
    store = defs.resources["blob_store"].open()
    submit_brief(instance, store, sample_brief(project_id="watch-it", scene_count=2, scene_hints=[]))

    final = run_project(defs, instance, store, "watch-it", previews=True)

    previews = instance.fetch_materializations(AssetRecordsFilter(asset_key=AssetKey("preview_video"), asset_partitions=["watch-it"]), limit=10).records
    assert [r.asset_materialization.metadata["scenes_done"].value for r in reversed(previews)] == [1, 2]
    preview = load_materialized(instance, store, "preview_video", "watch-it")
    assert preview.facts["preview"] is True
    assert preview.objects["preview.mp4"].key == "projects/watch-it/preview/attempt-002.mp4"
    assert probe(store.get_file(preview.objects["preview.mp4"].key, tmp_path / "p.mp4")).duration_s == final.facts["duration_s"]
    assert "preview, 2 of 2 scenes" in store.get_bytes(preview.objects["review.html"].key).decode()
    assert not any(label.startswith("preview_video") for label in final.upstream)
    assert latest_cut(defs.resources["ledger"], store, "watch-it").asset == "final_video"
