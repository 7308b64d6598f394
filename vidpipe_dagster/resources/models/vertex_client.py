"""Shared plumbing of the `vertex` backend: settings, the google-genai client, retries, errors.

`VertexSettings` is one small Dagster resource nested into every `vertex` model resource, so the
project, location, credentials, timeouts and retry policy are configured in one place. The
`genai.Client` is built lazily for each call of a model method (never at import or definition
load), in Vertex AI mode, with a per-request timeout; the SDK's own retries are off so that
vidpipe's backoff (which honours Retry-After) is the only one.
"""

from __future__ import annotations

import json
import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import pydantic
from dagster import ConfigurableResource
from pydantic import Field

from vidpipe_dagster.domain import ModelCall
from vidpipe_dagster.log_context import get_logger
from vidpipe_dagster.resources.models.protocols import ModelRefusal
from vidpipe_dagster.resources.models.vertex_helpers import (
    backoff_delay,
    parse_retry_after,
    redact,
    retry_delay_from_details,
    sanitize_prompt,
)

if TYPE_CHECKING:
    from google import genai
    from google.genai import errors as genai_errors
    from google.genai import types

logger = get_logger("vertex")

T = TypeVar("T")

DEFAULT_LOCATION = "us-central1"
#: HTTP statuses that are retried with backoff: quota (429) and transient server trouble.
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
#: Gemini finish reasons that mean a safety or policy filter stopped the answer.
SAFETY_FINISH_REASONS = frozenset(
    {
        "SAFETY",
        "PROHIBITED_CONTENT",
        "BLOCKLIST",
        "SPII",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "RECITATION",
        "IMAGE_RECITATION",
    }
)


# --- Errors ---------------------------------------------------------------------------------


class VertexError(RuntimeError):
    """A call to Vertex AI failed; the message names the model and the problem, never a credential."""

    def __init__(self, message: str, *, model: str = "") -> None:
        super().__init__(message)
        self.model = model


class ModelRefused(VertexError, ModelRefusal):
    """A safety filter refused the request, also after one retry with a sanitized prompt."""

    def __init__(self, *, model: str, what: str, reason: str) -> None:
        super().__init__(
            f"{model} refused to {what}: blocked by the safety filter ({reason}), also after a retry "
            "with a sanitized prompt; rephrase the brief or the scene",
            model=model,
        )
        self.reason = reason
        self.what = what


class VertexUnavailable(VertexError):
    """Quota (429) or server trouble (5xx) outlasted every retry."""

    def __init__(self, message: str, *, model: str = "", status: int | None = None) -> None:
        super().__init__(message, model=model)
        self.status = status


class VertexRequestFailed(VertexError):
    """Vertex AI refused the request (4xx other than 429): fix the request or the configuration."""

    def __init__(self, message: str, *, model: str = "", status: int | None = None) -> None:
        super().__init__(message, model=model)
        self.status = status


class VertexResponseError(VertexError):
    """The answer was malformed: not JSON, the wrong shape, or missing what was asked for."""


class VertexTimeout(VertexError, TimeoutError):
    """A request or a long-running operation did not finish in time."""


class SafetyBlocked(Exception):
    """Internal: one attempt was blocked by a safety filter (caught by `with_safety_retry`)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --- What a call cost -----------------------------------------------------------------------


class CallRecorder:
    """Collects what one model-method call used (requests, retries, tokens, ...) into a ModelCall."""

    def __init__(self, model: str) -> None:
        self.model = model
        self._start = time.monotonic()
        self.usage: dict[str, float] = defaultdict(float)

    def count(self, key: str, amount: float = 1) -> None:
        self.usage[key] += amount

    def add_tokens(self, usage_metadata: types.GenerateContentResponseUsageMetadata | None) -> None:
        if usage_metadata is None:
            return
        for key, attribute in (
            ("prompt_tokens", "prompt_token_count"),
            ("output_tokens", "candidates_token_count"),
            ("thinking_tokens", "thoughts_token_count"),
            ("total_tokens", "total_token_count"),
        ):
            value = getattr(usage_metadata, attribute, None)
            if value:
                self.usage[key] += float(value)

    def model_call(self) -> ModelCall:
        return ModelCall(
            model=self.model,
            seconds=round(time.monotonic() - self._start, 3),
            usage=dict(self.usage),
        )


# --- Settings and the client ----------------------------------------------------------------


def _transient_transport_errors() -> tuple[type[BaseException], ...]:
    """Timeouts and connection failures of whichever httpx flavour the SDK uses."""
    found: list[type[BaseException]] = []
    for module_name in ("httpx", "httpx2"):
        try:
            module = __import__(module_name)
        except ImportError:
            continue
        for name in ("TimeoutException", "ConnectError", "RemoteProtocolError"):
            cls = getattr(module, name, None)
            if isinstance(cls, type):
                found.append(cls)
    return tuple(found)


_TRANSPORT_ERRORS = _transient_transport_errors()


def _is_timeout(exc: BaseException) -> bool:
    return "Timeout" in type(exc).__name__


class VertexSettings(ConfigurableResource):
    """Where and how the `vertex` backend reaches Vertex AI. Shared by every vertex resource.

    Unset project / location fall back to GOOGLE_CLOUD_PROJECT / GOOGLE_CLOUD_LOCATION at call
    time; credentials come from Application Default Credentials unless `access_token` is set.
    """

    project: str | None = Field(
        default=None, description="Google Cloud project; GOOGLE_CLOUD_PROJECT (or ADC's project) if unset."
    )
    location: str | None = Field(
        default=None, description=f"Vertex AI region; GOOGLE_CLOUD_LOCATION, else {DEFAULT_LOCATION}."
    )
    base_url: str | None = Field(
        default=None, description="Override of the API endpoint (tests point it at a loopback server)."
    )
    access_token: str | None = Field(
        default=None,
        repr=False,
        description="A static OAuth2 access token instead of ADC (a secret: pass it as an EnvVar).",
    )
    request_timeout_s: float = Field(default=180.0, gt=0, description="Timeout of every HTTP request.")
    max_attempts: int = Field(
        default=5, ge=1, le=20, description="Attempts per request when Vertex answers 429/5xx or times out."
    )
    backoff_initial_s: float = Field(default=2.0, ge=0, description="First backoff delay; doubles per retry.")
    backoff_max_s: float = Field(default=60.0, ge=0, description="Longest wait between attempts.")

    # -- resolution ----------------------------------------------------------------------

    def resolved_project(self) -> str | None:
        return self.project or os.environ.get("GOOGLE_CLOUD_PROJECT") or None

    def resolved_location(self) -> str:
        return self.location or os.environ.get("GOOGLE_CLOUD_LOCATION") or DEFAULT_LOCATION

    def redact(self, text: str) -> str:
        return redact(text, [self.access_token])

    def _credentials(self) -> Any:
        if not self.access_token:
            return None  # the SDK loads ADC on the first request
        from google.oauth2.credentials import Credentials  # noqa: PLC0415 - only when configured

        return Credentials(token=self.access_token)

    @contextmanager
    def client(self, model: str) -> Iterator[genai.Client]:
        """A google-genai client in Vertex AI mode for one model-method call, closed afterwards."""
        from google import genai
        from google.genai import types

        http_options = types.HttpOptions(
            base_url=self.base_url or None,
            timeout=max(1, int(self.request_timeout_s * 1000)),  # milliseconds
        )
        try:
            client = genai.Client(
                vertexai=True,
                project=self.resolved_project(),
                location=self.resolved_location(),
                credentials=self._credentials(),
                http_options=http_options,
            )
        except Exception as exc:  # noqa: BLE001 - ADC lookup and validation raise many types
            raise VertexError(
                f"cannot set up the Vertex AI client for {model}: {self.redact(str(exc))} "
                "(set GOOGLE_CLOUD_PROJECT and Application Default Credentials)",
                model=model,
            ) from None
        try:
            yield client
        finally:
            try:
                client.close()
            except Exception:  # noqa: BLE001 - closing must not hide the real outcome
                pass

    def gcs_client(self) -> Any:
        """A google-cloud-storage client with the same project and credentials (for Veo output)."""
        from google.cloud import storage  # noqa: PLC0415 - only needed for GCS output

        return storage.Client(project=self.resolved_project(), credentials=self._credentials())

    # -- calls ---------------------------------------------------------------------------

    def generate_content(
        self,
        client: genai.Client,
        *,
        model: str,
        what: str,
        recorder: CallRecorder,
        contents: list[types.Content],
        config: types.GenerateContentConfig,
    ) -> types.GenerateContentResponse:
        """One Gemini request through `call`, with its token usage recorded."""
        response = self.call(
            model=model,
            what=what,
            recorder=recorder,
            fn=lambda: client.models.generate_content(model=model, contents=contents, config=config),
        )
        recorder.add_tokens(response.usage_metadata)
        return response

    def call(self, *, model: str, what: str, recorder: CallRecorder, fn: Callable[[], T]) -> T:
        """Run one request with bounded retries on 429/5xx and transport timeouts.

        Every other failure becomes a `VertexError` naming the model and the problem.
        """
        from google.genai import errors as genai_errors

        attempts = max(1, self.max_attempts)
        for attempt in range(1, attempts + 1):
            recorder.count("requests")
            try:
                return fn()
            except genai_errors.APIError as exc:
                status = exc.code
                detail = self.redact(f"HTTP {status} {exc.status or ''}: {exc.message or ''}".strip())
                if status in RETRYABLE_STATUS and attempt < attempts:
                    self._sleep_before_retry(model, what, detail, attempt, attempts, recorder, _retry_after(exc))
                    continue
                if status in RETRYABLE_STATUS:
                    raise VertexUnavailable(
                        f"{model} could not {what}: {detail}, still after {attempts} attempts "
                        "(raise the quota, lower the pool limit or try later)",
                        model=model,
                        status=status,
                    ) from None
                raise VertexRequestFailed(f"{model} could not {what}: {detail}", model=model, status=status) from None
            except _TRANSPORT_ERRORS as exc:
                kind = "timed out" if _is_timeout(exc) else "failed to connect"
                detail = f"request {kind} ({type(exc).__name__}) after {self.request_timeout_s:g}s limit"
                if attempt < attempts:
                    self._sleep_before_retry(model, what, detail, attempt, attempts, recorder, None)
                    continue
                error_cls = VertexTimeout if _is_timeout(exc) else VertexUnavailable
                raise error_cls(f"{model} could not {what}: {detail}, {attempts} attempts", model=model) from None
            except json.JSONDecodeError as exc:
                raise VertexResponseError(
                    f"{model} could not {what}: the response body is not valid JSON ({exc.msg}, char {exc.pos})",
                    model=model,
                ) from None
            except pydantic.ValidationError as exc:
                raise VertexResponseError(
                    f"{model} could not {what}: the response has an unexpected shape "
                    f"({exc.error_count()} problems, first: {exc.errors()[0]['msg']})",
                    model=model,
                ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _sleep_before_retry(
        self,
        model: str,
        what: str,
        detail: str,
        attempt: int,
        attempts: int,
        recorder: CallRecorder,
        retry_after: float | None,
    ) -> None:
        delay = backoff_delay(
            attempt, initial=self.backoff_initial_s, maximum=self.backoff_max_s, retry_after=retry_after
        )
        recorder.count("retries")
        recorder.count("backoff_s", round(delay, 3))
        logger.warning(
            "%s: %s while trying to %s; attempt %d of %d, retrying in %.2fs",
            model,
            detail,
            what,
            attempt,
            attempts,
            delay,
        )
        time.sleep(delay)

    def with_safety_retry(
        self, *, model: str, what: str, prompt: str, recorder: CallRecorder, attempt: Callable[[str], T]
    ) -> T:
        """`attempt(prompt)`; when a safety filter blocks it, once more with `sanitize_prompt(prompt)`,
        then `ModelRefused`."""
        try:
            return attempt(prompt)
        except SafetyBlocked as first:
            logger.warning(
                "%s blocked the request to %s (%s); retrying once with a sanitized prompt",
                model,
                what,
                first.reason,
            )
            recorder.count("safety_retries")
        try:
            return attempt(sanitize_prompt(prompt))
        except SafetyBlocked as second:
            raise ModelRefused(model=model, what=what, reason=second.reason) from None


def _retry_after(exc: genai_errors.APIError) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    header = None
    if headers is not None:
        try:
            header = headers.get("retry-after")
        except Exception:  # noqa: BLE001 - header containers vary by transport
            header = None
    seconds = parse_retry_after(header)
    if seconds is None:
        seconds = retry_delay_from_details(exc.details)
    return seconds


# --- Reading answers ------------------------------------------------------------------------


def _enum_name(value: Any) -> str:
    return str(getattr(value, "value", value) or "")


def gemini_block_reason(response: types.GenerateContentResponse) -> str | None:
    """Why a safety filter blocked a Gemini answer, or None when it was not blocked."""
    feedback = response.prompt_feedback
    if feedback is not None and feedback.block_reason:
        reason = f"prompt blocked: {_enum_name(feedback.block_reason)}"
        if feedback.block_reason_message:
            reason += f" ({feedback.block_reason_message})"
        return reason
    for candidate in response.candidates or []:
        finish = _enum_name(candidate.finish_reason)
        if finish in SAFETY_FINISH_REASONS:
            reason = f"answer blocked: {finish}"
            if candidate.finish_message:
                reason += f" ({candidate.finish_message})"
            return reason
    return None


def _first_candidate(response: types.GenerateContentResponse, *, model: str, what: str) -> types.Candidate:
    """The answer's first candidate. Raises SafetyBlocked or VertexResponseError."""
    reason = gemini_block_reason(response)
    if reason:
        raise SafetyBlocked(reason)
    if not response.candidates:
        raise VertexResponseError(f"{model} could not {what}: the answer has no candidates", model=model)
    return response.candidates[0]


def gemini_text(response: types.GenerateContentResponse, *, model: str, what: str) -> str:
    """The text of the first candidate (thoughts left out). Raises SafetyBlocked or VertexResponseError."""
    candidate = _first_candidate(response, model=model, what=what)
    parts = (candidate.content.parts if candidate.content else None) or []
    text = "".join(part.text for part in parts if part.text and not part.thought)
    if not text.strip():
        finish = _enum_name(candidate.finish_reason) or "unknown"
        raise VertexResponseError(
            f"{model} could not {what}: the answer has no text (finish reason {finish})", model=model
        )
    return text


def gemini_image(response: types.GenerateContentResponse, *, model: str, what: str) -> bytes:
    """The bytes of the first image in a Gemini answer. Raises SafetyBlocked or VertexResponseError."""
    candidate = _first_candidate(response, model=model, what=what)
    for part in (candidate.content.parts if candidate.content else None) or []:
        if part.inline_data is not None and part.inline_data.data and not part.thought:
            if (part.inline_data.mime_type or "image/").startswith("image/"):
                return part.inline_data.data
    finish = _enum_name(candidate.finish_reason) or "unknown"
    raise VertexResponseError(
        f"{model} could not {what}: the answer has no image (finish reason {finish})", model=model
    )


def imagen_image(response: types.GenerateImagesResponse, *, model: str, what: str) -> bytes:
    """The bytes of the first Imagen image; an empty or RAI-filtered answer is a safety block."""
    reasons = []
    for generated in response.generated_images or []:
        if generated.image is not None and generated.image.image_bytes:
            return generated.image.image_bytes
        if generated.rai_filtered_reason:
            reasons.append(generated.rai_filtered_reason)
    raise SafetyBlocked("; ".join(reasons) if reasons else "no image returned (filtered by responsible-AI checks)")
