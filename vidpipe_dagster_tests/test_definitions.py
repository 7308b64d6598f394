"""The code location as Dagster and the UI see it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from importlib import resources as package_files
from pathlib import Path

import pytest
from dagster import AssetKey, MultiPartitionsDefinition

from vidpipe_dagster.definitions import build_defs

PIPELINE = ["brief", "storyboard", "character_sheets", "location_sheets", "scene_keyframes", "scene_clip", "final_video"]


def test_the_asset_graph_reads_like_the_pipeline(vidpipe_env):
    graph = build_defs().resolve_asset_graph()
    assert {key.to_user_string() for key in graph.get_all_asset_keys()} == set(PIPELINE)
    parents = {name: {p.to_user_string() for p in graph.get(AssetKey(name)).parent_keys} for name in PIPELINE}
    assert parents["storyboard"] == {"brief"}
    assert parents["scene_keyframes"] == {"storyboard", "character_sheets", "location_sheets"}
    assert parents["scene_clip"] == {"storyboard", "scene_keyframes", "brief"}
    assert parents["final_video"] == {"brief", "storyboard", "scene_clip"}
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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_the_webserver_serves_the_asset_graph(vidpipe_env, tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        package_files.files("vidpipe_dagster").joinpath("deploy/embedded.dagster.yaml").read_text()
    )
    port = _free_port()
    webserver = Path(sys.executable).parent / "dagster-webserver"
    process = subprocess.Popen(
        [str(webserver), "-m", "vidpipe_dagster.definitions", "-h", "127.0.0.1", "-p", str(port)],
        env={**os.environ, "DAGSTER_HOME": str(home)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5) as response:
                    info = json.loads(response.read())
                break
            except OSError:
                assert process.poll() is None, process.stderr.read().decode()[-2000:]
                assert time.monotonic() < deadline, "webserver did not answer /server_info in 120 s"
                time.sleep(0.5)
        assert info["dagster_webserver_version"] == "1.13.27"
        nodes = _graphql(port, "{ assetNodes { assetKey { path } groupName } }")["data"]["assetNodes"]
        assert sorted(node["assetKey"]["path"][0] for node in nodes) == sorted(PIPELINE)
    finally:
        process.terminate()
        process.wait(timeout=30)
