"""The deployment files agree with each other: the Compose stack, the Helm values, the
Dockerfiles, the production dagster.yaml, deploy/workspace.yaml and the README's table of which
service needs which environment. A name that drifts in one of them is a stack that does not start
(or a run container that cannot reach its database), found here instead of on a user's machine."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

from vidpipe_dagster.production import PRODUCTION_SETTINGS

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
SERVICES = ("vidpipe-code", "webserver", "daemon")


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="module")
def compose() -> dict:
    return load(DEPLOY / "docker-compose.yaml")


@pytest.fixture(scope="module")
def helm() -> dict:
    return load(DEPLOY / "helm" / "values.yaml")


@pytest.fixture(scope="module")
def instance_yaml() -> dict:
    return load(ROOT / "dagster.yaml")


def dockerfile(path: Path) -> dict[str, list[str]]:
    """Each instruction of a Dockerfile (continuation lines joined) -> its arguments, in order."""
    text = re.sub(r"\\\n\s*", " ", path.read_text())
    instructions: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            keyword, _, rest = line.strip().partition(" ")
            instructions.setdefault(keyword, []).append(rest.strip())
    return instructions


def exec_form(argument: str) -> list[str]:
    return yaml.safe_load(argument)


def value_after(args: list[str], flag: str) -> str:
    return args[args.index(flag) + 1]


def environment(service: dict) -> dict[str, str]:
    return {name: str(value) for name, value in service["environment"].items()}


def readme_table() -> dict[str, set[str]]:
    """The README's "Environment of each service" table: service -> the variables marked for it."""
    section = ROOT.joinpath("README.md").read_text().split("### Environment of each service", 1)[1]
    rows = [line for line in section.split("\n\n", 2)[1].splitlines() if line.startswith("| `")]
    header = [cell.strip(" `") for cell in section.split("\n\n", 2)[1].splitlines()[0].strip("|").split("|")]
    table: dict[str, set[str]] = {name: set() for name in header[1:4]}
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        for service, cell in zip(header[1:4], cells[1:4]):
            if cell == "✓":
                table[service].add(cells[0].strip("`"))
    return table


def test_the_user_code_image_is_the_code_server_the_runs_and_the_charts_user_deployment(compose, helm):
    code = compose["services"]["vidpipe-code"]
    assert code["build"]["dockerfile"] == "Dockerfile" and (ROOT / code["build"]["context"].replace("..", ".")).exists()
    assert environment(code)["DAGSTER_CURRENT_IMAGE"] == code["image"]
    assert compose["services"]["pools"]["image"] == code["image"]
    (deployment,) = helm["dagster-user-deployments"]["deployments"]
    assert f"{deployment['image']['repository']}:{deployment['image']['tag']}" == code["image"]


def test_the_webserver_and_daemon_share_the_slim_image_in_compose_and_in_the_chart(compose, helm):
    webserver, daemon = compose["services"]["webserver"], compose["services"]["daemon"]
    assert webserver["build"]["dockerfile"] == "deploy/Dockerfile.dagster"
    assert daemon["image"] == webserver["image"]
    for component in ("dagsterWebserver", "dagsterDaemon"):
        image = helm[component]["image"]
        assert f"{image['repository']}:{image['tag']}" == webserver["image"], component


def test_the_code_server_port_and_module_agree_everywhere(compose, helm):
    image = dockerfile(ROOT / "Dockerfile")
    command = exec_form(image["CMD"][-1])
    assert command[:3] == ["dagster", "api", "grpc"]
    port = value_after(command, "-p")
    assert image["EXPOSE"] == [port]
    assert value_after(exec_form(image["HEALTHCHECK"][-1].split("CMD", 1)[1]), "-p") == port
    code = compose["services"]["vidpipe-code"]
    assert value_after(code["healthcheck"]["test"], "-p") == port
    for service in ("webserver", "daemon"):
        assert environment(compose["services"][service])["VIDPIPE_CODE_SERVER_PORT"] == port
        assert environment(compose["services"][service])["VIDPIPE_CODE_SERVER_HOST"] == "vidpipe-code"
    (deployment,) = helm["dagster-user-deployments"]["deployments"]
    assert str(deployment["port"]) == port
    assert value_after(deployment["dagsterApiGrpcArgs"], "-m") == value_after(command, "-m") == "vidpipe_dagster.definitions"


def test_the_webserver_listens_where_compose_publishes_it_and_loads_the_deployment_workspace(compose, instance_yaml):
    webserver, daemon = compose["services"]["webserver"], compose["services"]["daemon"]
    port = value_after(webserver["entrypoint"], "-p")
    assert webserver["ports"] == [f"{port}:{port}"]
    assert f"127.0.0.1:{port}/" in " ".join(webserver["healthcheck"]["test"])
    slim = dockerfile(DEPLOY / "Dockerfile.dagster")
    copied = {shlex.split(copy)[-1]: shlex.split(copy)[:-1] for copy in slim["COPY"]}
    workspace = value_after(webserver["entrypoint"], "-w")
    assert copied[workspace] == ["deploy/workspace.yaml"]
    assert value_after(daemon["entrypoint"], "-w") == workspace
    # The workspace's host and port come from variables both processes have.
    (entry,) = load(DEPLOY / "workspace.yaml")["load_from"]
    for field in ("host", "port"):
        variable = entry["grpc_server"][field]["env"]
        assert variable in environment(webserver) and variable in environment(daemon)
    # The slim image carries the modules of vidpipe that dagster.yaml names and the daemon runs,
    # and nothing else of it.
    modules = {entry["module"] for entry in instance_yaml.values() if isinstance(entry, dict) and entry.get("module", "").startswith("vidpipe_dagster.")}
    modules.add(value_after(daemon["entrypoint"], "-m"))
    assert copied["/opt/dagster/app/vidpipe_dagster/"] == ["vidpipe_dagster/__init__.py", *sorted(f"{module.replace('.', '/')}.py" for module in modules)]


def test_run_containers_get_every_variable_the_code_server_has_and_the_daemon_holds_them_all(compose, instance_yaml):
    launcher = instance_yaml["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_docker", "DockerRunLauncher")
    passed_on = set(launcher["config"]["env_vars"])
    code = environment(compose["services"]["vidpipe-code"])
    assert passed_on == set(code) - {"DAGSTER_CURRENT_IMAGE"}
    assert passed_on <= set(environment(compose["services"]["daemon"]))
    assert set(PRODUCTION_SETTINGS) <= passed_on
    assert launcher["config"]["networks"] == [compose["networks"]["vidpipe"]["name"]]


def test_the_embedded_paths_volume_is_the_same_for_the_code_server_and_run_containers(compose, instance_yaml):
    (run_volume,) = instance_yaml["run_launcher"]["config"]["container_kwargs"]["volumes"]
    assert compose["services"]["vidpipe-code"]["volumes"] == [run_volume]
    volume, mount = run_volume.split(":")
    assert compose["volumes"][volume]["name"] == volume
    image_environment = dict(
        pair.split("=", 1) for line in dockerfile(ROOT / "Dockerfile")["ENV"] for pair in line.split() if "=" in pair
    )
    assert image_environment["VIDPIPE_HOME"] == mount
    assert image_environment["VIDPIPE_WORKSPACE_ROOT"].startswith(mount + "/")
    assert environment(compose["services"]["vidpipe-code"])["VIDPIPE_INBOX_URL"].startswith(mount + "/")


def test_every_service_restarts_and_the_long_running_ones_report_health(compose):
    services = compose["services"]
    for name in ("postgres", "gcs", *SERVICES):
        assert services[name]["restart"] == "unless-stopped", name
        assert services[name]["healthcheck"]["test"], name
    assert services["pools"]["restart"] == "no"


def test_the_chart_renders_the_instance_dagster_yaml_describes(helm, instance_yaml):
    coordinator = helm["dagsterDaemon"]["runCoordinator"]
    assert coordinator["type"] == "CustomRunCoordinator"
    custom = coordinator["config"]["customRunCoordinator"]
    assert {key: custom[key] for key in ("module", "class", "config")} == instance_yaml["run_coordinator"]
    runs, pools = helm["concurrency"]["runs"], helm["concurrency"]["pools"]
    assert helm["concurrency"]["enabled"] is True
    assert runs["maxConcurrentRuns"] == instance_yaml["concurrency"]["runs"]["max_concurrent_runs"]
    assert runs["tagConcurrencyLimits"] == instance_yaml["concurrency"]["runs"]["tag_concurrency_limits"]
    assert (pools["granularity"], pools["defaultLimit"]) == (
        instance_yaml["concurrency"]["pools"]["granularity"], instance_yaml["concurrency"]["pools"]["default_limit"]
    )  # fmt: skip
    assert snake_case(helm["dagsterDaemon"]["runMonitoring"]) == instance_yaml["run_monitoring"]
    assert snake_case(helm["dagsterDaemon"]["runRetries"]) == instance_yaml["run_retries"]
    assert helm["computeLogManager"]["type"] == instance_yaml["compute_logs"]["class"]
    assert snake_case(helm["computeLogManager"]["config"]["gcsComputeLogManager"]) == instance_yaml["compute_logs"]["config"]
    assert helm["pythonLogs"]["managedPythonLoggers"] == instance_yaml["python_logs"]["managed_python_loggers"]
    assert helm["runLauncher"]["type"] == "K8sRunLauncher"


def snake_case(values: dict) -> dict:
    return {re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower(): value for key, value in values.items()}


def test_the_chart_reads_every_secret_from_kubernetes_secrets_and_holds_none(helm):
    assert helm["postgresql"]["enabled"] is False and helm["postgresql"]["postgresqlPassword"] == ""
    assert helm["generatePostgresqlPasswordSecret"] is False and helm["global"]["postgresqlSecretName"]
    (deployment,) = helm["dagster-user-deployments"]["deployments"]
    secret_users = [deployment, helm["dagsterWebserver"], helm["dagsterDaemon"], helm["runLauncher"]["config"]["k8sRunLauncher"]]
    for user in secret_users:
        assert user["envSecrets"] == [{"name": "vidpipe-env"}]
        # The chart writes an `env` block into a ConfigMap, readable by anyone who can list them.
        assert "env" not in user and "envVars" not in user
    text = (DEPLOY / "helm" / "values.yaml").read_text()
    assert not re.search(r"://\w+:[^@\s]+@", text), "a URL with a password is written into the values"


def test_the_readme_table_lists_exactly_the_environment_of_each_service(compose):
    table = readme_table()
    assert set(table) == set(SERVICES)
    for service in SERVICES:
        assert table[service] == set(environment(compose["services"][service])), service


def test_the_images_lock_holds_every_dependency_with_the_pins_of_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = [Requirement(line) for line in [*project["dependencies"], *project["optional-dependencies"]["deploy"]]]
    locked = {}
    for line in (DEPLOY / "requirements.lock").read_text().splitlines():
        if line and not line.startswith((" ", "#")):
            requirement = Requirement(line)
            locked[requirement.name.lower()] = str(requirement.specifier).removeprefix("==")
    for requirement in declared:
        version = locked.get(requirement.name.lower())
        assert version is not None, f"{requirement.name} is missing from deploy/requirements.lock: run the command in its header"
        assert requirement.specifier.contains(version), f"{requirement.name}: locked {version}, pyproject asks {requirement.specifier}"


def test_the_emulator_creates_the_buckets_the_stack_writes_to(compose):
    (command,) = compose["services"]["gcs"]["command"]
    created = {path.removeprefix("/data/") for path in command.split("&&")[0].split()[2:]}
    code = environment(compose["services"]["vidpipe-code"])
    assert code["VIDPIPE_STORAGE_URL"].removeprefix("gs://").split("/")[0] in created
    assert code["VIDPIPE_COMPUTE_LOG_BUCKET"] in created
    assert environment(compose["services"]["webserver"])["VIDPIPE_COMPUTE_LOG_BUCKET"] in created
