"""Starting a project from the browser, on a real deployment (webserver, daemon with its sensors,
Postgres): the brief typed into the `start_project` launchpad, then nothing but waiting until the
final video exists; then a regeneration with a new prompt gives a different clip."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from dagster import DagsterInstance

from vidpipe_dagster.artifacts import load_materialized
from vidpipe_dagster.partitions import PROJECT_TAG
from vidpipe_dagster.resources.storage import BlobStoreResource
from vidpipe_dagster_tests.dagster_stack import LOCATION, DagsterStack, wait_for
from vidpipe_dagster_tests.test_ui import CHROMIUM, CHROMIUM_ARGS

PROJECT = "kites-at-dusk"
BRIEF_YAML = f"""ops:
  store_project_brief:
    config:
      project_id: {PROJECT}
      prompt: two kites over a beach at dusk
      scene_count: 2
      style: watercolour
"""
SCENE_PARTITION = f"{PROJECT}|002"
REGENERATE_YAML = """ops:
  scene_clip:
    config:
      prompt_override: the second kite tumbles into the sea
"""

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM}")


@pytest.fixture
def stack(deployment: dict[str, str], tmp_path: Path):
    """Webserver and daemon with the scene sequencer running, ticking every 2 s."""
    environment = {**deployment, "VIDPIPE_LEASE_TTL_SECONDS": "10", "VIDPIPE_SENSOR_INTERVAL_SECONDS": "2"}
    with DagsterStack(environment, tmp_path / "stack-logs") as running:
        running.graphql("mutation { setNuxSeen }")
        yield running


def test_a_project_started_in_the_launchpad_reaches_its_final_video_and_a_regeneration_changes_a_clip(stack, deployment, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    base = f"http://127.0.0.1:{stack.port}"
    steps = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1680, "height": 1050})
            page.set_default_timeout(60_000)
            page.goto(f"{base}/locations/{LOCATION}/jobs/start_project/playground")
            steps.append("open the start_project job's launchpad")
            editor = page.locator(".CodeMirror").first
            editor.click()
            page.keyboard.press("Control+A")
            page.keyboard.insert_text(BRIEF_YAML)
            steps.append("type the brief (its fields, the project id once)")
            page.get_by_role("button", name="Launch Run").click()
            steps.append("launch")
            page.wait_for_url("**/runs/**")

            with DagsterInstance.from_config(deployment["DAGSTER_HOME"]) as instance:
                store = BlobStoreResource(url=deployment["VIDPIPE_STORAGE_URL"]).open()
                final = wait_for(lambda: load_materialized(instance, store, "final_video", PROJECT), 900, "the final video")
                assert final.facts["scene_count"] == 2

                page.goto(f"{base}/assets/final_video?view=partitions&partition={PROJECT}")
                sync_api.expect(page.get_by_text("review/uri", exact=True).last).to_be_visible()  # the metadata row (the first is in review_page's text)
                steps.append("open final_video: the cut, its contact sheet and review page")
                page.screenshot(path=tmp_path / "started-from-the-ui.png")

                before = load_materialized(instance, store, "scene_clip", SCENE_PARTITION)
                page.goto(f"{base}/locations/{LOCATION}/jobs/scene/playground")
                steps.append("open the scene job's launchpad")
                partition_picker = page.get_by_placeholder("Partition")
                partition_picker.click()
                partition_picker.fill(SCENE_PARTITION)
                page.get_by_role("menuitem", name=SCENE_PARTITION, exact=True).click()
                steps.append(f"pick the partition {SCENE_PARTITION}")
                # Picking a partition regenerates the config (and the run's partition tags): wait for it before typing.
                sync_api.expect(partition_picker).to_have_value(SCENE_PARTITION)
                sync_api.expect(page.get_by_text("Generating configuration...")).to_be_hidden()
                sync_api.expect(editor).to_contain_text("scene_clip")
                editor.click()
                page.keyboard.press("Control+A")
                page.keyboard.insert_text(REGENERATE_YAML)
                steps.append("type the new prompt")
                page.get_by_role("button", name="Launch Run").click()
                steps.append("launch")
                page.wait_for_url("**/runs/**")
                regeneration = instance.get_run_by_id(page.url.split("/runs/")[1].split("?")[0])
                assert regeneration.tags[PROJECT_TAG] == PROJECT  # derived from the partition tags the launchpad set
                after = wait_for(
                    lambda: (clip := load_materialized(instance, store, "scene_clip", SCENE_PARTITION)).attempt > before.attempt and clip,
                    600, "the regenerated clip",
                )
                assert after.objects["clip.mp4"].sha256 != before.objects["clip.mp4"].sha256
                assert after.facts["prompt"] != before.facts["prompt"]
                recut = wait_for(lambda: (cut := load_materialized(instance, store, "final_video", PROJECT)).attempt > final.attempt and cut, 600, "the recut")
                assert recut.data["scenes"]["002"] == after.attempt
        finally:
            browser.close()
    assert len(steps) == 8, steps
    if os.environ.get("VIDPIPE_SAVE_SCREENSHOTS"):
        shutil.copyfile(tmp_path / "started-from-the-ui.png", Path(os.environ["VIDPIPE_SAVE_SCREENSHOTS"]) / "started-from-the-ui.png")
