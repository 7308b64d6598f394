"""Per-project switches a person sets: a stopped project is not advanced by the sequencing sensor,
and each resume starts a new generation, which lets the sequencer ask again for a step whose run
failed or was stopped (it never asks twice within one generation). A skipped scene is left out of
the cut, and the scene after it opens on the last kept scene. What needs a person's attention (the
step of the project's last failed run, and its error) is kept here too, until the project resumes
or a later run of the same partition succeeds.

Kept in the same database as the ledger, so every daemon and worker sees the same switch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from dagster import ConfigurableResource
from pydantic import Field

from vidpipe_dagster.domain import scene_number, validate_project_id
from vidpipe_dagster.resources.database import engine_for, upsert


@dataclass(frozen=True)
class Attention:
    run_id: str
    step: str
    partition: str
    error: str
    failed_at: datetime

    def describe(self) -> str:
        return f"step {self.step} [{self.partition}] failed in run {self.run_id[:8]}: {self.error}"


class ProjectControls(ConfigurableResource):
    database_url: str = Field(description="SQLAlchemy URL of the database the ledger uses.")

    def set_paused(self, project_id: str, paused: bool) -> None:
        import sqlalchemy as sa

        from vidpipe_dagster.resources.tables import project_attention, project_controls

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
            if not paused:
                connection.execute(sa.delete(project_attention).where(project_attention.c.project_id == project_id))

    def skip_scene(self, project_id: str, scene: str, reason: str) -> None:
        """Leave a scene out of the project's cut; skipping it again replaces the reason."""
        from vidpipe_dagster.resources.tables import scene_skips

        validate_project_id(project_id)
        scene_number(scene)
        now = datetime.now(UTC)
        with engine_for(self.database_url).begin() as connection:
            insert = upsert(connection.dialect.name)
            connection.execute(
                insert(scene_skips)
                .values(project_id=project_id, scene=scene, reason=reason, skipped_at=now)
                .on_conflict_do_update(index_elements=["project_id", "scene"], set_={"reason": reason, "skipped_at": now})
            )

    def unskip_scene(self, project_id: str, scene: str) -> None:
        import sqlalchemy as sa

        from vidpipe_dagster.resources.tables import scene_skips

        with engine_for(self.database_url).begin() as connection:
            connection.execute(sa.delete(scene_skips).where(scene_skips.c.project_id == project_id, scene_skips.c.scene == scene))

    def skipped(self, project_id: str) -> dict[str, str]:
        """scene key -> reason, for the project's skipped scenes."""
        import sqlalchemy as sa

        from vidpipe_dagster.resources.tables import scene_skips

        with engine_for(self.database_url).connect() as connection:
            rows = connection.execute(sa.select(scene_skips.c.scene, scene_skips.c.reason).where(scene_skips.c.project_id == project_id))
            return {row.scene: row.reason for row in rows}

    def record_attention(self, project_id: str, run_id: str, step: str, partition: str, error: str) -> None:
        from vidpipe_dagster.resources.tables import project_attention

        now = datetime.now(UTC)
        values = {"run_id": run_id, "step": step, "partition": partition, "error": error, "failed_at": now}
        with engine_for(self.database_url).begin() as connection:
            insert = upsert(connection.dialect.name)
            connection.execute(
                insert(project_attention).values(project_id=project_id, **values).on_conflict_do_update(index_elements=["project_id"], set_=values)
            )

    def attention(self, project_id: str) -> Attention | None:
        """The project's last failure, until the project is resumed or a run of the same partition succeeds."""
        import sqlalchemy as sa

        from vidpipe_dagster.resources.tables import project_attention

        with engine_for(self.database_url).connect() as connection:
            row = connection.execute(sa.select(project_attention).where(project_attention.c.project_id == project_id)).first()
        return None if row is None else Attention(row.run_id, row.step, row.partition, row.error, row.failed_at)

    def clear_attention(self, project_id: str, partition: str) -> bool:
        """Forget the project's failure if it was in `partition`; True if there was one."""
        import sqlalchemy as sa

        from vidpipe_dagster.resources.tables import project_attention

        with engine_for(self.database_url).begin() as connection:
            result = connection.execute(
                sa.delete(project_attention).where(project_attention.c.project_id == project_id, project_attention.c.partition == partition)
            )
            return result.rowcount > 0

    def states(self) -> dict[str, tuple[bool, int]]:
        """project -> (paused, generation), for every project a person ever stopped or resumed."""
        import sqlalchemy as sa

        from vidpipe_dagster.resources.tables import project_controls

        with engine_for(self.database_url).connect() as connection:
            rows = connection.execute(sa.select(project_controls.c.project_id, project_controls.c.paused, project_controls.c.generation))
            return {row.project_id: (row.paused, row.generation) for row in rows}
