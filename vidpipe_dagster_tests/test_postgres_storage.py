"""The production instance's Postgres storages, on a real server: connections kept between queries,
schema checks asked until answered, nothing left open once the instance is closed, and the run
queue's moments announced to whoever listens."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from dagster import DagsterEvent, DagsterEventType, DagsterInstance, DagsterRun, asset, materialize
from dagster._core.utils import make_new_run_id

from vidpipe_dagster.postgres_storage import PooledPostgresEventLogStorage, PooledPostgresRunStorage
from vidpipe_dagster_tests.dagster_stack import wait_for


@asset
def sketch() -> int:
    return 1


class Traffic:
    """What this process sends Postgres meanwhile, from any engine."""

    def __init__(self):
        self.connections = 0
        self.statements: list[str] = []

    def connected(self, _dbapi_connection, _record) -> None:
        self.connections += 1

    def sent(self, _connection, _cursor, statement, *_rest) -> None:
        self.statements.append(statement)

    def catalog_queries(self) -> list[str]:
        return [statement for statement in self.statements if "pg_catalog" in statement]


@contextmanager
def traffic() -> Iterator[Traffic]:
    seen = Traffic()
    sa.event.listen(sa.Engine, "connect", seen.connected)
    sa.event.listen(sa.Engine, "before_cursor_execute", seen.sent)
    try:
        yield seen
    finally:
        sa.event.remove(sa.Engine, "connect", seen.connected)
        sa.event.remove(sa.Engine, "before_cursor_execute", seen.sent)


def work(instance: DagsterInstance) -> None:
    """What a run worker or the daemon does over and over: runs looked up, events written,
    partitions checked."""
    run_id = materialize([sketch], instance=instance).run_id
    for _ in range(10):
        instance.get_run_record_by_id(run_id)
        instance.get_run_records(limit=5)
        instance.has_dynamic_partition("projects", "lighthouse")


def plain_postgres_home(tmp_path: Path) -> str:
    home = tmp_path / "plain_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        "storage:\n  postgres:\n    postgres_url:\n      env: DAGSTER_PG_URL\ntelemetry:\n  enabled: false\n"
    )
    return str(home)


def test_the_production_instance_keeps_its_connections_where_dagsters_own_opens_one_a_query(deployment, deployment_instance, tmp_path):
    assert isinstance(deployment_instance.run_storage, PooledPostgresRunStorage)
    assert isinstance(deployment_instance.event_log_storage, PooledPostgresEventLogStorage)
    with traffic() as kept:
        work(deployment_instance)
    with DagsterInstance.from_config(plain_postgres_home(tmp_path)) as dagsters_own, traffic() as per_query:
        work(dagsters_own)

    # One for each of the run and event-log storages, and any Dagster's materialize opens beside them.
    assert kept.connections <= 4, f"{kept.connections} connections opened"
    assert per_query.connections >= 30, f"Dagster's storage is expected to connect for every query, it opened {per_query.connections}"


def test_a_table_found_is_not_asked_about_again_and_one_found_missing_is(deployment_instance, postgres_url):
    """Dagster checks for the partitions table before every partition-existence query."""
    storage = deployment_instance.event_log_storage
    storage.has_dynamic_partition("projects", "lighthouse")
    with traffic() as sent:
        for _ in range(10):
            storage.has_dynamic_partition("projects", "lighthouse")
    assert sent.catalog_queries() == []
    assert len(sent.statements) == 10

    assert not storage.has_table("added_by_a_later_migration")
    migration = sa.create_engine(postgres_url)
    with migration.begin() as connection:
        connection.execute(sa.text("CREATE TABLE added_by_a_later_migration (id int)"))
    migration.dispose()
    assert storage.has_table("added_by_a_later_migration")


@contextmanager
def open_connections_named(postgres_url: str, monkeypatch) -> Iterator:
    """A count of the server's open connections that this process opens from now on (libpq names
    them after PGAPPNAME)."""
    name = f"vidpipe-test-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("PGAPPNAME", name)
    observer = sa.create_engine(postgres_url, connect_args={"application_name": "observer"})
    query = sa.text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :name")

    def count() -> int:
        with observer.connect() as connection:
            return connection.execute(query, {"name": name}).scalar_one()

    try:
        yield count
    finally:
        observer.dispose()


def test_closing_the_instance_closes_its_connections_and_the_webservers_pool_replaces_the_kept_one(deployment, postgres_url, monkeypatch):
    """A run worker's parent forks with no connection open; the webserver's own pool (with its
    statement timeout) takes over from the kept connections instead of adding to them."""
    with open_connections_named(postgres_url, monkeypatch) as open_now:
        with DagsterInstance.from_config(deployment["DAGSTER_HOME"]) as instance:
            work(instance)
            assert open_now() >= 2

            instance.optimize_for_webserver(statement_timeout=5000, pool_recycle=3600, max_overflow=4)
            wait_for(lambda: open_now() == 0, 10, "the kept connections to close")
            instance.get_run_records(limit=1)
            assert open_now() == 1

        wait_for(lambda: open_now() == 0, 10, "the instance's connections to close")


def test_an_instance_opened_again_in_the_same_process_does_not_check_its_tables_again(deployment, deployment_instance):
    """As a run worker forked from a parent that opened it does, or a code server's next sensor
    tick: Dagster's own storages check their tables over two new connections each, every time."""
    with traffic() as opening, DagsterInstance.from_config(deployment["DAGSTER_HOME"]):
        pass
    assert opening.connections == 0


def report(instance: DagsterInstance, run: DagsterRun, event_type: DagsterEventType) -> None:
    instance.report_dagster_event(DagsterEvent(event_type.value, run.job_name), run_id=run.run_id)


def test_a_run_ending_is_announced_to_the_queue_and_a_run_starting_is_not(deployment_instance):
    """The moments a project's next run can be launched: the queue daemon looks then, not at its
    next tick. (A run queued is announced too: test_daemon launches runs only on announcements.)"""
    announcements = deployment_instance.run_storage.queue_announcements()
    try:
        assert not announcements.wait(0)  # listening from here on
        for ending in (DagsterEventType.RUN_SUCCESS, DagsterEventType.RUN_CANCELED):
            run = deployment_instance.add_run(DagsterRun(job_name="sketch_job", run_id=make_new_run_id()))
            report(deployment_instance, run, DagsterEventType.RUN_START)
            assert not announcements.wait(0.5)
            report(deployment_instance, run, ending)
            assert announcements.wait(10)
            assert deployment_instance.get_run_by_id(run.run_id).is_finished
    finally:
        announcements.close()


def test_the_queue_hears_announcements_again_after_its_connection_is_cut(deployment_instance, postgres_url):
    """A Postgres restart or a proxy's cut costs the queue what was announced meanwhile (its
    regular look finds those runs), not its listening."""
    announcements = deployment_instance.run_storage.queue_announcements()
    server = sa.create_engine(postgres_url)

    def listening() -> list[int]:
        with server.begin() as connection:
            return connection.execute(sa.text(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'"
            )).scalars().all()  # fmt: skip

    try:
        announcements.wait(0)
        (cut,) = listening()
        with server.begin() as connection:
            connection.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": cut})
        # The cut is found on a later wait, and not raised to the daemon; a wait after it listens again.
        wait_for(lambda: not announcements.wait(0.1) and listening() not in ([], [cut]), 30, "the queue to listen again")

        run = deployment_instance.add_run(DagsterRun(job_name="sketch_job", run_id=make_new_run_id()))
        report(deployment_instance, run, DagsterEventType.RUN_SUCCESS)
        assert announcements.wait(10)
    finally:
        announcements.close()
        server.dispose()
