"""The SQL database vidpipe keeps its own tables in (attempt ledger, leases).

Production points at the same Postgres as Dagster's storage; embedded, a SQLite file. Tables
(tables.py) are created idempotently on first use, never at definition load, and SQLAlchemy is
imported only then.
"""

from __future__ import annotations

import functools
import time
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlalchemy as sa

_SCHEMA_LOCK_ID = zlib.crc32(b"vidpipe-schema")


def normalize_database_url(url: str) -> str:
    """`postgresql://` means psycopg 3 to SQLAlchemy 2.1, which dagster-postgres does not support."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix) :]
    return url


def upsert(dialect_name: str):
    """The dialect's `insert`, the one with ON CONFLICT DO UPDATE."""
    from sqlalchemy.dialects import postgresql, sqlite

    return {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[dialect_name]


def database_now(dialect: str) -> sa.ColumnElement[float]:
    """Seconds since the epoch by the database's clock, the one clock every worker shares."""
    import sqlalchemy as sa

    if dialect == "postgresql":
        # clock_timestamp(), not now(): now() is frozen at the start of the transaction.
        return sa.cast(sa.extract("epoch", sa.func.clock_timestamp()), sa.Double)
    # julianday('now') has millisecond resolution; CURRENT_TIMESTAMP only whole seconds.
    return sa.literal_column("((julianday('now') - 2440587.5) * 86400.0)", sa.Double)


def _use_wal(dbapi_connection, patience_s: float = 60.0) -> None:
    """Put the database in WAL mode. SQLite refuses the switch at once, without its busy wait,
    while another connection holds a lock, as when several workers open a fresh database together:
    try again until it goes through (a database already in WAL says so at once)."""
    import sqlite3

    deadline = time.monotonic() + patience_s
    while True:
        try:
            dbapi_connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@functools.cache
def engine_for(url: str) -> sa.Engine:
    """One connection pool per URL per process (a pool, not pipeline state)."""
    import sqlalchemy as sa

    url = normalize_database_url(url)
    if url.startswith("sqlite"):
        database = sa.engine.make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)  # a fresh home's first write
        engine = sa.create_engine(url, connect_args={"timeout": 60})

        @sa.event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_connection, _record) -> None:
            # WAL lets readers proceed while one process writes. Autocommit at the driver level
            # hands transaction control to the "begin" hook below (SQLAlchemy's documented recipe).
            dbapi_connection.isolation_level = None
            _use_wal(dbapi_connection)

        @sa.event.listens_for(engine, "begin")
        def _sqlite_begin(connection) -> None:
            # Take the write lock up front so a read-then-write transaction cannot be overtaken
            # between its statements by another process.
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    else:
        engine = sa.create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=4)
    _ensure_schema(engine)
    return engine


@functools.cache
def autocommit_engine_for(url: str) -> sa.Engine:
    """A Postgres pool whose connections commit each statement on its own, for statements that
    are a whole transaction by themselves: no BEGIN or COMMIT round trips, and no switching a
    shared pool's connections in and out of autocommit on every checkout. Commits stay durable."""
    import sqlalchemy as sa

    engine_for(url)  # the schema
    return sa.create_engine(normalize_database_url(url), isolation_level="AUTOCOMMIT", pool_pre_ping=True, pool_size=1, max_overflow=4)


def _ensure_schema(engine: sa.Engine) -> None:
    import sqlalchemy as sa

    from vidpipe_dagster.resources.tables import METADATA

    with engine.begin() as connection:
        # Every run worker opens the database afresh: three catalog queries for all the tables at
        # once in the usual case, where asking table by table took 22 (and a lock).
        found = sa.inspect(connection).get_multi_columns(filter_names=[table.name for table in METADATA.sorted_tables])
        present = {(table, column["name"]) for (_schema, table), columns in found.items() for column in columns}
        if all((table.name, column.name) in present for table in METADATA.sorted_tables for column in table.columns):
            return
        if connection.dialect.name == "postgresql":
            # Two workers starting together would otherwise race on CREATE TABLE.
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _SCHEMA_LOCK_ID})
        METADATA.create_all(connection, checkfirst=True)
        _add_new_columns(connection)


def _add_new_columns(connection: sa.Connection) -> None:
    """Give a database made by an earlier vidpipe the (nullable) columns added since."""
    import sqlalchemy as sa

    from vidpipe_dagster.resources.tables import METADATA

    inspector = sa.inspect(connection)
    for table in METADATA.sorted_tables:
        existing = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in existing:
                kind = column.type.compile(dialect=connection.dialect)
                connection.execute(sa.text(f"ALTER TABLE {table.name} ADD COLUMN {column.name} {kind}"))
