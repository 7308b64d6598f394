"""Per-project switches a person sets: a stopped project is not advanced by the sequencing sensor.

Kept in the same database as the ledger, so every daemon and worker sees the same switch.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from dagster import ConfigurableResource
from pydantic import Field
from sqlalchemy.dialects import postgresql, sqlite

from vidpipe_dagster.domain import validate_project_id
from vidpipe_dagster.resources.database import METADATA, engine_for

project_controls = sa.Table(
    "vidpipe_project_controls",
    METADATA,
    sa.Column("project_id", sa.String(64), primary_key=True),
    sa.Column("paused", sa.Boolean, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)


class ProjectControls(ConfigurableResource):
    database_url: str = Field(description="SQLAlchemy URL of the database the ledger uses.")

    def set_paused(self, project_id: str, paused: bool) -> None:
        validate_project_id(project_id)
        engine = engine_for(self.database_url)
        with engine.begin() as connection:
            insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[connection.dialect.name]
            values = {"paused": paused, "updated_at": datetime.now(UTC)}
            connection.execute(
                insert(project_controls)
                .values(project_id=project_id, **values)
                .on_conflict_do_update(index_elements=["project_id"], set_=values)
            )

    def paused_projects(self) -> set[str]:
        with engine_for(self.database_url).connect() as connection:
            rows = connection.execute(sa.select(project_controls.c.project_id).where(project_controls.c.paused))
            return {row.project_id for row in rows}
