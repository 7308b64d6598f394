"""Code versions of the prompt-making assets, from the source of the templates they use.

Dagster marks a materialization made with another code version, so a change to a composer, a
preset or the offline director shows which stored storyboards, sheets, keyframes and clips were
made with older prompts.
"""

from __future__ import annotations

import hashlib
import inspect
from types import ModuleType

from vidpipe_dagster.creative import compose, music, offline_director, rules, state, storyboard, words
from vidpipe_dagster.creative.crew import camera, continuity, design, light, wardrobe

_CREW = (camera, continuity, design, light, wardrobe, state, rules, words, compose)
TEMPLATES: dict[str, tuple[ModuleType, ...]] = {
    "storyboard": (offline_director, storyboard, music, rules, words),
    "references": _CREW,
    "keyframes": _CREW,
    "clip": _CREW,
}


def prompt_version(asset: str) -> str:
    """A short hash of the source of every template module `asset` composes its prompts with."""
    digest = hashlib.sha256()
    for module in TEMPLATES[asset]:
        digest.update(inspect.getsource(module).encode())
    return f"prompts-{digest.hexdigest()[:12]}"
