"""Runs as processes forked from a warm parent, for a deployment on one machine: the embedded
instance (`vidpipe dev`) and the process-per-run stack the tests and benchmarks start.

Per code location (and per load of it: reloading the location in the UI starts a new parent with
the new code), the launcher starts one `run_worker_parent` and asks it to fork a run worker for
each run. The run records the worker's pid and host, so that any process of the deployment on this
machine (the webserver for a "Terminate", the daemon for run monitoring) can reach it after the
launcher that started it is gone.

Production runs each run in its own container (dagster.yaml's DockerRunLauncher): this launcher is
not for several machines. Like run_coordinator.py it imports only Dagster, so the webserver and
the daemon load it without the media and model libraries.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
from collections.abc import Mapping
from typing import Any

from dagster import DagsterRun, Field
from dagster._core.errors import DagsterLaunchFailedError
from dagster._core.launcher import CheckRunHealthResult, LaunchRunContext, RunLauncher, WorkerStatus
from dagster._serdes import ConfigurableClass, ConfigurableClassData, serialize_value

WORKER_PID_TAG = "vidpipe/run_worker_pid"
WORKER_HOST_TAG = "vidpipe/run_worker_host"


class WarmParent:
    """One `run_worker_parent` process and the conversation with it."""

    def __init__(self, repository_origin: Any, instance_ref: Any, loaded: str | None, preload_modules: list[str]):
        # Which load of the code location this parent holds (its server id), when it is known.
        self.loaded = loaded
        self.process = subprocess.Popen(
            [repository_origin.executable_path, "-m", "vidpipe_dagster.run_worker_parent"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            cwd=repository_origin.code_pointer.working_directory or None,
        )  # fmt: skip
        # Launches come from the daemon's dequeue threads; the parent answers one request at a time.
        self._lock = threading.Lock()
        ready = self._ask({
            "repository_origin": serialize_value(repository_origin),
            "instance_ref": serialize_value(instance_ref),
            "preload_modules": preload_modules,
        })  # fmt: skip
        if not ready.get("ready"):
            self.close()
            raise DagsterLaunchFailedError(f"the run worker parent could not load the code:\n{ready.get('error', ready)}")

    def fork(self, run_id: str) -> int:
        with self._lock:
            return int(self._ask({"run_id": run_id})["pid"])

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self) -> None:
        """The parent exits; the run workers it forked go on."""
        if self.alive:
            self.process.stdin.close()
            self.process.wait(timeout=30)

    def _ask(self, message: dict) -> dict:
        try:
            self.process.stdin.write(json.dumps(message) + "\n")
            self.process.stdin.flush()
            line = self.process.stdout.readline()
        except OSError as error:
            line = ""
            reason = str(error)
        else:
            reason = "it closed its output"
        if not line:
            self.process.wait(timeout=30)
            raise DagsterLaunchFailedError(
                f"the run worker parent (pid {self.process.pid}) exited with {self.process.returncode} ({reason}); "
                "its output is in this process's log"
            )
        return json.loads(line)


class ForkingRunLauncher(RunLauncher, ConfigurableClass):
    def __init__(self, inst_data: ConfigurableClassData | None = None, preload_modules: list[str] | None = None):
        self._inst_data = inst_data
        self._preload_modules = list(preload_modules or [])
        self._parents: dict[str, WarmParent] = {}
        self._parents_lock = threading.Lock()
        super().__init__()

    @property
    def inst_data(self) -> ConfigurableClassData | None:
        return self._inst_data

    @classmethod
    def config_type(cls) -> dict:
        return {
            "preload_modules": Field(
                [str], is_required=False, default_value=[],
                description="Modules the runs' steps import, imported once by the parent instead of in every run.",
            ),
        }  # fmt: skip

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]) -> ForkingRunLauncher:
        return cls(inst_data=inst_data, preload_modules=config_value.get("preload_modules"))

    def launch_run(self, context: LaunchRunContext) -> None:
        run = context.dagster_run
        origin = run.job_code_origin
        if origin is None:
            raise DagsterLaunchFailedError(f"run {run.run_id} has no code origin to load its job from")
        pid = self._parent_for(context, origin.repository_origin).fork(run.run_id)
        self._instance.add_run_tags(run.run_id, {WORKER_PID_TAG: str(pid), WORKER_HOST_TAG: socket.gethostname()})

    def _parent_for(self, context: LaunchRunContext, repository_origin: Any) -> WarmParent:
        # A reloaded code location has a new server id: its runs get a parent with the new code.
        location = None
        if context.workspace is not None and context.dagster_run.remote_job_origin is not None:
            name = context.dagster_run.remote_job_origin.repository_origin.code_location_origin.location_name
            location = context.workspace.get_code_location(name)
        key = serialize_value(repository_origin)
        loaded = getattr(location, "server_id", None)
        with self._parents_lock:
            current = self._parents.get(key)
            if current is not None and current.alive and current.loaded == loaded:
                return current
            if current is not None:
                current.close()
            parent = WarmParent(repository_origin, self._instance.get_ref(), loaded, self._preload_modules)
            self._parents[key] = parent
            return parent

    def terminate(self, run_id: str) -> bool:
        run = self._instance.get_run_by_id(run_id)
        if run is None or run.is_finished:
            return False
        pid = self._worker_pid(run)
        if pid is None or not self._alive(pid):
            # The run is left as it is (not marked canceling with nobody to cancel it); the UI
            # offers to force the termination.
            self._instance.report_engine_event(
                f"could not reach the run worker to stop it: {self._unreachable(run)}", run, cls=self.__class__
            )
            return False
        self._instance.report_run_canceling(run)
        # The worker takes SIGTERM as an interrupt: its step stops and the run ends canceled.
        os.kill(pid, signal.SIGTERM)
        return True

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        pid = self._worker_pid(run)
        if pid is None:
            # Not a worker this machine can see: a run executed in its own process (`vidpipe
            # demo`, `materialize()`), one on another machine, or one whose tags are still being
            # written. Run monitoring fails a run on any answer but RUNNING, so the lease reaper,
            # which watches every run, judges these.
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"not a run worker of this machine ({self._unreachable(run)}); the lease reaper watches it")
        if not self._alive(pid):
            return CheckRunHealthResult(WorkerStatus.NOT_FOUND, f"run worker process {pid} is gone")
        return CheckRunHealthResult(WorkerStatus.RUNNING)

    def dispose(self) -> None:
        with self._parents_lock:
            for parent in self._parents.values():
                parent.close()
            self._parents.clear()

    @staticmethod
    def _worker_pid(run: DagsterRun) -> int | None:
        """The pid of the run's worker, if its tags place it on this machine."""
        if run.tags.get(WORKER_HOST_TAG) != socket.gethostname() or WORKER_PID_TAG not in run.tags:
            return None
        return int(run.tags[WORKER_PID_TAG])

    @staticmethod
    def _alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True

    @staticmethod
    def _unreachable(run: DagsterRun) -> str:
        host, pid = run.tags.get(WORKER_HOST_TAG), run.tags.get(WORKER_PID_TAG)
        if host is None:
            return "the run has no worker of this launcher"
        if host != socket.gethostname():
            return f"it runs on {host}, not on {socket.gethostname()}"
        return f"process {pid} is gone"
