"""Shared fixtures: real PostgreSQL, a real GCS emulator, a real Dagster instance, and an
environment that points vidpipe at per-test folders. Everything listens on loopback only."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterInstance, instance_for_test

from vidpipe_dagster_tests import services
from vidpipe_dagster_tests.dagster_stack import DagsterStack, deployment_environment


@pytest.fixture(scope="session")
def postgres_server_url(tmp_path_factory) -> Iterator[str]:
    """A PostgreSQL server: the one VIDPIPE_TEST_POSTGRES_URL names, else a throwaway pgserver."""
    with services.postgres_server(tmp_path_factory.mktemp("pg")) as url:
        yield url


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh database on the test server, dropped afterwards."""
    with services.fresh_database(postgres_server_url) as url:
        yield url


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[str]:
    """fake-gcs-server on loopback; google-cloud-storage finds it through STORAGE_EMULATOR_HOST."""
    with services.gcs_emulator() as url:
        yield url


@pytest.fixture
def gcs_bucket(gcs_emulator: str, monkeypatch) -> str:
    """A fresh, empty bucket on the emulator."""
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator)
    return services.create_bucket()


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


@pytest.fixture
def deployment(tmp_path: Path, postgres_url: str, monkeypatch) -> dict[str, str]:
    """The environment of a many-worker deployment on this machine (the production dagster.yaml;
    Dagster, the ledger and the leases in one fresh Postgres database), set in this process too."""
    environment = deployment_environment(tmp_path, postgres_url)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return environment


@pytest.fixture
def gcs_deployment(tmp_path: Path, postgres_url: str, gcs_bucket: str, monkeypatch) -> dict[str, str]:
    """The deployment with its objects and every step's compute logs in buckets on the GCS
    emulator, and the production check on (VIDPIPE_DEPLOYMENT=production, as the image sets it)."""
    compute_logs = services.create_bucket()
    environment = {
        **deployment_environment(tmp_path, postgres_url, compute_log_bucket=compute_logs),
        "VIDPIPE_DEPLOYMENT": "production",
        "VIDPIPE_STORAGE_URL": f"gs://{gcs_bucket}/objects",
        "VIDPIPE_INBOX_URL": str(tmp_path / "inbox"),
        "STORAGE_EMULATOR_HOST": os.environ["STORAGE_EMULATOR_HOST"],
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return environment


@pytest.fixture
def deployment_instance(deployment: dict[str, str]) -> Iterator[DagsterInstance]:
    with DagsterInstance.from_config(deployment["DAGSTER_HOME"]) as dagster_instance:
        yield dagster_instance


@pytest.fixture
def dagster_stack(deployment: dict[str, str], tmp_path: Path) -> Iterator[DagsterStack]:
    """dagster-webserver and dagster-daemon as separate processes on the deployment, with the
    pipeline's sensors stopped: the test launches every run itself. The lease reaper keeps
    watching, and finds a dead worker's run within seconds rather than the production minute."""
    environment = {**deployment, "VIDPIPE_LEASE_TTL_SECONDS": "10", "VIDPIPE_SENSOR_INTERVAL_SECONDS": "2"}
    with DagsterStack(environment, tmp_path / "stack-logs") as stack:
        stack.stop_sensors("inbox", "scene_sequencer")
        yield stack
