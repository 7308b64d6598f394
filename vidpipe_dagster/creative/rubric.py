"""The judge's rubric: categories and their weights, grades and their values, the score and the
verdict. Plain arithmetic: the judge (a model or the local measurer) only grades; the score and
the verdict are always computed here, never taken from a model's answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

# The old system's rubric: five categories, weighted 30/25/20/15/10.
CATEGORY_WEIGHTS: dict[str, float] = {
    "narrative_fidelity": 0.30,
    "character_consistency": 0.25,
    "technical_quality": 0.20,
    "emotional_authenticity": 0.15,
    "continuity": 0.10,
}
CATEGORY_QUESTIONS: dict[str, str] = {
    "narrative_fidelity": "does it show what the scene describes, the right action at the right moment?",
    "character_consistency": "do faces, bodies, ages, wardrobe and counts match the references and the scene before?",
    "technical_quality": "sharpness, anatomy, artefacts, stable motion, no text or watermark",
    "emotional_authenticity": "do the mood, performance and light ring true to the scene?",
    "continuity": "does it carry on from the previous scene's last frame and description (place, light, state, props)?",
}
Category = Literal["narrative_fidelity", "character_consistency", "technical_quality", "emotional_authenticity", "continuity"]
Grade = Literal["PASS", "MINOR", "MAJOR", "FAIL"]
GRADE_VALUES: dict[str, float] = {"PASS": 1.0, "MINOR": 0.7, "MAJOR": 0.4, "FAIL": 0.0}
Verdict = Literal["ACCEPT", "MINOR_ISSUES", "MAJOR_ISSUES", "FAIL"]

DEFAULT_ACCEPT = 0.90
DEFAULT_PASS = 0.70
DEFAULT_MAJOR = 0.40
DEFAULT_MAX_ATTEMPTS = 3


def rubric_score(grades: Mapping[str, str]) -> float:
    """Σ(grade value × weight) / Σ weight over the five categories; every one must be graded."""
    missing = [name for name in CATEGORY_WEIGHTS if name not in grades]
    if missing:
        raise ValueError(f"the judge did not grade {', '.join(missing)}")
    unknown = sorted({grade for grade in grades.values() if grade not in GRADE_VALUES})
    if unknown:
        raise ValueError(f"grades {unknown} are not one of {', '.join(GRADE_VALUES)}")
    total = sum(GRADE_VALUES[grades[name]] * weight for name, weight in CATEGORY_WEIGHTS.items())
    return round(total / sum(CATEGORY_WEIGHTS.values()), 4)


def verdict_for(score: float, *, accept: float, pass_: float, major: float) -> Verdict:
    """ACCEPT at or above `accept`: the attempt is taken and no more are made. MINOR_ISSUES at or
    above `pass_`: retried, and if no attempt reaches `accept` the best of them is used, flagged.
    MAJOR_ISSUES at or above `major`, FAIL below: retried, and never used unless forced."""
    if score >= accept:
        return "ACCEPT"
    if score >= pass_:
        return "MINOR_ISSUES"
    if score >= major:
        return "MAJOR_ISSUES"
    return "FAIL"


def fill_thresholds(layers: list[Mapping[str, float | int | None]]) -> dict[str, float | int]:
    """Thresholds from override layers, lowest first (environment, brief, launchpad): a later layer's
    value wins. A threshold no layer sets takes its default, lowered to the one above it, so setting
    only `accept` to 0.5 also lowers the `pass` bar instead of contradicting it. Thresholds that
    layers set explicitly must be ordered accept ≥ pass ≥ major: `ValueError` names the fields."""
    chosen: dict[str, float | int] = {}
    for layer in layers:
        chosen.update({name: value for name, value in layer.items() if value is not None})
    accept = chosen.get("accept", DEFAULT_ACCEPT)
    pass_ = chosen.get("pass", min(DEFAULT_PASS, accept))
    major = chosen.get("major", min(DEFAULT_MAJOR, pass_))
    if pass_ > accept:
        raise ValueError(f"quality.pass ({pass_:g}) is above quality.accept ({accept:g}); the bars go accept ≥ pass ≥ major")
    if major > pass_:
        raise ValueError(f"quality.major ({major:g}) is above quality.pass ({pass_:g}); the bars go accept ≥ pass ≥ major")
    return {"accept": accept, "pass": pass_, "major": major, "max_attempts": chosen.get("max_attempts", DEFAULT_MAX_ATTEMPTS)}
