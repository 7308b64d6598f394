"""Every model call logs its start and its end (model, scene, elapsed time), so a slow step shows
what it waits on. The lines go to the step's log, which the UI and `vidpipe demo --verbose` show."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from vidpipe_dagster.domain import JudgeVerdict, ModelCall
from vidpipe_dagster.log_context import get_logger

log = get_logger(__name__)
Result = TypeVar("Result")


def model_of(result: object) -> str:
    """The model id a backend reported for a call (its answers carry a `ModelCall`)."""
    if isinstance(result, ModelCall):
        return result.model
    if isinstance(result, JudgeVerdict):
        return result.call.model
    if isinstance(result, tuple):
        return next((part.model for part in result if isinstance(part, ModelCall)), "?")
    return "?"


def logged_call(kind: str, scene: str | None, call: Callable[[], Result]) -> Result:
    """Run one model call, logging its start and end."""
    subject = f" for scene {scene}" if scene else ""
    log.info("%s model call%s: started", kind, subject)
    started = time.monotonic()
    try:
        result = call()
    except Exception as exc:
        log.warning("%s model call%s: failed after %.1f s: %s", kind, subject, time.monotonic() - started, exc)
        raise
    log.info("%s model %s%s: done in %.1f s", kind, model_of(result), subject, time.monotonic() - started)
    return result
