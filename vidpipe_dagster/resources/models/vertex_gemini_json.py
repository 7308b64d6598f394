"""Gemini answers in JSON: one request with a response schema, one corrective turn on an invalid
answer, one sanitized retry on a safety block. Shared by storyboards, phrases and the judge."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from vidpipe_dagster.log_context import get_logger
from vidpipe_dagster.resources.models.vertex_client import (
    CallRecorder,
    VertexResponseError,
    VertexSettings,
    gemini_text,
)
from vidpipe_dagster.resources.models.vertex_helpers import OutputInvalid

if TYPE_CHECKING:
    from google import genai
    from google.genai import types

logger = get_logger("vertex")

T = TypeVar("T")

CORRECTION_PROMPT = (
    "Your previous answer was not valid: {problem}. Answer again with the complete corrected JSON "
    "only, following the schema exactly."
)



def gemini_json(
    settings: VertexSettings,
    client: genai.Client,
    recorder: CallRecorder,
    *,
    model: str,
    what: str,
    prompt: str,
    system: str,
    schema: type,
    parse: Callable[[str], T],
    invalid_error: type[VertexResponseError],
    media_parts: list[types.Part] | None = None,
    temperature: float | None = None,
    seed: int | None = None,
    max_output_tokens: int | None = None,
) -> T:
    """Ask Gemini for JSON in `schema`, parse it with `parse`; one corrective turn on invalid output,
    one sanitized retry on a safety block."""
    from google.genai import types

    config = types.GenerateContentConfig(
        system_instruction=system,
        response_mime_type="application/json",
        response_schema=schema,
        temperature=temperature,
        seed=seed,
        max_output_tokens=max_output_tokens,
        candidate_count=1,
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )

    def generate(contents: list[types.Content]) -> str:
        response = settings.generate_content(
            client, model=model, what=what, recorder=recorder, contents=contents, config=config
        )
        return gemini_text(response, model=model, what=what)

    def attempt(text: str) -> T:
        contents = [types.Content(role="user", parts=[types.Part.from_text(text=text), *(media_parts or [])])]
        answer = generate(contents)
        try:
            return parse(answer)
        except OutputInvalid as problem:
            logger.warning("%s gave an invalid answer to %s (%s); asking once for a correction", model, what, problem)
            recorder.count("corrective_retries")
            contents = [
                *contents,
                types.Content(role="model", parts=[types.Part.from_text(text=answer)]),
                types.Content(
                    role="user", parts=[types.Part.from_text(text=CORRECTION_PROMPT.format(problem=problem))]
                ),
            ]
        answer = generate(contents)
        try:
            return parse(answer)
        except OutputInvalid as problem:
            raise invalid_error(
                f"{model} could not {what}: its answer was invalid twice (after one corrective turn): {problem}",
                model=model,
            ) from None

    return settings.with_safety_retry(model=model, what=what, prompt=prompt, recorder=recorder, attempt=attempt)

