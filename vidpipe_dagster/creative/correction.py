"""Correction by rewrite, the deterministic way: the prompt with the judge's fixes added.

The `local` text model uses this as its rewrite; a real text model's rewrite that drops part of
the prompt falls back to it, so a correction only ever adds to what already worked.
"""

from __future__ import annotations

from vidpipe_dagster.domain import JudgeIssue

_SEVERITY_ORDER = {"critical": 0, "major": 1, "minor": 2}


def fixes_for(issues: list[JudgeIssue], problems: list[str]) -> list[str]:
    """What the next attempt must fix: the judge's suggested fixes, most severe first, then what was
    measured; each once."""
    fixes = [issue.suggested_fix.strip() for issue in sorted(issues, key=lambda issue: _SEVERITY_ORDER[issue.severity])]
    fixes += [f"avoid what failed last time: {problem}" for problem in problems]
    return list(dict.fromkeys(fix for fix in fixes if fix))


def apply_fixes(prompt: str, fixes: list[str]) -> str:
    """`prompt` with every fix it does not already say appended, in order; unchanged if none."""
    said = prompt.lower()
    new = [fix.strip().rstrip(".") for fix in fixes if fix.strip() and fix.strip().rstrip(".").lower() not in said]
    new = list(dict.fromkeys(new))
    if not new:
        return prompt
    return f"{prompt.rstrip()} Required: {'; '.join(new)}."


def keeps_original(prompt: str, rewritten: str) -> bool:
    """Whether a rewrite kept the prompt's substance: at least as long, and every sentence's words
    still present (word order and phrasing may change)."""
    words = {word for word in _words(prompt) if len(word) > 3}
    kept = set(_words(rewritten))
    return len(rewritten) >= len(prompt) and len(words - kept) <= max(1, len(words) // 10)


def _words(text: str) -> list[str]:
    return [word.strip(".,;:!?()'\"").lower() for word in text.split()]
