"""Dagster's Postgres storages, keeping their connections open between queries and remembering
the parts of the schema they have found.

Dagster's Postgres run, event-log and schedule storages open a new connection for every query
(NullPool), so that no instance holds a connection it is not using; only the webserver keeps them,
through `optimize_for_webserver`. For the server each new connection is a forked backend, an
authentication and a cold catalog cache. In `bench.concurrency` (20 runs, two at a time, on two
cores) the daemon, its code server, the run workers and the benchmark's own polling opened about
1,350 connections in 25 s, and Postgres spent 9 core-seconds on them: a fifth of the machine.

The run and event-log storages here keep up to POOL_SIZE idle connections each, in every process
that loads dagster.yaml: the daemon and its threads, the code servers' sensor ticks, run workers,
the CLI. The webserver still puts its own pool over them (with its statement timeout), and the one
it replaces is closed. The schedule storage still connects per query: a closed instance closes its
run and event-log storages but never its schedule storage, whose kept connections would outlive it
(and a run worker's parent must fork with none open). It is the least used of the three.

Dagster also asks the catalog, before most reads and writes, whether a table or a column is there
(a run worker about 80 times a run, most before each partition-existence check), and checks that
its tables exist whenever an instance opens. A migration only adds tables and columns, so all
three storages remember each one found present for their life, and ask again about one found
missing; and the tables are checked once per process (run workers are forked from a parent that
checked them). Tables, migrations and queries stay Dagster's.

The run storage also announces on a Postgres channel each run queued and each run ended, the
moments the run queue can move, for the queue daemon of vidpipe_dagster/daemon.py to look then.

The webserver and the daemon load this module from dagster.yaml: it imports only Dagster.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import select
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, ClassVar

from dagster import DagsterEvent, DagsterEventType
from dagster._serdes import ConfigurableClassData
from dagster_postgres.event_log import PostgresEventLogStorage
from dagster_postgres.run_storage import PostgresRunStorage
from dagster_postgres.schedule_storage import PostgresScheduleStorage
from dagster_postgres.utils import create_pg_engine, get_token_provider_from_config, pg_url_from_config
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

# Idle connections a storage keeps: the daemon's threads (the queue, run monitoring, sensors,
# retries) query at the same moments, and a connection beyond these is closed when returned.
POOL_SIZE = 4
# Connections opened beyond the kept ones while more threads wait, rather than a thread waiting.
MAX_OVERFLOW = 16
# A kept connection older than this is replaced when next taken: a proxy or a server restart may
# have cut it meanwhile.
RECYCLE_SECONDS = 1800
# The channel on which a run queued or ended is announced.
QUEUE_CHANNEL = "vidpipe_run_queue"
# A run queued, or a run's slot freed: what the queue daemon waits for.
QUEUE_MOVING_EVENTS = frozenset(
    {DagsterEventType.RUN_ENQUEUED, DagsterEventType.RUN_SUCCESS, DagsterEventType.RUN_FAILURE, DagsterEventType.RUN_CANCELED}
)

logger = logging.getLogger(__name__)


class _SetUpOncePerProcess:
    """One of Dagster's Postgres storages, built from dagster.yaml as the subclass named there
    (Dagster's build their own class in `from_config_value`, not `cls`), and checking that its
    tables exist once per process and database.

    Dagster checks each time an instance opens, over two fresh connections per storage. A run
    worker is forked from a parent that opened the instance; a code server opens one for every
    sensor tick; neither needs to ask again."""

    _tables_checked: ClassVar[set[str]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._tables_checked = set()

    def __init__(
        self,
        postgres_url: str,
        should_autocreate_tables: bool = True,
        inst_data: ConfigurableClassData | None = None,
        token_provider: Any = None,
    ) -> None:
        checked = postgres_url in self._tables_checked
        super().__init__(postgres_url, should_autocreate_tables and not checked, inst_data, token_provider)
        self.should_autocreate_tables = should_autocreate_tables
        if should_autocreate_tables:
            self._tables_checked.add(postgres_url)

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value: dict[str, Any]):
        return cls(
            inst_data=inst_data,
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value),
        )


class _KeepsConnections(_SetUpOncePerProcess):
    """Over one of Dagster's Postgres storages: its engine replaced, once Dagster's own set-up (the
    table check) is done, by one that keeps its connections."""

    postgres_url: str

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._engine = create_pg_engine(
            self.postgres_url,
            self._token_provider,
            isolation_level="AUTOCOMMIT",
            pool_size=POOL_SIZE,
            max_overflow=MAX_OVERFLOW,
            pool_recycle=RECYCLE_SECONDS,
        )

    def optimize_for_webserver(self, statement_timeout: int, pool_recycle: int, max_overflow: int) -> None:
        kept = self._engine
        super().optimize_for_webserver(statement_timeout, pool_recycle, max_overflow)
        kept.dispose()

    def dispose(self) -> None:
        # Dagster's Postgres storages have nothing to close here; these have their connections.
        super().dispose()
        self._engine.dispose()


def _remembered_once_found(check: Callable[..., bool]) -> Callable[..., bool]:
    """A schema check of Dagster's, asked of the database until it first answers yes."""

    @functools.wraps(check)
    def remembered(storage: object, *args: str) -> bool:
        # Kept on the storage, and made on first use: Dagster's set-up may already ask.
        found = storage.__dict__.setdefault("_schema_found", set())
        fact = (check.__name__, *args)
        if fact not in found:
            if not check(storage, *args):
                return False
            found.add(fact)
        return True

    return remembered


class QueueAnnouncements:
    """The run queue's announcements, heard on a connection of their own (opened on first wait,
    opened again after it fails). Announcements made while the connection was down are lost: a
    listener must look at the queue from time to time anyway."""

    def __init__(self, storage: PooledPostgresRunStorage):
        self._storage = storage
        self._connection = None
        self._failing = False

    def wait(self, timeout: float) -> bool:
        """Whether a run was queued or ended within `timeout` seconds (or since the last wait)."""
        try:
            listening = self._listening()
            if not listening.notifies:
                readable, _, _ = select.select([listening], [], [], timeout)
                if readable:
                    listening.poll()
        except Exception:
            if not self._failing:  # once, not on every retry while Postgres is out of reach
                logger.warning("Not hearing the run queue's announcements; looking every interval until heard again", exc_info=True)
            self._failing = True
            self.close()
            time.sleep(timeout)
            return False
        self._failing = False
        heard = bool(listening.notifies)
        listening.notifies.clear()
        return heard

    def _listening(self) -> Any:
        """The psycopg2 connection, listening, with what has arrived read from its socket."""
        if self._connection is None:
            self._connection = self._storage.listening_connection()
        listening = self._connection.connection.dbapi_connection
        listening.poll()
        return listening

    def close(self) -> None:
        if self._connection is not None:
            self._connection, connection = None, self._connection
            with contextlib.suppress(Exception):  # it may be the failed one
                connection.close()


class PooledPostgresRunStorage(_KeepsConnections, PostgresRunStorage):
    has_run_stats_index_cols = _remembered_once_found(PostgresRunStorage.has_run_stats_index_cols)
    has_backfill_id_column = _remembered_once_found(PostgresRunStorage.has_backfill_id_column)

    def handle_run_event(self, run_id: str, event: DagsterEvent, update_timestamp: datetime | None = None) -> None:
        super().handle_run_event(run_id, event, update_timestamp)
        if event.event_type in QUEUE_MOVING_EVENTS:
            # After the run's new status is committed, so that a queue looking now sees it. An
            # announcement is a shortcut: failing it must not fail the run's status, which is stored.
            try:
                with self.connect() as connection:
                    connection.exec_driver_sql(f"NOTIFY {QUEUE_CHANNEL}")
            except SQLAlchemyError:
                logger.warning("Run %s: the run queue was not told of its %s; it looks at its next interval", run_id, event.event_type_value, exc_info=True)

    def queue_announcements(self) -> QueueAnnouncements:
        return QueueAnnouncements(self)

    def listening_connection(self) -> Any:
        """A connection of its own (not the pool's), listening on the run queue's channel."""
        engine = create_pg_engine(self.postgres_url, self._token_provider, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        connection = engine.connect()
        connection.exec_driver_sql(f"LISTEN {QUEUE_CHANNEL}")
        return connection


class PooledPostgresEventLogStorage(_KeepsConnections, PostgresEventLogStorage):
    has_table = _remembered_once_found(PostgresEventLogStorage.has_table)
    has_asset_key_col = _remembered_once_found(PostgresEventLogStorage.has_asset_key_col)


class RememberingPostgresScheduleStorage(_SetUpOncePerProcess, PostgresScheduleStorage):
    has_instigators_table = _remembered_once_found(PostgresScheduleStorage.has_instigators_table)
    has_secondary_index_table = _remembered_once_found(PostgresScheduleStorage.has_secondary_index_table)
