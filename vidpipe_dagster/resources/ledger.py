"""The attempt ledger: where attempt numbers come from, and the log of what became of each.

An attempt number is allocated by one atomic upsert on a counter row, so any number of processes
on any number of machines get unique, contiguous numbers without listing storage or keeping
anything in memory. The attempt log replaces the old system's `sceneMetrics`/`attemptMetrics`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from dagster import ConfigurableResource
from pydantic import BaseModel, Field

from vidpipe_dagster.resources.database import METADATA, engine_for, upsert


class AttemptStatus(StrEnum):
    ALLOCATED = "allocated"
    STORED = "stored"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


attempt_counters = sa.Table(
    "vidpipe_attempt_counters",
    METADATA,
    sa.Column("asset", sa.String(255), primary_key=True),
    sa.Column("partition", sa.String(255), primary_key=True),
    sa.Column("last_attempt", sa.Integer, nullable=False),
)

attempt_log = sa.Table(
    "vidpipe_attempts",
    METADATA,
    sa.Column("asset", sa.String(255), primary_key=True),
    sa.Column("partition", sa.String(255), primary_key=True),
    sa.Column("attempt", sa.Integer, primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("run_id", sa.String(64)),
    sa.Column("uri", sa.Text),
    sa.Column("scores", sa.Text),
    sa.Column("note", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)


class AttemptRecord(BaseModel):
    asset: str
    partition: str
    attempt: int
    status: AttemptStatus
    run_id: str | None = None
    uri: str | None = None
    scores: dict[str, Any] = Field(default_factory=dict)
    note: str | None = None
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
        connection: sa.Connection | None = None,
    ) -> None:
        """Record an attempt's new status (and its URI, scores or a note when given).

        Pass `connection` to make the update part of a caller's transaction (a fenced commit)."""
        values: dict[str, Any] = {"status": status, "updated_at": datetime.now(UTC)}
        if uri is not None:
            values["uri"] = uri
        if scores is not None:
            values["scores"] = json.dumps(scores, sort_keys=True)
        if note is not None:
            values["note"] = note
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

    def attempts(self, asset: str, partition: str | None = None, *, partition_prefix: str | None = None) -> list[AttemptRecord]:
        """The attempt log of one partition, or of every partition starting with a prefix."""
        query = sa.select(attempt_log).where(attempt_log.c.asset == asset)
        if partition is not None:
            query = query.where(attempt_log.c.partition == partition)
        if partition_prefix is not None:
            query = query.where(attempt_log.c.partition.startswith(partition_prefix, autoescape=True))
        query = query.order_by(attempt_log.c.partition, attempt_log.c.attempt)
        with self.engine.connect() as connection:
            rows = connection.execute(query).mappings().all()
        return [
            AttemptRecord(**{**row, "scores": json.loads(row["scores"]) if row["scores"] else {}})
            for row in rows
        ]
