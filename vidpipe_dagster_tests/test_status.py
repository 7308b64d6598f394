"""`vidpipe status`: one row per scene with its score, verdict and the grades short of PASS."""

from datetime import datetime, timezone

from vidpipe_dagster.resources.ledger import AttemptRecord, AttemptStatus
from vidpipe_dagster.status import format_table, scene_statuses

GRADES = {"narrative_fidelity": "PASS", "character_consistency": "MAJOR", "technical_quality": "PASS",
          "emotional_authenticity": "MINOR", "continuity": "PASS"}


def record(scene: str, attempt: int, status: AttemptStatus, **scores) -> AttemptRecord:
    return AttemptRecord(asset="scene_clip", partition=f"p|{scene}", attempt=attempt, status=status,
                         scores=scores, updated_at=datetime(2026, 1, 1, tzinfo=timezone.utc), created_at=datetime(2026, 1, 1, tzinfo=timezone.utc))


def test_status_shows_the_verdict_and_the_grades_short_of_pass():
    rows = scene_statuses(["001", "002"], [
        record("001", 1, AttemptStatus.ACCEPTED, score=0.745, passed=False, verdict="MINOR_ISSUES", grades=GRADES),
    ])
    table = format_table(rows)
    first, second = table.splitlines()[1:]
    assert "0.74" in first or "0.75" in first
    assert "MINOR_ISSUES" in first and "accepted below the quality bar" in first
    assert "character consistency MAJOR, emotional authenticity MINOR" in first
    assert second.split()[:4] == ["002", "0", "-", "-"] and "waiting" in second
