"""The Dagster UI in a real browser: Playwright driving Debian's Chromium (`.ci/run` installs it)
against dagster-webserver on an embedded instance where a two-scene project has run.

The screenshots land in the test's tmp_path; with VIDPIPE_SAVE_SCREENSHOTS=DIR they are also
copied to DIR once the test passes. The README's pictures come from
`VIDPIPE_SAVE_SCREENSHOTS=docs .venv/bin/pytest vidpipe_dagster_tests/test_ui.py`."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from importlib import resources as package_files
from pathlib import Path

import pytest
from dagster import DagsterInstance

from vidpipe_dagster.definitions import build_defs
from vidpipe_dagster.in_process import run_project
from vidpipe_dagster.intake import submit_brief
from vidpipe_dagster_tests.test_definitions import PIPELINE
from vidpipe_dagster_tests.webserver import dagster_webserver, embedded_dagster_home, graphql

CHROMIUM = Path("/usr/bin/chromium")
# Headless as root. The network here is closed: without the background flags Chromium keeps
# trying to reach Google's services.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Wide enough that the fitted graph stays above the zoom (0.6) below which Dagster draws bare names.
VIEWPORT = {"width": 1680, "height": 1050}
PROJECT = "lighthouse-demo"
SCENES = 2

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM}: install Debian's chromium package (.ci/run does)"
)


@pytest.fixture
def served_project(vidpipe_env, tmp_path, monkeypatch) -> Iterator[str]:
    """The sample brief cut to two scenes, run in this process on an embedded DAGSTER_HOME; then
    dagster-webserver on that home. Yields the webserver's base URL."""
    home = embedded_dagster_home(tmp_path / "dagster_home")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    brief = json.loads(package_files.files("vidpipe_dagster").joinpath("samples/lighthouse.json").read_text())
    brief.update(project_id=PROJECT, scene_count=SCENES, scene_hints=brief["scene_hints"][:SCENES])
    defs = build_defs()
    store = defs.resources["blob_store"].open()
    with DagsterInstance.from_config(str(home)) as instance:
        submit_brief(instance, store, brief)
        run_project(defs, instance, store, PROJECT)
    with dagster_webserver(home, tmp_path / "webserver.log") as base_url:
        # A new instance greets a loopback visitor with a community sign-up dialog once; this is
        # what its Skip button does.
        assert graphql(base_url, "mutation { setNuxSeen }")["data"]["setNuxSeen"] is True
        yield base_url


@pytest.fixture
def page(served_project):
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is in the test extra: pip install -e '.[test]'")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            # Twice the pixels, so that the README's pictures stay sharp when scaled down.
            context = browser.new_context(viewport=VIEWPORT, device_scale_factor=2, base_url=served_project)
            context.set_default_timeout(30_000)
            sync_api.expect.set_options(timeout=30_000)
            yield context.new_page()
        finally:
            browser.close()


def settle(page, locator, polls: int = 50) -> None:
    """Wait until the element's transform (the graph's pan and zoom) stops changing."""
    previous = None
    for _ in range(polls):
        current = locator.evaluate("element => getComputedStyle(element).transform")
        if current == previous:
            return
        previous = current
        page.wait_for_timeout(200)
    raise AssertionError(f"the graph kept moving: {current}")


def test_the_ui_shows_the_pipeline_and_the_project_that_ran(page, tmp_path):
    from playwright.sync_api import expect

    shots = []

    page.goto("/asset-groups")
    expect(page.get_by_text("Global asset lineage")).to_be_visible()
    # Room for the graph: the main navigation and the asset tree folded away, both groups open.
    page.get_by_text("Hide navigation", exact=True).click()
    page.get_by_role("button", name="panel_show_right", exact=True).click()
    graph = page.locator("svg:has(foreignObject)")
    expect(graph.get_by_text("scenes", exact=True)).to_be_visible()
    page.keyboard.press("Alt+KeyE")  # "Expand all groups"
    page.wait_for_url("**expanded=**")
    for name in PIPELINE:
        expect(graph.get_by_text(name, exact=True)).to_be_visible()
    settle(page, page.locator("div:has(> svg:has(foreignObject))"))
    shots.append(page.screenshot(path=tmp_path / "asset-graph.png"))
    # Nodes drawn in full (not zoomed out to bare names), each showing its materialized partitions.
    expect(graph.get_by_text(f"{SCENES} partitions", exact=True)).to_have_count(2)  # scene_keyframes, scene_clip
    expect(graph.get_by_text("1 partition", exact=True)).to_have_count(len(PIPELINE) - 2)

    page.goto(f"/assets/scene_clip?view=partitions&partition={PROJECT}%7C{SCENES:03d}")
    expect(page.get_by_text(f"{PROJECT}|{SCENES:03d}", exact=True).first).to_be_visible()
    expect(page.get_by_text(f"Materialized ({SCENES})", exact=True)).to_be_visible()
    expect(page.get_by_text("quality_flag", exact=True)).to_be_visible()
    shots.append(page.screenshot(path=tmp_path / "scene-partitions.png"))

    assert all(shots)
    if os.environ.get("VIDPIPE_SAVE_SCREENSHOTS"):
        folder = Path(os.environ["VIDPIPE_SAVE_SCREENSHOTS"])
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("asset-graph.png", "scene-partitions.png"):
            shutil.copyfile(tmp_path / name, folder / name)
