"""The review page as text: what a reviewer reads, with every piece of user text escaped."""

from vidpipe_dagster.review.page import AttemptReview, FilmReview, SceneReview, review_page, scene_starts

HOSTILE = '<script>alert("x")</script>'


def film(**changes) -> FilmReview:
    scenes = [
        SceneReview(
            key="001", description=f"the keeper {HOSTILE}", duration_s=6, start_s=0.0, score=0.91,
            attempts=[
                AttemptReview(attempt=1, status="rejected", accepted=False, grades={"score": 0.4, "passed": False}, issues=["frozen <frames>"], prompt="first"),
                AttemptReview(attempt=2, status="accepted", accepted=True, grades={"score": 0.91, "faces": {"ada": 0.8}}, prompt=f"second {HOSTILE}"),
            ],
        ),
        SceneReview(key="002", description="the dog", duration_s=4, skipped="gulls & dogs"),
        SceneReview(key="003", description="the boat", duration_s=8, start_s=6.0),
    ]
    return FilmReview(project="harbor", title=f"Harbor {HOSTILE}", kind="final cut", duration_s=14, scenes=scenes, **changes)


def test_user_text_is_escaped_everywhere():
    page = review_page(film(attention=f"step scene_clip failed: {HOSTILE}"))
    assert HOSTILE not in page
    assert page.count("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;") == 6  # <title>, heading, description (text, tooltip), prompt, attention
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;</p>" in page  # the attention banner
    assert "frozen &lt;frames&gt;" in page and "skipped: gulls &amp; dogs" in page


def test_the_timeline_holds_the_scenes_in_the_cut_and_the_details_hold_every_scene():
    page = review_page(film())
    assert page.count('class="scene"') == 2
    assert 'data-scene="003" data-start="6.0"' in page
    assert page.count('class="detail"') == 3
    assert page.count('class="attempt accepted"') == 1
    assert '<dt>faces</dt><dd>{&quot;ada&quot;: 0.8}</dd>' in page  # richer grades are shown as given
    assert "http://" not in page and "https://" not in page


def test_scene_starts_leave_out_scenes_not_in_the_cut():
    assert scene_starts([6.0, None, 8.0, 4.0]) == [0.0, None, 6.0, 14.0]
