"""Quality thresholds from the environment and the launchpad.

Three layers set them, each overriding the one before: the environment (`VIDPIPE_QUALITY_ACCEPT`,
`_PASS`, `_MAJOR`, `_MAX_ATTEMPTS`, read into the `quality_policy` resource), the brief's
`quality: {...}`, and the `quality` block of a step's launchpad config.
"""

from __future__ import annotations

import os

from dagster import Config, ConfigurableResource
from pydantic import Field, ValidationError

from vidpipe_dagster.domain import QualityOverride

_ENVIRONMENT = {"accept": float, "pass_": float, "major": float, "max_attempts": int}


class QualityConfig(Config):
    """Thresholds one layer sets; unset (None) ones come from the layer below."""

    accept: float | None = Field(default=None, ge=0, le=1, description="An attempt scoring at least this is accepted at once (default 0.90).")
    pass_: float | None = Field(default=None, ge=0, le=1, description="The best of the attempts is used only if it scores at least this (default 0.70).")
    major: float | None = Field(default=None, ge=0, le=1, description="Below this a grade is a failure (default 0.40).")
    max_attempts: int | None = Field(default=None, ge=1, le=10, description="Attempts per clip and per keyframe (default 3).")

    def override(self) -> QualityOverride:
        return QualityOverride(accept=self.accept, pass_=self.pass_, major=self.major, max_attempts=self.max_attempts)


class QualityPolicy(ConfigurableResource):
    """The deployment's default thresholds (the lowest override layer)."""

    defaults: QualityConfig = Field(default_factory=QualityConfig)


def quality_policy_from_environment() -> QualityPolicy:
    """The `quality_policy` resource from `VIDPIPE_QUALITY_*`; a bad value fails at load, naming
    the variable."""
    values = {}
    for field, kind in _ENVIRONMENT.items():
        name = _variable(field)
        text = os.environ.get(name, "").strip()
        if not text:
            continue
        try:
            values[field] = kind(text)
        except ValueError:
            raise ValueError(f"{name}={text!r} is not a valid {kind.__name__}") from None
    try:
        return QualityPolicy(defaults=QualityConfig(**values))
    except ValidationError as exc:
        problems = [f"{_variable(str(error['loc'][0]))}: {error['msg']}" for error in exc.errors()]
        raise ValueError("; ".join(problems)) from None


def _variable(field: str) -> str:
    return f"VIDPIPE_QUALITY_{field.rstrip('_').upper()}"
