"""The continuity record, folded forward scene by scene.

A change names its subject (one character or one place) and an aspect; a later change to the same
aspect of the same subject replaces it, so a coat that was soaked can dry, and nobody else's coat
gets wet (the old system changed every character in a scene alike).
"""

from __future__ import annotations

from vidpipe_dagster.creative.rules import learn
from vidpipe_dagster.domain import Continuity, Scene, StateChange, StateLine, Storyboard


def opening_record(board: Storyboard) -> Continuity:
    """The record before the first scene: nothing has changed yet; the storyboard's rules are in force."""
    return Continuity(after_scene=0, state=[], rules=list(board.rules))


def apply_changes(state: list[StateLine], changes: list[StateChange], scene: int) -> list[StateLine]:
    lines = {(line.subject, line.aspect.lower()): line for line in state}
    for change in changes:
        lines[(change.subject, change.aspect.lower())] = StateLine(
            subject=change.subject, aspect=change.aspect, value=change.value, since_scene=scene
        )
    return list(lines.values())


def fold(
    before: Continuity,
    scene: Scene,
    changes: list[StateChange],
    *,
    rule_suggestion: str | None = None,
    attempt: int = 1,
) -> Continuity:
    """The record after `scene`: its changes applied, and its judge's rule suggestion learned.
    `before` is the record after the last kept scene before it (skipped scenes leave none)."""
    if before.after_scene >= scene.number:
        raise ValueError(f"scene {scene.number} must fold a record from before it, got the one after scene {before.after_scene}")
    return Continuity(
        after_scene=scene.number,
        state=apply_changes(before.state, changes, scene.number),
        rules=learn(before.rules, rule_suggestion, scene=scene.number, attempt=attempt),
    )


def lines_for(state: list[StateLine], subject: str) -> list[StateLine]:
    return [line for line in state if line.subject == subject]
