"""The review page of the demo's film in a real browser: Playwright driving Debian's Chromium
against `vidpipe review`'s server on 127.0.0.1.

With VIDPIPE_SAVE_SCREENSHOTS=DIR the page's screenshot is also copied to DIR (the README's picture
comes from `VIDPIPE_SAVE_SCREENSHOTS=docs`)."""

from __future__ import annotations

import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from PIL import Image

from vidpipe_dagster.definitions import build_defs
from vidpipe_dagster.domain import StoredArtifact
from vidpipe_dagster.in_process import run_project
from vidpipe_dagster.intake import submit_brief
from vidpipe_dagster.media.ffmpeg import render_clip
from vidpipe_dagster.resources.gcs import GcsBlobStore
from vidpipe_dagster.review.page import FilmReview, review_page
from vidpipe_dagster.review.server import byte_range, latest_cut, review_server
from vidpipe_dagster_tests.test_in_process import sample_brief
from vidpipe_dagster_tests.test_ui import CHROMIUM, CHROMIUM_ARGS

PROJECT = "lighthouse"


def test_byte_ranges_a_browser_asks_for():
    assert byte_range(None, 100) is None
    assert byte_range("bytes=0-", 100) == (0, 99)
    assert byte_range("bytes=10-19", 100) == (10, 19)
    assert byte_range("bytes=-10", 100) == (90, 99)
    assert byte_range("bytes=50-500", 100) == (50, 99)
    with pytest.raises(ValueError):
        byte_range("bytes=100-", 100)


@pytest.fixture
def demo_film(vidpipe_env, instance):
    """The demo's film (the bundled sample brief, four scenes), made in this process."""
    defs = build_defs()
    store = defs.resources["blob_store"].open()
    submit_brief(instance, store, sample_brief(project_id=PROJECT))
    final = run_project(defs, instance, store, PROJECT)
    return defs, store, final


def test_a_cut_in_a_gcs_bucket_is_streamed_through_the_local_server(gcs_bucket, tmp_path):
    store = GcsBlobStore(gcs_bucket, "objects")
    for name, colour in (("start", "coral"), ("end", "navy")):
        Image.new("RGB", (64, 36), colour).save(tmp_path / f"{name}.png")
    render_clip(tmp_path / "start.png", tmp_path / "end.png", tmp_path / "cut.mp4", duration_s=1, size=(64, 36))
    (tmp_path / "page.html").write_text(review_page(FilmReview(project="harbor", title="Harbor", kind="final cut", duration_s=1.0, scenes=[])))
    cut = StoredArtifact(
        asset="final_video", partition="harbor", attempt=1,
        objects={
            "final.mp4": store.put_file("projects/harbor/final/attempt-001.mp4", tmp_path / "cut.mp4"),
            "review.html": store.put_file("projects/harbor/final/attempt-001-review.html", tmp_path / "page.html"),
        },
    )
    with review_server(store, cut, attention=lambda: None) as url:
        assert url.startswith("http://127.0.0.1:") and url.endswith("/projects/harbor/final/attempt-001-review.html")
        assert "<title>Harbor (harbor): final cut</title>" in urllib.request.urlopen(url).read().decode()
        video = urllib.request.urlopen(urllib.request.Request(url.replace("-review.html", ".mp4"), headers={"Range": "bytes=10-"}))
        assert video.status == 206 and video.read() == (tmp_path / "cut.mp4").read_bytes()[10:]


def test_the_server_serves_only_the_cut_and_its_page_with_ranges(demo_film):
    defs, store, final = demo_film
    cut = latest_cut(defs.resources["ledger"], store, PROJECT)
    assert cut.attempt == final.attempt
    with review_server(store, cut, attention=lambda: "step scene_clip failed: <b>boom</b>") as url:
        page = urllib.request.urlopen(url).read().decode()
        assert "Needs attention:</b> step scene_clip failed: &lt;b&gt;boom&lt;/b&gt;" in page
        video = url.replace("-review.html", ".mp4")
        ranged = urllib.request.urlopen(urllib.request.Request(video, headers={"Range": "bytes=0-99"}))
        assert ranged.status == 206 and len(ranged.read()) == 100
        assert ranged.headers["Content-Range"] == f"bytes 0-99/{final.objects['final.mp4'].size}"
        manifest = url.rsplit("/", 1)[0] + f"/attempt-{final.attempt:03d}.json"
        with pytest.raises(urllib.error.HTTPError, match="404"):
            urllib.request.urlopen(manifest)


@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM}")
def test_the_review_page_plays_the_film_and_seeks_to_a_scene(demo_film, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    defs, store, final = demo_film
    requests: list[str] = []
    with review_server(store, latest_cut(defs.resources["ledger"], store, PROJECT), attention=lambda: None) as url:
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 900}, device_scale_factor=2)
                page.on("request", lambda request: requests.append(request.url))
                page.goto(url)
                sync_api.expect(page.locator("#timeline .scene")).to_have_count(4)

                page.evaluate("() => { const v = document.getElementById('film'); v.muted = true; return v.play(); }")
                page.wait_for_function("() => document.getElementById('film').currentTime > 0.5", timeout=20_000)
                assert page.evaluate("() => document.getElementById('film').duration") == pytest.approx(final.facts["duration_s"], abs=0.2)

                scene_three = page.locator('#timeline .scene[data-scene="003"]')
                start = float(scene_three.get_attribute("data-start"))
                durations = page.eval_on_selector_all("#scenes .detail", "cards => cards.map(c => c.querySelector('small').textContent)")
                end = start + float(durations[2].split()[0])
                page.evaluate("() => document.getElementById('film').pause()")
                scene_three.click()
                page.wait_for_function(f"() => {{ const t = document.getElementById('film').currentTime; return t >= {start} && t < {end}; }}")
                sync_api.expect(scene_three).to_have_class("scene playing")

                for card in page.locator("#scenes .detail").all():
                    accepted = card.locator(".attempt.accepted")
                    sync_api.expect(accepted).to_have_count(1)
                    sync_api.expect(accepted.locator(".badge")).to_have_text("accepted")
                    sync_api.expect(accepted.locator("dt").get_by_text("score", exact=True)).to_have_count(1)
                    sync_api.expect(accepted.locator("dt").get_by_text("continuity_ssim", exact=True)).to_have_count(1)
                page.screenshot(path=tmp_path / "review-page.png", full_page=True)
            finally:
                browser.close()
    outside = [address for address in requests if not address.startswith(("http://127.0.0.1:", "data:"))]
    assert requests and not outside, outside
    if os.environ.get("VIDPIPE_SAVE_SCREENSHOTS"):
        folder = Path(os.environ["VIDPIPE_SAVE_SCREENSHOTS"])
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tmp_path / "review-page.png", folder / "review-page.png")
