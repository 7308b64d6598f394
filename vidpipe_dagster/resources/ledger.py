"""The attempt ledger: where attempt numbers come from, and the log of what became of each.

An attempt number is allocated by one atomic upsert on a counter row, so any number of processes
on any number of machines get unique, contiguous numbers without listing storage or keeping
anything in memory. The attempt log replaces the old system's `sceneMetrics`/`attemptMetrics`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from dagster import ConfigurableResource
from pydantic import BaseModel, Field

from vidpipe_dagster.resources.database import engine_for, upsert

if TYPE_CHECKING:
    import sqlalchemy as sa


class AttemptStatus(StrEnum):
    ALLOCATED = "allocated"
    STORED = "stored"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    # Never to be published: its step failed or its run died between allocation and publishing.
    ABANDONED = "abandoned"


class AttemptCopy(BaseModel):
    """An attempt's object, and the stored object it is a copy of."""

    source_key: str
    asset: str
    partition: str
    attempt: int
    object_key: str


class AttemptRecord(BaseModel):
    asset: str
    partition: str
    attempt: int
    status: AttemptStatus
    run_id: str | None = None
    uri: str | None = None
    scores: dict[str, Any] = Field(default_factory=dict)
    note: str | None = None
    objects: list[str] = Field(default_factory=list)
    created_at: datetime
    updated_at: datetime


class AttemptLedger(ConfigurableResource):
    """Allocates attempt numbers and records what happened to each attempt."""

    database_url: str = Field(description="SQLAlchemy URL: Postgres in production, SQLite embedded.")

    @property
    def engine(self) -> sa.Engine:
        return engine_for(self.database_url)

    def allocate(self, asset: str, partition: str, run_id: str | None = None) -> int:
        """The next attempt number of (asset, partition): unique and contiguous across processes."""
        from vidpipe_dagster.resources.tables import attempt_counters, attempt_log

        now = datetime.now(UTC)
        with self.engine.begin() as connection:
            insert = upsert(connection.dialect.name)(attempt_counters).values(
                asset=asset, partition=partition, last_attempt=1
            )
            statement = insert.on_conflict_do_update(
                index_elements=["asset", "partition"],
                set_={"last_attempt": attempt_counters.c.last_attempt + 1},
            ).returning(attempt_counters.c.last_attempt)
            attempt = connection.execute(statement).scalar_one()
            connection.execute(
                attempt_log.insert().values(
                    asset=asset,
                    partition=partition,
                    attempt=attempt,
                    status=AttemptStatus.ALLOCATED,
                    run_id=run_id,
                    created_at=now,
                    updated_at=now,
                )
            )
        return attempt

    def update(
        self,
        asset: str,
        partition: str,
        attempt: int,
        status: AttemptStatus,
        *,
        uri: str | None = None,
        scores: dict[str, Any] | None = None,
        note: str | None = None,
        objects: list[str] | None = None,
        connection: sa.Connection | None = None,
    ) -> None:
        """Record an attempt's new status (and its URI, scores or a note when given).

        Pass `connection` to make the update part of a caller's transaction (a fenced commit)."""
        from vidpipe_dagster.resources.tables import attempt_log

        values: dict[str, Any] = {"status": status, "updated_at": datetime.now(UTC)}
        if uri is not None:
            values["uri"] = uri
        if scores is not None:
            values["scores"] = json.dumps(scores, sort_keys=True)
        if note is not None:
            values["note"] = note
        if objects is not None:
            values["objects"] = json.dumps(objects)
        statement = (
            attempt_log.update()
            .where(
                attempt_log.c.asset == asset,
                attempt_log.c.partition == partition,
                attempt_log.c.attempt == attempt,
            )
            .values(**values)
        )
        if connection is not None:
            result = connection.execute(statement)
        else:
            with self.engine.begin() as own_connection:
                result = own_connection.execute(statement)
        if result.rowcount != 1:
            raise LookupError(f"no attempt {attempt} of {asset}[{partition}] in the ledger")

    def record_copies(self, asset: str, partition: str, attempt: int, copies: dict[str, str]) -> None:
        """This attempt's objects that are copies (source key -> object key); a source some
        earlier attempt already copied keeps naming that one, the original."""
        from vidpipe_dagster.resources.tables import object_copies

        now = datetime.now(UTC)
        with self.engine.begin() as connection:
            for source_key, object_key in copies.items():
                connection.execute(
                    upsert(connection.dialect.name)(object_copies)
                    .values(source_key=source_key, asset=asset, partition=partition, attempt=attempt, object_key=object_key, created_at=now)
                    .on_conflict_do_nothing(index_elements=["source_key"])
                )

    def first_copy(self, source_key: str) -> AttemptCopy | None:
        """The attempt that first stored a copy of `source_key`, or None."""
        import sqlalchemy as sa

        from vidpipe_dagster.resources.tables import object_copies

        with self.engine.connect() as connection:
            row = connection.execute(sa.select(object_copies).where(object_copies.c.source_key == source_key)).mappings().one_or_none()
        return None if row is None else AttemptCopy(**{key: row[key] for key in AttemptCopy.model_fields})

    def attempts(self, asset: str, partition: str | None = None, *, partition_prefix: str | None = None) -> list[AttemptRecord]:
        """The attempt log of one partition, or of every partition starting with a prefix."""
        import sqlalchemy as sa

        from vidpipe_dagster.resources.tables import attempt_log

        query = sa.select(attempt_log).where(attempt_log.c.asset == asset)
        if partition is not None:
            query = query.where(attempt_log.c.partition == partition)
        if partition_prefix is not None:
            query = query.where(attempt_log.c.partition.startswith(partition_prefix, autoescape=True))
        query = query.order_by(attempt_log.c.partition, attempt_log.c.attempt)
        with self.engine.connect() as connection:
            rows = connection.execute(query).mappings().all()
        return [_record(row) for row in rows]

    def with_status(self, status: AttemptStatus) -> list[AttemptRecord]:
        """Every attempt of every asset in `status` (the few in flight or left for clean-up)."""
        import sqlalchemy as sa

        from vidpipe_dagster.resources.tables import attempt_log

        query = sa.select(attempt_log).where(attempt_log.c.status == status).order_by(attempt_log.c.created_at)
        with self.engine.connect() as connection:
            return [_record(row) for row in connection.execute(query).mappings()]


def _record(row: Any) -> AttemptRecord:
    return AttemptRecord(
        **{
            **row,
            "scores": json.loads(row["scores"]) if row["scores"] else {},
            "objects": json.loads(row["objects"]) if row["objects"] else [],
            # SQLite hands back the UTC times it was given without their zone.
            "created_at": row["created_at"].replace(tzinfo=row["created_at"].tzinfo or UTC),
            "updated_at": row["updated_at"].replace(tzinfo=row["updated_at"].tzinfo or UTC),
        }
    )
