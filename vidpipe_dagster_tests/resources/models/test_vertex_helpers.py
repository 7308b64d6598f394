"""The pure helpers of the `vertex` backend: no server, no SDK client."""

from __future__ import annotations

import email.utils
import io
import random

import pytest
from google.genai import types
from PIL import Image

from vidpipe_dagster.resources.models.vertex_client import (
    SafetyBlocked,
    VertexResponseError,
    gemini_block_reason,
    gemini_image,
    gemini_text,
    imagen_image,
)
from vidpipe_dagster.resources.models.vertex_helpers import (
    SAFE_SUFFIX,
    backoff_delay,
    fit_png,
    nearest_aspect_ratio,
    parse_retry_after,
    redact,
    retry_delay_from_details,
    sanitize_prompt,
    snap_duration,
    video_aspect_ratio,
)




# --- durations -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(0, 4), (3.9, 4), (4, 4), (4.9, 4), (5, 6), (6, 6), (6.5, 6), (7, 8), (8, 8), (30, 8)],
)
def test_snap_duration(seconds, expected):
    assert snap_duration(seconds) == expected


def test_snap_duration_refuses_nan():
    with pytest.raises(ValueError):
        snap_duration(float("nan"))


# --- sanitize_prompt ----------------------------------------------------------------------------


def test_sanitize_prompt_softens_and_strips():
    text = "A Bloody knife fight, the soldier kills a man with a gun. See https://x.example/a or mail bob@example.com @handle"
    result = sanitize_prompt(text)
    lowered = result.lower()
    for word in ("blood", "knife", "kills", "gun", "https", "example.com", "@handle"):
        assert word not in lowered
    assert "Red paint" in result  # capitalisation kept
    assert "tool" in result and "defeats" in result and "prop" in result
    assert result.endswith(SAFE_SUFFIX)


def test_sanitize_prompt_is_idempotent_and_keeps_harmless_text():
    text = "A gentle walk on the beach at golden hour."
    once = sanitize_prompt(text)
    assert once.startswith(text)
    assert sanitize_prompt(once) == once
    assert sanitize_prompt("") == SAFE_SUFFIX
    # whole words only: 'skill' and 'gunnel' are not touched
    assert "skill" in sanitize_prompt("a feat of skill on the gunnel")


# --- retries -----------------------------------------------------------------------------------


def test_parse_retry_after():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 0.5 ") == 0.5
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 7, usegmt=True)
    assert parse_retry_after(date, now=now) == pytest.approx(7, abs=1)


def test_retry_delay_from_details():
    body = {
        "error": {"code": 429, "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2.5s"}]}
    }
    assert retry_delay_from_details(body) == 2.5
    assert retry_delay_from_details({"error": {"message": "x"}}) is None
    assert retry_delay_from_details("text") is None


def test_backoff_delay_grows_with_jitter_and_honours_retry_after():
    rng = random.Random(1)
    delays = [backoff_delay(n, initial=1, maximum=100, rng=rng) for n in (1, 2, 3, 4)]
    for n, delay in enumerate(delays, start=1):
        assert 0.5 * 2 ** (n - 1) <= delay <= 2 ** (n - 1)
    assert backoff_delay(10, initial=1, maximum=5, rng=rng) <= 5
    assert backoff_delay(1, initial=1, maximum=30, retry_after=12) == 12
    assert backoff_delay(1, initial=1, maximum=30, retry_after=120) == 30


# --- images ------------------------------------------------------------------------------------


def test_aspect_ratios():
    assert nearest_aspect_ratio((640, 360)) == "16:9"
    assert nearest_aspect_ratio((360, 640)) == "9:16"
    assert nearest_aspect_ratio((512, 512)) == "1:1"
    assert nearest_aspect_ratio((800, 600)) == "4:3"
    assert video_aspect_ratio((640, 360)) == "16:9" and video_aspect_ratio((360, 640)) == "9:16"


def test_fit_png_crops_and_resizes():
    source = Image.new("RGB", (1024, 1024), (200, 10, 10))
    buffer = io.BytesIO()
    source.save(buffer, format="JPEG")
    png = fit_png(buffer.getvalue(), (640, 360))
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size == (640, 360)
    with pytest.raises(ValueError, match="could not be decoded"):
        fit_png(b"not an image", (64, 64))


def test_redact():
    assert redact("token abcd1234 here", ["abcd1234", None, ""]) == "token *** here"


# --- reading SDK answers -----------------------------------------------------------------------


def response(payload: dict) -> types.GenerateContentResponse:
    return types.GenerateContentResponse.model_validate(payload)


def test_gemini_block_reasons():
    blocked_prompt = response({"prompt_feedback": {"block_reason": "SAFETY", "block_reason_message": "violence"}})
    assert gemini_block_reason(blocked_prompt) == "prompt blocked: SAFETY (violence)"
    blocked_answer = response({"candidates": [{"finish_reason": "PROHIBITED_CONTENT"}]})
    assert gemini_block_reason(blocked_answer) == "answer blocked: PROHIBITED_CONTENT"
    with pytest.raises(SafetyBlocked):
        gemini_text(blocked_answer, model="m", what="w")
    fine = response(
        {
            "candidates": [
                {"finish_reason": "STOP", "content": {"parts": [{"text": "thinking", "thought": True}, {"text": "{}"}]}}
            ]
        }
    )
    assert gemini_block_reason(fine) is None
    assert gemini_text(fine, model="m", what="w") == "{}"


def test_gemini_empty_answers_are_response_errors():
    with pytest.raises(VertexResponseError, match="no candidates"):
        gemini_text(response({}), model="m", what="w")
    with pytest.raises(VertexResponseError, match="no text .*MAX_TOKENS"):
        gemini_text(
            response({"candidates": [{"finish_reason": "MAX_TOKENS", "content": {"parts": []}}]}), model="m", what="w"
        )
    with pytest.raises(VertexResponseError, match="no image .*NO_IMAGE"):
        gemini_image(
            response({"candidates": [{"finish_reason": "NO_IMAGE", "content": {"parts": [{"text": "no"}]}}]}),
            model="m",
            what="w",
        )
    with pytest.raises(SafetyBlocked, match="IMAGE_SAFETY"):
        gemini_image(response({"candidates": [{"finish_reason": "IMAGE_SAFETY"}]}), model="m", what="w")


def test_imagen_filtered_is_a_block():
    filtered = types.GenerateImagesResponse.model_validate(
        {"generated_images": [{"rai_filtered_reason": "person filter"}]}
    )
    with pytest.raises(SafetyBlocked, match="person filter"):
        imagen_image(filtered, model="m", what="w")
    with pytest.raises(SafetyBlocked):
        imagen_image(types.GenerateImagesResponse(generated_images=[]), model="m", what="w")
    ok = types.GenerateImagesResponse.model_validate({"generated_images": [{"image": {"image_bytes": b"png"}}]})
    assert imagen_image(ok, model="m", what="w") == b"png"
