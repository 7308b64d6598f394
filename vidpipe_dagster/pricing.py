"""What a model call costs: the pricing table and the arithmetic, with no Dagster and no I/O.

Money is counted in integer micro-dollars (1 USD = 1,000,000) everywhere it is stored or summed,
so a project's spent total is exactly the sum of its calls, to the cent and beyond; rates are
`Decimal`s. A call is priced twice: an estimate before it is made (what the budget reserves) and
the actual cost from what the model reports it used (what is settled). Estimates err high.

Rates are looked up by model id: an exact entry wins, else the longest `prefix*` entry. A model
with no entry is refused before any call (`UnpricedModel`), so nothing is ever spent unpriced.
Offline backends (`local`, test doubles) have ids under `local/`, priced at zero.
"""

from __future__ import annotations

import json
import os
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, ValidationError

from vidpipe_dagster.domain import InvalidInput, describe_validation_error

MICROS_PER_USD = 1_000_000
PRICING_ENV = "VIDPIPE_PRICING"


class UnpricedModel(InvalidInput):
    """A paid model has no rate in the pricing table: refused before it is called."""


class CallKind(StrEnum):
    VIDEO = "video"
    IMAGE = "image"
    TEXT = "text"


# Which kind of work each model method is, by the protocols' method names.
METHOD_KINDS: dict[str, CallKind] = {
    "clip": CallKind.VIDEO,
    "reference_image": CallKind.IMAGE,
    "keyframe": CallKind.IMAGE,
    "write_storyboard": CallKind.TEXT,
    "audio_phrases": CallKind.TEXT,
    "judge": CallKind.TEXT,
}


class VideoRate(BaseModel):
    audio: bool = Field(description="Rate for clips with generated audio (true) or silent ones (false).")
    resolution: str = Field(default="*", description="'720p', '1080p', or '*' for any.")
    usd_per_second: Decimal = Field(ge=0)


class ModelRates(BaseModel):
    video: list[VideoRate] = Field(default_factory=list, description="Per second of video; first match wins.")
    usd_per_image: Decimal = Field(default=Decimal(0), ge=0)
    usd_per_1k_input_tokens: Decimal = Field(default=Decimal(0), ge=0)
    usd_per_1k_output_tokens: Decimal = Field(default=Decimal(0), ge=0)


class TokenEstimate(BaseModel):
    """Tokens assumed for a text call before it is made (its actual usage settles it)."""

    input_tokens: int = Field(ge=0)
    output_tokens: int = Field(ge=0)


def _video(audio: Decimal, silent: Decimal) -> list[VideoRate]:
    return [VideoRate(audio=True, usd_per_second=audio), VideoRate(audio=False, usd_per_second=silent)]


def _tokens(input_per_1k: str, output_per_1k: str, per_image: str = "0") -> ModelRates:
    return ModelRates(
        usd_per_1k_input_tokens=Decimal(input_per_1k),
        usd_per_1k_output_tokens=Decimal(output_per_1k),
        usd_per_image=Decimal(per_image),
    )


# Vertex AI list prices (USD) of the models the `vertex` backend uses; override them with
# VIDPIPE_PRICING when your contract differs.
DEFAULT_RATES: dict[str, ModelRates] = {
    "veo-3.1-generate*": ModelRates(video=_video(Decimal("0.40"), Decimal("0.20"))),
    "veo-3.1-fast-generate*": ModelRates(video=_video(Decimal("0.15"), Decimal("0.10"))),
    "veo-3.0-generate*": ModelRates(video=_video(Decimal("0.40"), Decimal("0.20"))),
    "veo-3.0-fast-generate*": ModelRates(video=_video(Decimal("0.15"), Decimal("0.10"))),
    "veo-2.0-generate*": ModelRates(video=_video(Decimal("0.50"), Decimal("0.50"))),
    # An image answer is billed per image (its ~1290 output tokens); the text beside it is negligible.
    "gemini-2.5-flash-image*": _tokens("0.0003", "0", per_image="0.039"),
    "imagen-4.0-ultra-generate*": ModelRates(usd_per_image=Decimal("0.06")),
    "imagen-4.0-fast-generate*": ModelRates(usd_per_image=Decimal("0.02")),
    "imagen-*": ModelRates(usd_per_image=Decimal("0.04")),
    "gemini-2.5-pro*": _tokens("0.00125", "0.01"),
    "gemini-2.5-flash-lite*": _tokens("0.0001", "0.0004"),
    "gemini-2.5-flash*": _tokens("0.0003", "0.0025"),
    "local/*": ModelRates(),
}

DEFAULT_TOKEN_ESTIMATES: dict[str, TokenEstimate] = {
    "write_storyboard": TokenEstimate(input_tokens=4_000, output_tokens=16_000),
    "audio_phrases": TokenEstimate(input_tokens=40_000, output_tokens=4_000),
    "judge": TokenEstimate(input_tokens=20_000, output_tokens=4_000),
    "keyframe": TokenEstimate(input_tokens=8_000, output_tokens=500),
    "reference_image": TokenEstimate(input_tokens=1_000, output_tokens=500),
}


class PricingTable(BaseModel):
    """Rates by model id (or `prefix*`), and the token counts text calls are estimated at."""

    models: dict[str, ModelRates] = Field(default_factory=lambda: dict(DEFAULT_RATES))
    token_estimates: dict[str, TokenEstimate] = Field(default_factory=lambda: dict(DEFAULT_TOKEN_ESTIMATES))

    def rates(self, model: str) -> ModelRates:
        if model in self.models:
            return self.models[model]
        prefixes = [key for key in self.models if key.endswith("*") and model.startswith(key[:-1])]
        if not prefixes:
            raise UnpricedModel(
                f"model {model!r} has no price in the pricing table: add it to {PRICING_ENV} "
                '(e.g. {"models": {"' + model + '": {"usd_per_image": "0.04"}}}) before calling it'
            )
        return self.models[max(prefixes, key=len)]

    def with_overrides(self, overrides: dict[str, Any]) -> PricingTable:
        """This table with a user's entries added or replacing ours, model by model."""
        try:
            extra = PricingTable.model_validate({"models": {}, "token_estimates": {}, **overrides})
        except ValidationError as exc:
            raise InvalidInput(describe_validation_error(exc, "pricing")) from None
        return PricingTable(
            models={**self.models, **extra.models}, token_estimates={**self.token_estimates, **extra.token_estimates}
        )


def load_pricing(setting: str | None = None) -> PricingTable:
    """The default table with the user's overrides: `VIDPIPE_PRICING` is JSON text, or the path of a
    JSON or YAML file holding the same shape."""
    setting = (os.environ.get(PRICING_ENV, "") if setting is None else setting).strip()
    if not setting:
        return PricingTable()
    if setting.startswith("{"):
        text, what = setting, PRICING_ENV
    else:
        path = Path(setting)
        if not path.is_file():
            raise InvalidInput(f"{PRICING_ENV}={setting!r} is neither JSON nor a pricing file that exists")
        text, what = path.read_text(), str(path)
    try:
        overrides = json.loads(text) if text.lstrip().startswith("{") else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise InvalidInput(f"{what}: the pricing is not valid JSON or YAML: {exc}") from None
    if not isinstance(overrides, dict):
        raise InvalidInput(f"{what}: the pricing must be a mapping with 'models' (and 'token_estimates')")
    return PricingTable().with_overrides(overrides)


class PriceQuote(BaseModel):
    """What one call is expected to use, priced: the inputs of both the estimate and the settlement."""

    model: str
    kind: CallKind
    method: str
    video_seconds: float = 0
    audio: bool = False
    resolution: str = "720p"
    images: int = 0
    input_tokens: int = 0
    output_tokens: int = 0


def to_micros(usd: Decimal) -> int:
    return int((usd * MICROS_PER_USD).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def to_usd(micros: int) -> float:
    """For display and float metadata only; sums are always taken in micro-dollars."""
    return round(micros / MICROS_PER_USD, 6)


def format_usd(micros: int) -> str:
    return f"${Decimal(micros) / MICROS_PER_USD:,.2f}"


def price_micros(table: PricingTable, quote: PriceQuote) -> int:
    rates = table.rates(quote.model)
    usd = Decimal(0)
    if quote.kind is CallKind.VIDEO:
        usd += _video_rate(rates, quote) * Decimal(str(quote.video_seconds))
    usd += rates.usd_per_image * quote.images
    usd += rates.usd_per_1k_input_tokens * Decimal(quote.input_tokens) / 1000
    usd += rates.usd_per_1k_output_tokens * Decimal(quote.output_tokens) / 1000
    return to_micros(usd)


def _video_rate(rates: ModelRates, quote: PriceQuote) -> Decimal:
    for rate in rates.video:
        if rate.audio == quote.audio and rate.resolution in ("*", quote.resolution):
            return rate.usd_per_second
    if not rates.video and not any((rates.usd_per_image, rates.usd_per_1k_input_tokens, rates.usd_per_1k_output_tokens)):
        return Decimal(0)  # a free model
    raise UnpricedModel(
        f"model {quote.model!r} has no per-second video rate for audio={quote.audio}, resolution {quote.resolution}: "
        f"add one to {PRICING_ENV}"
    )


def estimate_quote(
    table: PricingTable, *, model: str, method: str, prompt_chars: int = 0, video_seconds: float = 0,
    audio: bool = False, resolution: str | None = None,
) -> PriceQuote:
    """What a call will use, judged before it is made: the video's length, one image, and for text
    the table's token estimate plus the prompt (about four characters a token)."""
    kind = METHOD_KINDS.get(method, CallKind.TEXT)
    tokens = table.token_estimates.get(method, TokenEstimate(input_tokens=0, output_tokens=0))
    return PriceQuote(
        model=model, kind=kind, method=method,
        video_seconds=video_seconds if kind is CallKind.VIDEO else 0,
        audio=audio, resolution=resolution or "720p",
        images=1 if kind is CallKind.IMAGE else 0,
        input_tokens=0 if kind is CallKind.VIDEO else tokens.input_tokens + prompt_chars // 4,
        output_tokens=0 if kind is CallKind.VIDEO else tokens.output_tokens,
    )


def actual_quote(estimate: PriceQuote, usage: dict[str, float]) -> PriceQuote:
    """What the call used, from the usage the model reported; what it did not report stays as estimated."""

    def used(*keys: str) -> float | None:
        found = [usage[key] for key in keys if key in usage]
        return sum(found) if found else None

    video_seconds = used("video_seconds")
    images = used("images")
    input_tokens = used("prompt_tokens")
    output_tokens = used("output_tokens", "thinking_tokens")
    return estimate.model_copy(
        update={
            "video_seconds": estimate.video_seconds if video_seconds is None else video_seconds,
            "images": estimate.images if images is None else int(images),
            "input_tokens": estimate.input_tokens if input_tokens is None else int(input_tokens),
            "output_tokens": estimate.output_tokens if output_tokens is None else int(output_tokens),
        }
    )
