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

The webserver and the daemon load this module from dagster.yaml: it imports only Dagster.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ClassVar

from dagster._serdes import ConfigurableClassData
from dagster_postgres.event_log import PostgresEventLogStorage
from dagster_postgres.run_storage import PostgresRunStorage
from dagster_postgres.schedule_storage import PostgresScheduleStorage
from dagster_postgres.utils import create_pg_engine, get_token_provider_from_config, pg_url_from_config

# Idle connections a storage keeps: the daemon's threads (the queue, run monitoring, sensors,
# retries) query at the same moments, and a connection beyond these is closed when returned.
POOL_SIZE = 4
# Connections opened beyond the kept ones while more threads wait, rather than a thread waiting.
MAX_OVERFLOW = 16
# A kept connection older than this is replaced when next taken: a proxy or a server restart may
# have cut it meanwhile.
RECYCLE_SECONDS = 1800


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


class PooledPostgresRunStorage(_KeepsConnections, PostgresRunStorage):
    has_run_stats_index_cols = _remembered_once_found(PostgresRunStorage.has_run_stats_index_cols)
    has_backfill_id_column = _remembered_once_found(PostgresRunStorage.has_backfill_id_column)


class PooledPostgresEventLogStorage(_KeepsConnections, PostgresEventLogStorage):
    has_table = _remembered_once_found(PostgresEventLogStorage.has_table)
    has_asset_key_col = _remembered_once_found(PostgresEventLogStorage.has_asset_key_col)


class RememberingPostgresScheduleStorage(_SetUpOncePerProcess, PostgresScheduleStorage):
    has_instigators_table = _remembered_once_found(PostgresScheduleStorage.has_instigators_table)
    has_secondary_index_table = _remembered_once_found(PostgresScheduleStorage.has_secondary_index_table)
