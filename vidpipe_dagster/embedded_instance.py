"""The embedded instance: its dagster.yaml, and Dagster's SQLite storages with each database's
engine made once.

Dagster's own SQLite run and event-log storages build a new SQLAlchemy engine for every
connection (NullPool, and no setting to change it): a 6-scene film made about 2,200 of them, each
initializing its dialect again, and opening, setting up and closing a SQLite connection for every
event. These subclasses keep one engine per database file (the runs database, the event-log index
and the most recent runs' logs) with one idle connection each; more connections open while
several threads write, and close when they are done.

They also commit without waiting for the disk (`synchronous=NORMAL`, on the WAL journal Dagster
puts every one of these databases in): a commit stays atomic and the database consistent after
any crash of a process; a power cut may lose the last events, which the embedded instance, one
person's machine, can afford. vidpipe's own ledger (resources/database.py) keeps waiting for the
disk, and deployments use PostgreSQL.

The webserver and the daemon load this module from dagster.yaml: it imports only Dagster.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources as package_files
from pathlib import Path

from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
)
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.pool import QueuePool


# Event-log databases (the index and the latest runs') whose engine and idle connection are kept.
KEPT_SHARDS = 16


def embedded_dagster_yaml(home: Path) -> str:
    """vidpipe's embedded dagster.yaml for `home`: SQLite storage under it."""
    template = package_files.files("vidpipe_dagster").joinpath("deploy/embedded.dagster.yaml").read_text()
    # The storages' folders are Dagster's defaults for a home, so an existing home keeps its history.
    return template.replace("{DAGSTER_HOME}", str(home.resolve()))


def write_embedded_dagster_yaml(home: Path) -> Path:
    """Put vidpipe's embedded dagster.yaml in `home`; vidpipe owns that file and writes it anew
    each time, so an upgrade's settings reach an existing home."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(embedded_dagster_yaml(home))
    return home


def _engine(conn_string: str, **connect_args: object) -> Engine:
    # One idle connection kept per database (more are opened as threads need them, and closed
    # when returned): opening, setting up and closing a SQLite connection per statement was most
    # of what an event cost.
    engine = create_engine(
        conn_string, poolclass=QueuePool, pool_size=1, max_overflow=-1,
        connect_args={"check_same_thread": False, **connect_args},
    )

    @event.listens_for(engine, "connect")
    def _commit_without_waiting_for_the_disk(connection, _record) -> None:
        connection.execute("PRAGMA synchronous=NORMAL")

    return engine


class EmbeddedSqliteEventLogStorage(SqliteEventLogStorage):
    """The per-run event logs and their index, one engine per shard."""

    def __init__(self, *args, **kwargs):
        # Before Dagster's own set-up, which connects to a new home's index.
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._engines_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> EmbeddedSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    def _shard_engine(self, shard: str) -> Engine:
        with self._engines_lock:
            if shard in self._engines:
                self._engines.move_to_end(shard)
                return self._engines[shard]
            # The most recently used shards only: a webserver reads thousands of runs' logs, and
            # each kept engine holds a file open.
            while len(self._engines) >= KEPT_SHARDS:
                self._engines.popitem(last=False)[1].dispose()
            engine = self._engines[shard] = _engine(self.conn_string_for_shard(shard), timeout=SQLITE_BUSY_TIMEOUT_SECONDS)
            return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        # Dagster's own body, with the engine kept instead of made and disposed each time.
        engine = self._shard_engine(shard)  # outside the lock: a new engine waits for logging's lock
        with self._db_lock:
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as connection, connection.begin():
                yield connection

    def has_table(self, table_name: str) -> bool:
        # Not through `_connect`: Dagster asks this while it holds an index connection.
        with self._shard_engine(INDEX_SHARD_NAME).connect() as connection:
            return bool(connection.dialect.has_table(connection, table_name))

    def dispose(self) -> None:
        super().dispose()
        with self._engines_lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()


class EmbeddedSqliteRunStorage(SqliteRunStorage):
    """The runs database, one engine for it."""

    def __init__(self, conn_string: str, inst_data=None):
        self._engine = _engine(conn_string)
        super().__init__(conn_string, inst_data)

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> EmbeddedSqliteRunStorage:
        return cls.from_local(inst_data=inst_data, **config_value)

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        with self._engine.connect() as connection, connection.begin():
            yield connection

    def dispose(self) -> None:
        super().dispose()
        self._engine.dispose()
