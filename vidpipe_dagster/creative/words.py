"""Matching words of a brief: whole words and their inflections, never substrings.

"surf" matches "surfing" and "surfers" but "shot" never matches "gunshot" and "cam" never matches
"camera" (the old system's substring bugs).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_SUFFIXES = ("s", "es", "ed", "d", "ing", "er", "ers", "y", "ly")
_WORD_RE = re.compile(r"[a-z]+(?:'[a-z]+)?")


def words(text: str) -> list[str]:
    return _WORD_RE.findall(text.lower())


def matches(word: str, stem: str) -> bool:
    """`word` is `stem` or an inflection of it (surf/surfing, run/running, shine/shining, city/cities)."""
    if word == stem:
        return True
    bases = [(stem, _SUFFIXES), (stem + stem[-1], ("ing", "ed", "er", "ers", "y"))]  # run -> running
    if stem.endswith("e"):
        bases.append((stem[:-1], ("ing", "ed", "er", "ers")))  # shine -> shining
    if stem.endswith("y"):
        bases.append((stem[:-1], ("ies", "ied")))  # city -> cities
    return any(word.startswith(base) and word[len(base):] in suffixes for base, suffixes in bases)


def _starts_at(said: list[str], index: int, stem: str) -> bool:
    parts = stem.split()
    return index + len(parts) <= len(said) and all(matches(said[index + i], part) for i, part in enumerate(parts))


def first_index(text: str | list[str], stems: Iterable[str]) -> int | None:
    """Where the first word of `text` matching one of `stems` is; a stem with a space is a phrase
    whose words must follow each other."""
    said = words(text) if isinstance(text, str) else text
    stems = list(stems)
    return next((index for index in range(len(said)) if any(_starts_at(said, index, stem) for stem in stems)), None)


def mentions(text: str | list[str], stems: Iterable[str]) -> bool:
    return first_index(text, stems) is not None


def first_mentioned(text: str, options: dict[str, Iterable[str]]) -> str | None:
    """The key of `options` whose stems occur earliest in `text`."""
    said = words(text)
    found = [(index, key) for key, stems in options.items() if (index := first_index(said, stems)) is not None]
    return min(found, key=lambda pair: pair[0])[1] if found else None
