"""The code location as Dagster and the UI see it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request

import pytest
from dagster import AssetKey, MultiPartitionsDefinition

from vidpipe_dagster.definitions import build_defs
from vidpipe_dagster_tests.webserver import dagster_webserver, embedded_dagster_home, graphql

PIPELINE = ["brief", "storyboard", "character_sheets", "location_sheets", "scene_keyframes", "scene_clip", "preview_video", "final_video"]


@pytest.mark.parametrize("backend", ["local", "vertex"])
def test_loading_the_definitions_leaves_media_sql_and_model_libraries_for_the_steps_that_use_them(tmp_path, backend):
    """The code server, sensors and every run load the definitions; SQLAlchemy, numpy, Pillow,
    PyAV and google-genai add more than a second to that, so they load when a step measures,
    draws, queries or calls a model."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("VIDPIPE_", "DAGSTER_HOME"))}
    env.update(VIDPIPE_HOME=str(tmp_path), VIDPIPE_MODEL_BACKEND=backend)
    load = "import json, sys\nimport vidpipe_dagster.definitions\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", load], env=env, capture_output=True, text=True, timeout=120, check=True)
    heavy = {"sqlalchemy", "numpy", "PIL", "av", "google"} & {name.split(".")[0] for name in json.loads(result.stdout)}
    assert not heavy, sorted(heavy)


def test_the_asset_graph_reads_like_the_pipeline(vidpipe_env):
    graph = build_defs().resolve_asset_graph()
    assert {key.to_user_string() for key in graph.get_all_asset_keys()} == set(PIPELINE)
    parents = {name: {p.to_user_string() for p in graph.get(AssetKey(name)).parent_keys} for name in PIPELINE}
    assert parents["storyboard"] == {"brief"}
    assert parents["scene_keyframes"] == {"storyboard", "character_sheets", "location_sheets", "brief"}
    assert parents["scene_clip"] == {"storyboard", "scene_keyframes", "brief"}
    assert parents["final_video"] == {"brief", "storyboard", "scene_clip"}
    assert parents["preview_video"] == {"brief", "storyboard", "scene_clip"}
    scenes = graph.get(AssetKey("scene_clip")).partitions_def
    assert isinstance(scenes, MultiPartitionsDefinition)
    assert [d.name for d in scenes.partitions_defs] == ["project", "scene"]
    assert graph.get(AssetKey("final_video")).partitions_def.name == "projects"


def test_loading_definitions_touches_no_storage(monkeypatch, vidpipe_env):
    # Unreachable storage and database: loading must not notice, because it does no I/O.
    monkeypatch.setenv("VIDPIPE_STORAGE_URL", "gs://no-such-bucket-anywhere/prefix")
    monkeypatch.setenv("VIDPIPE_DATABASE_URL", "postgresql+psycopg2://nobody:secret@127.0.0.1:1/none")
    defs = build_defs()
    assert defs.resolve_job_def("scene") is not None


def test_unknown_model_backend_is_named_in_the_error(monkeypatch, vidpipe_env):
    monkeypatch.setenv("VIDPIPE_MODEL_BACKEND", "dall-e")
    with pytest.raises(ValueError, match="VIDPIPE_MODEL_BACKEND='dall-e'"):
        build_defs()


def test_the_webserver_serves_the_asset_graph(vidpipe_env, tmp_path):
    home = embedded_dagster_home(tmp_path / "dagster_home")
    with dagster_webserver(home, tmp_path / "webserver.log") as base_url:
        with urllib.request.urlopen(f"{base_url}/server_info", timeout=5) as response:
            info = json.loads(response.read())
        assert info["dagster_webserver_version"] == "1.13.27"
        nodes = graphql(base_url, "{ assetNodes { assetKey { path } groupName } }")["data"]["assetNodes"]
        assert sorted(node["assetKey"]["path"][0] for node in nodes) == sorted(PIPELINE)
