"""Per-project switches a person sets: a stopped project is not advanced by the sequencing sensor,
and each resume starts a new generation, which lets the sequencer ask again for a step whose run
failed or was stopped (it never asks twice within one generation).

Kept in the same database as the ledger, so every daemon and worker sees the same switch.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from dagster import ConfigurableResource
from pydantic import Field

from vidpipe_dagster.domain import validate_project_id
from vidpipe_dagster.resources.database import METADATA, engine_for, upsert

project_controls = sa.Table(
    "vidpipe_project_controls",
    METADATA,
    sa.Column("project_id", sa.String(64), primary_key=True),
    sa.Column("paused", sa.Boolean, nullable=False),
    sa.Column("generation", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)


class ProjectControls(ConfigurableResource):
    database_url: str = Field(description="SQLAlchemy URL of the database the ledger uses.")

    def set_paused(self, project_id: str, paused: bool) -> None:
        validate_project_id(project_id)
        engine = engine_for(self.database_url)
        now = datetime.now(UTC)
        with engine.begin() as connection:
            insert = upsert(connection.dialect.name)
            generation = project_controls.c.generation + (0 if paused else 1)
            connection.execute(
                insert(project_controls)
                .values(project_id=project_id, paused=paused, generation=0 if paused else 1, updated_at=now)
                .on_conflict_do_update(index_elements=["project_id"], set_={"paused": paused, "generation": generation, "updated_at": now})
            )

    def states(self) -> dict[str, tuple[bool, int]]:
        """project -> (paused, generation), for every project a person ever stopped or resumed."""
        with engine_for(self.database_url).connect() as connection:
            rows = connection.execute(sa.select(project_controls.c.project_id, project_controls.c.paused, project_controls.c.generation))
            return {row.project_id: (row.paused, row.generation) for row in rows}
