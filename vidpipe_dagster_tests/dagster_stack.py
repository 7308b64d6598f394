"""A many-worker deployment on this machine, for the tests and the benchmarks: Dagster's own
webserver and daemon as separate processes on loopback, sharing one Postgres through the
repository's production dagster.yaml, a gRPC code server for the deployment's workspace, and the
GraphQL calls the UI makes to launch runs."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunRecord, RunsFilter

from vidpipe_dagster.embedded_instance import embedded_dagster_yaml
from vidpipe_dagster.pools import apply_pool_limits, pool_limits_from_env

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
WORKSPACE = REPOSITORY_ROOT / "workspace.yaml"
# The deployment's workspace: the code comes from a gRPC server (CodeServer here).
DEPLOYMENT_WORKSPACE = REPOSITORY_ROOT / "deploy" / "workspace.yaml"
LOCATION = "vidpipe"
REPOSITORY = {"repositoryLocationName": LOCATION, "repositoryName": "__repository__"}
FINISHED = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}
# Tests that start several processes run this many times in a row (CI: once).
REPEAT = int(os.environ.get("VIDPIPE_CONCURRENCY_REPEAT", "1"))

T = TypeVar("T")


def wait_for(condition: Callable[[], T], timeout: float, what: str, interval: float = 0.2) -> T:
    """Poll until `condition` returns something truthy, and return it."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s")
        time.sleep(interval)


def deployment_environment(
    root: Path,
    postgres_url: str,
    *,
    max_concurrent_runs: int | None = None,
    dequeue_interval_seconds: float | None = None,
    compute_log_bucket: str | None = None,
) -> dict[str, str]:
    """The environment every process of the deployment shares: a DAGSTER_HOME holding the
    production dagster.yaml (with another run limit or queue interval when given), Dagster's
    storage, the ledger and the leases in one Postgres, objects and workspaces under `root` (one
    machine, one disk).

    There is no container engine here, so runs are processes: the embedded instance's launcher
    (forked from a warm parent) replaces dagster.yaml's DockerRunLauncher, the one difference.
    Compute logs go to `compute_log_bucket` on the GCS emulator when one is given, else to
    Dagster's local default."""
    config = yaml.safe_load((REPOSITORY_ROOT / "dagster.yaml").read_text())
    home = root / "dagster_home"
    config["run_launcher"] = yaml.safe_load(embedded_dagster_yaml(home))["run_launcher"]
    if compute_log_bucket is None:
        del config["compute_logs"]
    if max_concurrent_runs is not None:
        config["concurrency"]["runs"]["max_concurrent_runs"] = max_concurrent_runs
    if dequeue_interval_seconds is not None:
        config["run_coordinator"]["config"]["dequeue_interval_seconds"] = dequeue_interval_seconds
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    environment = {
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_URL": postgres_url,
        "VIDPIPE_DATABASE_URL": postgres_url,
        "VIDPIPE_HOME": str(root / "vidpipe"),
        "VIDPIPE_STORAGE_URL": str(root / "objects"),
        "VIDPIPE_WORKSPACE_ROOT": str(root / "workspaces"),
        "VIDPIPE_MODEL_BACKEND": "local",
    }
    if compute_log_bucket is not None:
        environment["VIDPIPE_COMPUTE_LOG_BUCKET"] = compute_log_bucket
    return environment


def wait_for_runs(instance: DagsterInstance, run_ids: list[str], timeout: float, interval: float = 0.5) -> list[RunRecord]:
    """The runs' records once every one has finished, in the order of `run_ids`, looking every
    `interval` seconds."""

    def finished() -> list[RunRecord] | None:
        records = {r.dagster_run.run_id: r for r in instance.get_run_records(RunsFilter(run_ids=run_ids))}
        done = len(records) == len(run_ids) and all(r.dagster_run.status in FINISHED for r in records.values())
        return [records[run_id] for run_id in run_ids] if done else None

    return wait_for(finished, timeout, f"runs {', '.join(run_ids)} to finish", interval=interval)


def submit_projects(instance: DagsterInstance, *projects: str) -> None:
    """Submit the sample brief, two scenes long, as each of these projects."""
    from vidpipe_dagster.intake import submit_brief
    from vidpipe_dagster.partitions import register_scene_numbers
    from vidpipe_dagster.resources.storage import BlobStoreResource
    from vidpipe_dagster_tests.test_in_process import sample_brief

    store = BlobStoreResource(url=os.environ["VIDPIPE_STORAGE_URL"]).open()
    for project in projects:
        submit_brief(instance, store, sample_brief(project_id=project, scene_count=2, scene_hints=[]))
    # The storyboards add their scene numbers too, but a backfill is checked against them on launch.
    register_scene_numbers(instance, 2)


def step_windows(instance: DagsterInstance, run_id: str) -> dict[str, tuple[float, float]]:
    """When each step of a run started and ended (epoch seconds), from the run's event log."""
    starts, windows = {}, {}
    for event in instance.all_logs(run_id):
        if event.dagster_event is None or event.step_key is None:
            continue
        if event.dagster_event.event_type == DagsterEventType.STEP_START:
            starts[event.step_key] = event.timestamp
        elif event.dagster_event.event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
            windows[event.step_key] = (starts[event.step_key], event.timestamp)
    return windows


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _spawn(command: list[str], environment: dict[str, str], log_path: Path) -> subprocess.Popen:
    # Each process leads its own session: what it starts (a code server, run workers) belongs to
    # it, and is stopped with it. Output is appended, so a restarted process keeps one log.
    with open(log_path, "ab") as log:
        return subprocess.Popen(command, env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _stop_sessions(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=30)
        # Whatever is left of its session (a code server, a run worker) goes too.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


class CodeServer:
    """`dagster api grpc` serving vidpipe on loopback, as the user-code container does; it can be
    killed and started again on the same port while the rest of the deployment keeps running."""

    def __init__(self, environment: dict[str, str], log_dir: Path):
        self.port = _free_port()
        self.environment = {
            **os.environ, **environment,
            "VIDPIPE_CODE_SERVER_HOST": "127.0.0.1", "VIDPIPE_CODE_SERVER_PORT": str(self.port),
        }  # fmt: skip
        self.log_path = log_dir / "code-server.log"
        log_dir.mkdir(parents=True, exist_ok=True)
        self.processes: list[subprocess.Popen] = []

    def __enter__(self) -> CodeServer:
        self.start()
        return self

    def __exit__(self, *_exc_info) -> None:
        _stop_sessions(self.processes)

    def start(self) -> None:
        dagster = str(Path(sys.executable).parent / "dagster")
        command = [dagster, "api", "grpc", "-m", "vidpipe_dagster.definitions", "-h", "127.0.0.1", "-p", str(self.port)]
        self.processes.append(_spawn(command, self.environment, self.log_path))
        wait_for(self._serving, 180, "the code server to answer health checks", interval=0.5)

    def kill(self) -> None:
        """SIGKILL the server process alone: the runs it launched go on, as run containers outlive
        a code server's container."""
        process = self.processes[-1]
        process.kill()
        process.wait()

    def _serving(self) -> bool:
        if self.processes[-1].poll() is not None:
            raise RuntimeError(f"the code server exited with {self.processes[-1].returncode}:\n{self.log_path.read_text(errors='replace')[-3000:]}")
        dagster = str(Path(sys.executable).parent / "dagster")
        check = [dagster, "api", "grpc-health-check", "-h", "127.0.0.1", "-p", str(self.port)]
        return subprocess.run(check, env=self.environment, capture_output=True, timeout=60).returncode == 0


class DagsterStack:
    """`dagster-webserver` and `dagster-daemon run` on a workspace: the local workspace.yaml
    (the code loads in processes they start) or the deployment's, with a CodeServer's environment.
    The model pools' limits are applied first, as the deployment's `pools` one-shot does."""

    def __init__(self, environment: dict[str, str], log_dir: Path, workspace: Path = WORKSPACE):
        self.environment = {**os.environ, **environment}
        self.log_dir = log_dir
        self.workspace = workspace
        self.port = _free_port()
        self.processes: dict[str, subprocess.Popen] = {}

    def __enter__(self) -> DagsterStack:
        bin_dir = Path(sys.executable).parent
        self.log_dir.mkdir(parents=True, exist_ok=True)
        workspace = str(self.workspace)
        # What the deployment's `pools` one-shot does before the daemon launches anything.
        with DagsterInstance.from_config(self.environment["DAGSTER_HOME"]) as instance:
            apply_pool_limits(instance, pool_limits_from_env(self.environment))
        try:
            self._start("webserver", [str(bin_dir / "dagster-webserver"), "-w", workspace, "-h", "127.0.0.1", "-p", str(self.port)])
            self._start("daemon", [sys.executable, "-m", "vidpipe_dagster.daemon", "-w", workspace])
            wait_for(self._location_loaded, 180, "the webserver to load the code location", interval=0.5)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *_exc_info) -> None:
        _stop_sessions(list(self.processes.values()))

    def _start(self, name: str, command: list[str]) -> None:
        self.processes[name] = _spawn(command, self.environment, self.log_dir / f"{name}.log")

    def log(self, name: str) -> str:
        return (self.log_dir / f"{name}.log").read_text(errors="replace")

    def _location_loaded(self) -> bool:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"dagster {name} exited with {process.returncode}:\n{self.log(name)[-3000:]}")
        try:
            locations = self.graphql("{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } } }")
        except OSError:
            return False
        entries = locations["workspaceOrError"].get("locationEntries", [])
        return any(entry["name"] == LOCATION and entry["loadStatus"] == "LOADED" for entry in entries)

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/graphql",
            data=json.dumps({"query": query, "variables": variables or {}}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            payload = json.loads(response.read())
        if payload.get("errors"):
            raise RuntimeError(f"GraphQL errors: {payload['errors']}")
        return payload["data"]

    def stop_sensors(self, *names: str) -> None:
        """Stop these sensors, as a person would in the UI."""
        sensors = self.graphql(
            "query($repository: RepositorySelector!) { sensorsOrError(repositorySelector: $repository) { ... on Sensors { results { id name } } } }",
            {"repository": REPOSITORY},
        )["sensorsOrError"]["results"]
        for sensor in sensors:
            if sensor["name"] not in names:
                continue
            stopped = self.graphql(
                "mutation($id: String!) { stopSensor(id: $id) { __typename ... on StopSensorMutationResult { instigationState { status } } } }",
                {"id": sensor["id"]},
            )["stopSensor"]
            if stopped.get("instigationState", {}).get("status") != "STOPPED":
                raise RuntimeError(f"could not stop sensor {sensor['name']}: {stopped}")

    def launch_run(self, job: str, partition: str) -> str:
        """Launch one partition of a job the way the launchpad does: tags name the partition only."""
        result = self.graphql(
            """
            mutation($params: ExecutionParams!) {
              launchRun(executionParams: $params) {
                __typename
                ... on LaunchRunSuccess { run { runId } }
                ... on Error { message }
              }
            }""",
            {
                "params": {
                    "selector": {**REPOSITORY, "jobName": job},
                    "executionMetadata": {"tags": [{"key": "dagster/partition", "value": partition}]},
                }
            },
        )["launchRun"]
        if result["__typename"] != "LaunchRunSuccess":
            raise RuntimeError(f"launchRun {job}[{partition}]: {result}")
        return result["run"]["runId"]

    def launch_asset_backfill(self, assets: list[str], partitions: list[str]) -> str:
        """Backfill assets over partitions, as the UI's "Materialize" dialog does."""
        result = self.graphql(
            """
            mutation($params: LaunchBackfillParams!) {
              launchPartitionBackfill(backfillParams: $params) {
                __typename
                ... on LaunchBackfillSuccess { backfillId }
                ... on Error { message }
              }
            }""",
            {"params": {"assetSelection": [{"path": [asset]} for asset in assets], "partitionNames": partitions}},
        )["launchPartitionBackfill"]
        if result["__typename"] != "LaunchBackfillSuccess":
            raise RuntimeError(f"launchPartitionBackfill {assets}{partitions}: {result}")
        return result["backfillId"]
