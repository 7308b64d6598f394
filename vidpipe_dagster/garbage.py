"""Objects no attempt will ever publish, found in the ledger and removed after a grace period.

Every attempt records the keys it writes before its first upload. One whose step fails on the
way is abandoned by the step itself, which removes what it can (`artifacts.abandon_attempt`). One
whose worker died outright (kill -9, a lost node) is still `allocated` once its run has ended:
it is abandoned here. Whatever an abandoned attempt may have left is removed once the attempt is
older than the grace period, so nothing a slow worker is still writing is taken from under it.
Nothing here lists storage: the ledger names every key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dagster import DagsterInstance

from vidpipe_dagster.resources.ledger import AttemptLedger, AttemptRecord, AttemptStatus
from vidpipe_dagster.resources.storage import BlobStore

GC_GRACE_SECONDS = int(os.environ.get("VIDPIPE_GC_GRACE_SECONDS", str(24 * 3600)))


def _label(record: AttemptRecord) -> str:
    return f"{record.asset}[{record.partition}] attempt {record.attempt}"


@dataclass(frozen=True)
class GarbageReport:
    abandoned: list[str]
    removed: list[str]
    left: list[str]

    def lines(self) -> list[str]:
        lines = [f"abandoned {label}: its run ended before it was published" for label in self.abandoned]
        lines += [f"removed {key}" for key in self.removed]
        lines += [f"could not remove {key} (kept for the next collection)" for key in self.left]
        lines.append(f"{len(self.abandoned)} attempt(s) abandoned, {len(self.removed)} object(s) removed")
        return lines


def _run_is_over(instance: DagsterInstance, record: AttemptRecord, cutoff: datetime) -> bool:
    run = instance.get_run_by_id(record.run_id) if record.run_id else None
    if run is not None:
        return run.is_finished
    # A run this instance does not know (another deployment's) is given the grace period.
    return record.created_at < cutoff


def collect_garbage(
    instance: DagsterInstance, ledger: AttemptLedger, store: BlobStore, grace_seconds: int = GC_GRACE_SECONDS
) -> GarbageReport:
    """Abandon the attempts whose run is over without publishing them, then remove the objects of
    abandoned attempts allocated more than `grace_seconds` ago."""
    cutoff = datetime.now(UTC) - timedelta(seconds=grace_seconds)
    abandoned = []
    for record in ledger.with_status(AttemptStatus.ALLOCATED):
        if _run_is_over(instance, record, cutoff):
            ledger.update(record.asset, record.partition, record.attempt, AttemptStatus.ABANDONED, note=f"its run {record.run_id} ended before it was published")
            abandoned.append(_label(record))
    removed, left = [], []
    for record in ledger.with_status(AttemptStatus.ABANDONED):
        if not record.objects or record.created_at >= cutoff:
            continue
        kept = []
        for key in record.objects:
            try:
                if store.delete(key):
                    removed.append(key)
            except Exception:  # storage unreachable: try again at the next collection
                kept.append(key)
        ledger.update(record.asset, record.partition, record.attempt, AttemptStatus.ABANDONED, objects=kept)
        left += kept
    return GarbageReport(abandoned, removed, left)
