"""The pricing table and its arithmetic: lookups, overrides, estimates, settlements, micro-dollars."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from vidpipe_dagster.domain import InvalidInput
from vidpipe_dagster.pricing import (
    PricingTable,
    UnpricedModel,
    actual_quote,
    estimate_quote,
    format_usd,
    load_pricing,
    price_micros,
    to_micros,
)

TABLE = PricingTable()


def price(model: str, method: str, **quote) -> int:
    return price_micros(TABLE, estimate_quote(TABLE, model=model, method=method, **quote))


def test_veo_is_priced_per_second_by_audio():
    assert price("veo-3.1-generate-001", "clip", video_seconds=8) == 1_600_000
    assert price("veo-3.1-generate-001", "clip", video_seconds=8, audio=True) == 3_200_000
    assert price("veo-3.1-fast-generate-001", "clip", video_seconds=4) == 400_000  # the longer prefix wins


def test_images_and_tokens():
    # one image at $0.039, plus the estimated input tokens at $0.30 per million
    assert price("gemini-2.5-flash-image", "keyframe") == 39_000 + 2_400
    assert price("imagen-4.0-generate-001", "reference_image") == 40_000
    storyboard = price("gemini-2.5-pro", "write_storyboard", prompt_chars=4_000)
    assert storyboard == to_micros(Decimal("0.00125") * 5 + Decimal("0.01") * 16)


def test_offline_models_are_free_and_unknown_ones_are_refused_before_a_call():
    assert price("local/LocalVideoModel", "clip", video_seconds=8) == 0
    with pytest.raises(UnpricedModel, match="model 'veo-9-secret' has no price in the pricing table: add it to VIDPIPE_PRICING"):
        price("veo-9-secret", "clip", video_seconds=8)


def test_a_resolution_specific_rate_wins_and_a_missing_one_is_refused():
    table = TABLE.with_overrides(
        {"models": {"veo-x": {"video": [{"audio": False, "resolution": "1080p", "usd_per_second": "0.30"}]}}}
    )
    quote = estimate_quote(table, model="veo-x", method="clip", video_seconds=2, resolution="1080p")
    assert price_micros(table, quote) == 600_000
    with pytest.raises(UnpricedModel, match="no per-second video rate for audio=False, resolution 720p"):
        price_micros(table, quote.model_copy(update={"resolution": "720p"}))


def test_the_actual_cost_comes_from_reported_usage():
    estimate = estimate_quote(TABLE, model="gemini-2.5-flash", method="judge")
    actual = actual_quote(estimate, {"prompt_tokens": 1000, "output_tokens": 200, "thinking_tokens": 800, "requests": 1})
    assert price_micros(TABLE, actual) == to_micros(Decimal("0.0003") + Decimal("0.0025"))
    assert price_micros(TABLE, actual_quote(estimate, {})) == price_micros(TABLE, estimate), "unreported: as estimated"


def test_overrides_from_json_text_or_a_yaml_file(tmp_path):
    assert load_pricing('{"models": {"veo-3.1-generate*": {"video": [{"audio": false, "usd_per_second": 0.1}]}}}').rates(
        "veo-3.1-generate-001"
    ).video[0].usd_per_second == Decimal("0.1")
    pricing = tmp_path / "pricing.yaml"
    pricing.write_text("models:\n  my-model:\n    usd_per_image: 0.5\n")
    table = load_pricing(str(pricing))
    assert table.rates("my-model").usd_per_image == Decimal("0.5") and table.rates("imagen-3.0")  # defaults kept
    with pytest.raises(InvalidInput, match="pricing.models.my-model.usd_per_image"):
        load_pricing(json.dumps({"models": {"my-model": {"usd_per_image": -1}}}))
    with pytest.raises(InvalidInput, match="neither JSON nor a pricing file"):
        load_pricing("/nonexistent/pricing.yaml")


def test_money_is_rounded_to_the_micro_dollar_and_shown_in_cents():
    assert to_micros(Decimal("0.0000005")) == 1 and to_micros(Decimal("1.2345674")) == 1_234_567
    assert format_usd(1_234_567) == "$1.23" and format_usd(40 * 1_000_000) == "$40.00"
