"""Pure helpers of the `vertex` model backend: no network, no Dagster, no SDK client.

Prompt sanitizing, duration snapping, retry
delays and image fitting live here so they can be unit-tested without a server.
"""

from __future__ import annotations

import email.utils
import io
import random
import re
import time
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, Field, ValidationError

from vidpipe_dagster.domain import SCENE_DURATIONS, OutputInvalid, Phrase, describe_validation_error, parse_json_model

AnswerT = TypeVar("AnswerT", bound=BaseModel)


# --- Durations ------------------------------------------------------------------------------


def snap_duration(seconds: float) -> int:
    """The nearest allowed scene duration (4, 6 or 8 s); a tie goes to the longer one."""
    if seconds != seconds:  # NaN
        raise ValueError("duration is not a number")
    return min(SCENE_DURATIONS, key=lambda allowed: (abs(allowed - seconds), -allowed))


# --- Prompt sanitizing ----------------------------------------------------------------------

# Each pattern is matched as a whole word, case-insensitively. Replacements keep the scene's
# meaning but drop what safety filters object to most often (graphic violence, weapons, gore,
# sexual content, self-harm, drugs), so a retried prompt stands a fair chance.
_SOFTEN: tuple[tuple[str, str], ...] = (
    (r"blood(?:y|ied|ies)?|bleeding|bleeds?", "red paint"),
    (r"gor(?:e|y)|gruesome|grisly|mutilat(?:ed|ion|es?)|dismember(?:ed|s)?", "dramatic"),
    (r"decapitat(?:ed|ion|es?)|behead(?:ed|s|ing)?", "defeated"),
    (r"kills|murders|slaughters|assassinates", "defeats"),
    (r"killed|murdered|slaughtered|assassinated", "defeated"),
    (r"killing|murdering|slaughtering|assassinating", "defeating"),
    (r"kill|murder|slaughter|assassinate|assassination", "defeat"),
    (r"murderous|killer|murderer|assassin", "menacing figure"),
    (r"corpses?|dead bod(?:y|ies)|cadavers?", "motionless figure"),
    (r"guns?|rifles?|pistols?|firearms?|shotguns?|handguns?", "prop"),
    (r"weapons?", "prop"),
    (r"knife|knives|daggers?|machetes?", "tool"),
    (r"bombs?|grenades?|explosives?", "device"),
    (r"explosions?|explod(?:e|es|ed|ing)", "burst of light"),
    (r"torture[ds]?|torturing", "ordeal"),
    (r"naked|nude|nudity|topless|undressed", "fully clothed"),
    (r"sexy|sexual(?:ly)?|erotic|seductive|lingerie", "elegant"),
    (r"suicid(?:e|al)|self-harm", "despair"),
    (r"drugs?|cocaine|heroin|meth", "medicine"),
    (r"terroris(?:t|ts|m)", "stranger"),
    (r"violent(?:ly)?|violence|brutal(?:ly)?", "intense"),
)
_SOFTEN_RE = [(re.compile(rf"\b(?:{pattern})\b", re.IGNORECASE), repl) for pattern, repl in _SOFTEN]
_URL_RE = re.compile(r"\bhttps?://\S+|\bwww\.\S+", re.IGNORECASE)
_EMAIL_RE = re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b")
_HANDLE_RE = re.compile(r"(?<![\w@])@\w{2,}")
SAFE_SUFFIX = "Depict this in a safe, non-graphic, family-friendly way, with no real people."


def _keep_case(replacement: str, original: str) -> str:
    if original[:1].isupper():
        return replacement[:1].upper() + replacement[1:]
    return replacement


def sanitize_prompt(text: str) -> str:
    """A softened copy of a prompt that a safety filter refused, for one retry.

    Softens violent, graphic, sexual, self-harm and drug terms, removes URLs, e-mail addresses and
    @handles, collapses whitespace and appends a family-friendly instruction. Idempotent.
    """
    result = text.replace(SAFE_SUFFIX, " ")
    result = _URL_RE.sub(" ", result)
    result = _EMAIL_RE.sub(" ", result)
    result = _HANDLE_RE.sub(" ", result)
    for pattern, replacement in _SOFTEN_RE:
        result = pattern.sub(lambda m, r=replacement: _keep_case(r, m.group(0)), result)
    lines = [re.sub(r"[ \t]+", " ", line).strip() for line in result.splitlines()]
    result = "\n".join(line for line in lines if line)
    return f"{result}\n{SAFE_SUFFIX}" if result else SAFE_SUFFIX


def parse_json_answer(raw: str | Mapping[str, Any], schema: type[AnswerT], what: str) -> AnswerT:
    """A model's JSON answer as `schema`; `OutputInvalid` names each problem, which earns the
    model one corrective turn."""
    return parse_json_model(raw, schema, what, OutputInvalid)


# --- Audio phrases: the schema Gemini answers in, and its validation -------------------------


class DraftPhrase(BaseModel):
    start_s: float = Field(description="when the phrase starts, in seconds from the start of the track")
    label: str = Field(description="what the phrase is, e.g. 'intro', 'verse 1', 'chorus', 'drop'")
    mood: str = Field(description="the feeling of the music here, in a word or two")
    intensity: str = Field(description="low, medium, high or extreme")
    tempo: str = Field(description="slow, moderate, fast or very_fast")


class PhrasesAnswer(BaseModel):
    """The response schema of the audio segmentation: the track's musical phrases, in order."""

    phrases: list[DraftPhrase]


def phrases_prompt(duration_s: float) -> str:
    """The user prompt that asks Gemini where the phrases of an attached track start."""
    return (
        f"The attached audio track is {duration_s:.1f} seconds long. A short film will be cut to it, "
        "one shot per musical phrase, each shot 4, 6 or 8 seconds long.\n"
        "List every point where a musical phrase or section begins (intro, verse, chorus, bridge, "
        "drop, a change of instruments, rhythm or energy), in seconds from the start of the track, "
        "in order, each with a short label, its mood, its intensity and its tempo; the first starts at 0. "
        "Mark changes you hear in the music, not a fixed grid."
    )


def parse_phrases(text: str, duration_s: float) -> list[Phrase]:
    """The phrases in Gemini's JSON answer (`PhrasesAnswer`): sorted, one per start, only those
    starting inside [0, `duration_s`) (a phrase at the very end has no picture). A start more than
    a second outside the track (an answer in milliseconds or minutes), an intensity or tempo off
    its scale, or an answer not in the schema raises `OutputInvalid` naming the field."""
    answer = parse_json_answer(text, PhrasesAnswer, "phrases")
    outside = [phrase.start_s for phrase in answer.phrases if not 0 <= phrase.start_s <= duration_s + 1]
    if outside:
        raise OutputInvalid(
            f"phrases: start_s {outside} lie outside the {duration_s:.1f} s track; give seconds from its start"
        )
    phrases: dict[float, Phrase] = {}
    problems = []
    for index, draft in enumerate(answer.phrases):
        candidate = {
            "start_s": draft.start_s, "section": draft.label, "mood": draft.mood,
            "intensity": draft.intensity.strip().lower(), "tempo": draft.tempo.strip().lower().replace(" ", "_"),
        }
        try:
            phrase = Phrase.model_validate(candidate)
        except ValidationError as exc:
            problems.append(describe_validation_error(exc, f"phrases.{index}"))
            continue
        if phrase.start_s < duration_s:
            phrases.setdefault(phrase.start_s, phrase)
    if problems:
        raise OutputInvalid("; ".join(problems))
    return [phrases[start] for start in sorted(phrases)]


# --- Retries --------------------------------------------------------------------------------


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date), or None."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def retry_delay_from_details(details: Any) -> float | None:
    """The delay of a google.rpc.RetryInfo in an error body (`"retryDelay": "3s"`), or None."""
    error = details.get("error", details) if isinstance(details, dict) else None
    items = error.get("details") if isinstance(error, dict) else None
    for item in items if isinstance(items, list) else []:
        delay = item.get("retryDelay") if isinstance(item, dict) else None
        if isinstance(delay, str):
            match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)s\s*", delay)
            if match:
                return float(match.group(1))
    return None


def backoff_delay(
    attempt: int,
    *,
    initial: float,
    maximum: float,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait before retry number `attempt` (1 = first retry).

    A server's Retry-After wins (capped at `maximum`); otherwise exponential backoff with jitter
    between half and the whole of `initial * 2**(attempt-1)`, capped at `maximum`.
    """
    if retry_after is not None:
        return min(max(retry_after, 0.0), maximum)
    base = min(initial * (2 ** max(attempt - 1, 0)), maximum)
    return base * (0.5 + 0.5 * (rng or random).random())


# --- Images ---------------------------------------------------------------------------------

#: Aspect ratios Imagen and Gemini image models accept.
IMAGE_ASPECT_RATIOS: tuple[str, ...] = ("1:1", "3:4", "4:3", "9:16", "16:9")


def nearest_aspect_ratio(size: tuple[int, int], allowed: tuple[str, ...] = IMAGE_ASPECT_RATIOS) -> str:
    width, height = size
    if width <= 0 or height <= 0:
        raise ValueError(f"image size {size} must be positive")
    target = width / height

    def ratio(text: str) -> float:
        w, h = text.split(":")
        return int(w) / int(h)

    return min(allowed, key=lambda text: abs(ratio(text) - target))


def video_aspect_ratio(size: tuple[int, int]) -> str:
    """Veo takes 16:9 or 9:16."""
    return "16:9" if size[0] >= size[1] else "9:16"


def fit_png(data: bytes, size: tuple[int, int]) -> bytes:
    """Image bytes (any format Pillow reads) cropped to `size`'s aspect ratio around the centre,
    resized to exactly `size` and encoded as PNG."""
    from PIL import Image

    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except Exception as exc:  # noqa: BLE001 - Pillow raises many types for bad data
        raise ValueError(f"the model's image could not be decoded: {exc}") from None
    image = image.convert("RGB")
    width, height = size
    target = width / height
    src_w, src_h = image.size
    if src_w / src_h > target:
        crop_w = round(src_h * target)
        left = (src_w - crop_w) // 2
        image = image.crop((left, 0, left + crop_w, src_h))
    elif src_w / src_h < target:
        crop_h = round(src_w / target)
        top = (src_h - crop_h) // 2
        image = image.crop((0, top, src_w, top + crop_h))
    if image.size != (width, height):
        image = image.resize((width, height), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def mime_type_for(path_name: str) -> str:
    suffix = path_name.lower().rsplit(".", 1)[-1] if "." in path_name else ""
    return {
        "png": "image/png",
        "jpg": "image/jpeg",
        "jpeg": "image/jpeg",
        "webp": "image/webp",
        "mp4": "video/mp4",
        "mov": "video/quicktime",
        "webm": "video/webm",
        # The audio types Gemini on Vertex AI reads.
        "wav": "audio/wav",
        "mp3": "audio/mp3",
        "flac": "audio/flac",
        "ogg": "audio/ogg",
        "m4a": "audio/m4a",
    }.get(suffix, "application/octet-stream")


# --- Redaction ------------------------------------------------------------------------------


def redact(text: str, secrets: list[str | None]) -> str:
    """`text` with every non-empty secret replaced by '***'."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text
