"""A project's per-scene status, from the attempt ledger: what `vidpipe status` prints."""

from __future__ import annotations

from dataclasses import dataclass

from vidpipe_dagster.pricing import format_usd
from vidpipe_dagster.resources.ledger import AttemptRecord, AttemptStatus
from vidpipe_dagster.resources.paid_calls import CostTotals


@dataclass(frozen=True)
class SceneStatus:
    scene: str
    attempts: int
    accepted: int | None
    score: float | None
    state: str
    verdict: str | None = None
    grades: dict[str, str] | None = None


def scene_statuses(scene_keys: list[str], clip_attempts: list[AttemptRecord]) -> list[SceneStatus]:
    """One row per storyboard scene. The accepted attempt is the one most recently accepted (a
    person may have picked an earlier one)."""
    rows = []
    for key in scene_keys:
        attempts = [record for record in clip_attempts if record.partition.endswith(f"|{key}")]
        accepted = max((r for r in attempts if r.status == AttemptStatus.ACCEPTED), key=lambda r: r.updated_at, default=None)
        if accepted is not None:
            passed = accepted.scores.get("passed", True)
            state = "accepted" if passed else "accepted below the quality bar"
        elif attempts:
            state = "in progress" if attempts[-1].status == AttemptStatus.ALLOCATED else "no accepted attempt"
        else:
            state = "waiting"
        rows.append(
            SceneStatus(
                scene=key,
                attempts=len(attempts),
                accepted=accepted.attempt if accepted else None,
                score=accepted.scores.get("score") if accepted else None,
                state=state,
                verdict=accepted.scores.get("verdict") if accepted else None,
                grades=accepted.scores.get("grades") if accepted else None,
            )
        )
    return rows


def grades_text(grades: dict[str, str] | None) -> str:
    """The rubric's grades in short: the categories short of PASS, or 'all PASS'."""
    if not grades:
        return "-"
    weak = [f"{name.replace('_', ' ')} {grade}" for name, grade in grades.items() if grade != "PASS"]
    return ", ".join(weak) or "all PASS"


def format_table(rows: list[SceneStatus]) -> str:
    lines = [f"{'scene':<7}{'attempts':>9}{'accepted':>10}{'score':>8}  {'verdict':<13}{'state':<32}grades"]
    for row in rows:
        accepted = str(row.accepted) if row.accepted is not None else "-"
        score = f"{row.score:.2f}" if row.score is not None else "-"
        lines.append(
            f"{row.scene:<7}{row.attempts:>9}{accepted:>10}{score:>8}  {row.verdict or '-':<13}{row.state:<32}{grades_text(row.grades)}"
        )
    return "\n".join(lines)


def format_costs(totals: CostTotals) -> str:
    """The project's money, then one row per step or scene that made model calls."""
    lines = [
        f"costs: {totals.budget.describe()}; {totals.paid_calls} paid calls, {totals.reused_calls} answered from storage",
        f"{'for':<9}{'spent':>10}{'reserved':>10}{'paid':>6}{'reused':>8}",
    ]
    for partition, costs in sorted(totals.partitions.items()):
        label = partition.partition("|")[2] or "project"
        lines.append(
            f"{label:<9}{format_usd(costs.spent_micros):>10}{format_usd(costs.reserved_micros):>10}"
            f"{costs.paid_calls:>6}{costs.reused_calls:>8}"
        )
    return "\n".join(lines)
