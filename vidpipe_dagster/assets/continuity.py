"""The continuity record between scenes: what scene N reads from scene N-1's accepted clip.

A clip stores the record it started from, what its scene changed and the rule its judge suggested;
the record after it is folded from those with the clip's own attempt number as provenance, so it
is exact for whichever attempt was accepted.
"""

from __future__ import annotations

from vidpipe_dagster.creative.state import fold, opening_record
from vidpipe_dagster.domain import Continuity, StateChange, StoredArtifact, Storyboard, scene_number


def continuity_after(board: Storyboard, clip: StoredArtifact) -> Continuity:
    """The record after the scene `clip` shows."""
    number = scene_number(clip.data["scene"])
    if "continuity_in" not in clip.data:  # a clip made before scenes kept a record
        return Continuity(after_scene=number, rules=list(board.rules))
    return fold(
        Continuity.model_validate(clip.data["continuity_in"]),
        board.scenes[number - 1],
        [StateChange.model_validate(change) for change in clip.data.get("changes", [])],
        rule_suggestion=clip.data.get("rule_suggestion"),
        attempt=clip.attempt,
    )


def continuity_before(board: Storyboard, previous_clip: StoredArtifact | None) -> Continuity:
    """The record a scene starts from: the opening one, or the one after its predecessor's clip."""
    return opening_record(board) if previous_clip is None else continuity_after(board, previous_clip)


def record_lines(record: Continuity) -> dict[str, list[str]]:
    """The record as metadata: state lines and rules, each rule with where it came from."""
    return {
        "state": [f"{line.subject}, {line.aspect}: {line.value} (since scene {line.since_scene})" for line in record.state],
        "rules": [f"{rule.text} [{rule.provenance}]" for rule in record.rules],
    }


def keyframes_record(board: Storyboard, scene_number_: int, keyframes: StoredArtifact) -> tuple[Continuity, list[StateChange]]:
    """The record the scene's keyframes were drawn from, and the changes they showed; the same ones
    go into its clip, so pictures and prompts agree."""
    if "continuity_in" not in keyframes.data:  # keyframes made before scenes kept a record
        return Continuity(after_scene=scene_number_ - 1, rules=list(board.rules)), []
    record = Continuity.model_validate(keyframes.data["continuity_in"])
    return record, [StateChange.model_validate(change) for change in keyframes.data.get("changes", [])]
