"""The embedded instance's storages: a home keeps its history, and runs from many processes all land."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from dagster import AssetKey, DagsterInstance, asset, materialize

from vidpipe_dagster.embedded_instance import (
    EmbeddedSqliteEventLogStorage,
    EmbeddedSqliteRunStorage,
    write_embedded_dagster_yaml,
)


@asset
def sketch() -> int:
    return 1


def test_a_home_made_by_dagsters_own_sqlite_storage_keeps_its_history(tmp_path: Path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with DagsterInstance.from_config(str(home)) as instance:
        before = materialize([sketch], instance=instance).run_id

    write_embedded_dagster_yaml(home)
    with DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance.run_storage, EmbeddedSqliteRunStorage)
        assert isinstance(instance.event_log_storage, EmbeddedSqliteEventLogStorage)
        assert instance.get_run_by_id(before) is not None
        assert instance.get_latest_materialization_event(AssetKey("sketch")).run_id == before
        after = materialize([sketch], instance=instance).run_id
        assert instance.get_latest_materialization_event(AssetKey("sketch")).run_id == after
        assert len(instance.get_run_records()) == 2


def _materialize_twice(home: str) -> list[str]:
    with DagsterInstance.from_config(home) as instance:
        return [materialize([sketch], instance=instance).run_id for _ in range(2)]


def test_runs_from_many_processes_at_once_all_land_in_the_event_log(tmp_path: Path):
    # Run workers, the daemon and the webserver are separate processes on the same files.
    home = str(write_embedded_dagster_yaml(tmp_path / "dagster_home"))
    DagsterInstance.from_config(home).dispose()  # the home's databases exist before anyone races, as with `vidpipe dev`
    with ProcessPoolExecutor(max_workers=4, mp_context=multiprocessing.get_context("spawn")) as pool:
        runs = [run for batch in pool.map(_materialize_twice, [home] * 4) for run in batch]
    with DagsterInstance.from_config(home) as instance:
        assert all(instance.get_run_by_id(run).is_success for run in runs)
        recorded = instance.fetch_materializations(AssetKey("sketch"), limit=100).records
        assert sorted(record.run_id for record in recorded) == sorted(runs)
