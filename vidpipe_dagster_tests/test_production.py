"""A deployed code server names the settings it is missing, and the production dagster.yaml (and
the instance the Helm values render) loads with the deploy extra's launchers and dagster-gcp."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from dagster import DagsterInstance
from dagster._config import validate_config
from dagster._core.errors import DagsterInvalidConfigError
from dagster._serdes.config_class import ConfigurableClassData
from dagster_docker import DockerRunLauncher
from dagster_gcp.gcs.compute_log_manager import GCSComputeLogManager
from dagster_k8s import K8sRunLauncher

from vidpipe_dagster.domain import InvalidInput
from vidpipe_dagster.production import PRODUCTION_SETTINGS, check_production_settings
from vidpipe_dagster.run_coordinator import ProjectRunCoordinator
from vidpipe_dagster_tests.test_deploy_config import DEPLOY, ROOT, snake_case

COMPLETE = {
    "VIDPIPE_DATABASE_URL": "postgresql+psycopg2://vidpipe:secret@db:5432/vidpipe",
    "VIDPIPE_STORAGE_URL": "gs://films/objects",
    "VIDPIPE_INBOX_URL": "gs://films/inbox",
}


def test_complete_settings_pass() -> None:
    check_production_settings(COMPLETE)


@pytest.mark.parametrize("missing", sorted(PRODUCTION_SETTINGS))
def test_each_missing_setting_is_named(missing: str) -> None:
    with pytest.raises(InvalidInput, match=f"{missing} is not set") as caught:
        check_production_settings({**COMPLETE, missing: " "})
    assert "secret" not in str(caught.value)


def test_a_sqlite_ledger_is_refused_in_production() -> None:
    with pytest.raises(InvalidInput, match="VIDPIPE_DATABASE_URL is a SQLite file"):
        check_production_settings({**COMPLETE, "VIDPIPE_DATABASE_URL": "sqlite:///vidpipe.db"})


def test_the_image_refuses_to_start_without_them_and_leaves_no_sqlite_file(tmp_path: Path) -> None:
    environment = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "VIDPIPE_DEPLOYMENT": "production", "DAGSTER_HOME": str(tmp_path)}
    load = subprocess.run(
        [sys.executable, "-c", "import vidpipe_dagster.definitions"],
        cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert load.returncode != 0
    for name in PRODUCTION_SETTINGS:
        assert f"{name} is not set" in load.stderr
    assert not list(tmp_path.rglob("*.db")) and not (tmp_path / ".vidpipe").exists()


def test_the_production_dagster_yaml_loads_with_docker_runs_and_gcs_compute_logs(tmp_path, postgres_url, gcs_bucket, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_PG_URL", postgres_url)
    monkeypatch.setenv("VIDPIPE_COMPUTE_LOG_BUCKET", gcs_bucket)
    with DagsterInstance.from_config(str(home)) as instance:
        launcher = instance.run_launcher
        assert isinstance(launcher, DockerRunLauncher)
        assert launcher.networks == ["vidpipe"] and "VIDPIPE_DATABASE_URL" in launcher.env_vars
        assert launcher.container_kwargs["volumes"] == ["vidpipe-data:/var/lib/vidpipe"]
        assert isinstance(instance.compute_log_manager, GCSComputeLogManager)
        assert isinstance(instance.run_coordinator, ProjectRunCoordinator)
        assert instance.run_monitoring_enabled and instance.run_retries_enabled


def chart_k8s_run_launcher_config(values: dict) -> dict:
    """The K8sRunLauncher config the chart renders from the values (the chart's own names where it
    adds them: its templates/helpers/instance/_run-launcher.tpl)."""
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    return {
        "load_incluster_config": True,
        "job_namespace": "vidpipe",
        "image_pull_policy": "Always",
        "service_account_name": "vidpipe-dagster",
        "dagster_home": "/opt/dagster/dagster_home",
        "instance_config_map": "vidpipe-dagster-instance",
        "postgres_password_secret": values["global"]["postgresqlSecretName"],
        "env_secrets": [secret["name"] for secret in launcher["envSecrets"]],
        "run_k8s_config": {"pod_spec_config": launcher["runK8sConfig"]["podSpecConfig"]},
    }


def test_the_chart_values_give_a_valid_k8s_run_launcher_and_gcs_compute_log_manager() -> None:
    values = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())
    assert values["runLauncher"]["type"] == K8sRunLauncher.__name__
    launcher = validate_config(K8sRunLauncher.config_type(), chart_k8s_run_launcher_config(values))
    assert launcher.success, launcher.errors
    assert values["computeLogManager"]["type"] == GCSComputeLogManager.__name__
    logs = snake_case(values["computeLogManager"]["config"]["gcsComputeLogManager"])
    assert validate_config(GCSComputeLogManager.config_type(), logs).success


def test_a_misspelled_launcher_setting_is_refused_by_the_same_check() -> None:
    data = ConfigurableClassData("dagster_docker", "DockerRunLauncher", yaml.safe_dump({"network_list": ["vidpipe"]}))
    with pytest.raises(DagsterInvalidConfigError, match="network_list"):
        data.rehydrate(as_type=DockerRunLauncher)
