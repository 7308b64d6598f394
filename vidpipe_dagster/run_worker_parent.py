"""A warm parent of run workers: one process per loaded code location that imports Dagster, the
instance's storage and the code once, then forks a run worker for every run it is asked for.

Dagster's default launcher has the code server spawn a fresh interpreter per run, which imports all
of that again before the run's first step: about 1.4 s of CPU on this machine, as much as a scene
run's own work, and on a machine with as many cores as runs it is taken from the runs. A forked
child shares the parent's loaded modules and starts in milliseconds.

Each child is a run worker like a run container's: it opens its own instance from the reference it
was sent and runs Dagster's own `execute_run` body, with SIGTERM and SIGINT as interrupts. The
parent holds no open connection, file or thread when it forks, so the child inherits none.

Started by `vidpipe_dagster.run_launcher.ForkingRunLauncher` as
`python -m vidpipe_dagster.run_worker_parent`, it talks over its stdin and stdout, one JSON object
a line:
  first line  {"repository_origin": <serialized RepositoryPythonOrigin>, "instance_ref": <serialized InstanceRef>,
               "preload_modules": [module names a run imports when it runs, loaded here once]}
              answered {"ready": true} once they are loaded, or {"error": <what failed>}
  then        {"run_id": ...}, answered {"run_id": ..., "pid": <the run worker's pid>}
It exits when its stdin closes; the run workers it forked carry on.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import sys
import threading
import traceback
from typing import IO


def load(repository_origin: str, instance_ref: str, preload_modules: list[str]) -> None:
    """Import and build everything a run worker needs before its run starts (Dagster, the code's
    definitions and the storage modules the instance uses) and the modules its steps import."""
    import importlib

    from dagster import DagsterInstance
    from dagster._serdes import deserialize_value
    from dagster._utils.hosted_user_process import recon_repository_from_origin

    recon_repository_from_origin(deserialize_value(repository_origin)).get_definition()
    with DagsterInstance.from_ref(deserialize_value(instance_ref)) as instance:
        instance.get_run_records(limit=1)
    importlib.import_module("dagster._cli.api")  # the children's `execute_run` body
    for module in preload_modules:
        try:
            importlib.import_module(module)
        except ImportError as error:
            raise ImportError(f"run_launcher.config.preload_modules names {module!r}, which does not import here: {error}") from error
    # What is loaded stays out of the collector's sight: a collection in a child would otherwise
    # write to every object, copying the parent's pages into each run worker.
    gc.freeze()
    if threading.active_count() != 1:
        # A thread holding a lock at fork time leaves that lock held forever in the child.
        names = ", ".join(thread.name for thread in threading.enumerate())
        raise RuntimeError(f"a run worker parent must fork from one thread; loading the code started others: {names}")


def run_worker(run_id: str, instance_ref: str) -> int:
    """The child's whole life: execute the run as `dagster api execute_run` does, and exit with
    its return code."""
    from dagster import DagsterInstance
    from dagster._cli.api import _execute_run_command_body
    from dagster._serdes import deserialize_value
    from dagster._utils.interrupts import capture_interrupts, setup_interrupt_handlers

    setup_interrupt_handlers()
    with capture_interrupts(), DagsterInstance.from_ref(deserialize_value(instance_ref)) as instance:
        return _execute_run_command_body(run_id, instance, lambda _event: None, set_exit_code_on_failure=False)


def fork_run_worker(run_id: str, instance_ref: str, replies: IO[str]) -> int:
    pid = os.fork()
    if pid:
        return pid
    # The child: nothing of the parent's conversation, and child processes (ffmpeg) waited for as usual.
    code = 1
    try:
        replies.close()
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        code = run_worker(run_id, instance_ref)
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def serve(requests: IO[str], replies: IO[str]) -> None:
    def answer(message: dict) -> None:
        replies.write(json.dumps(message) + "\n")
        replies.flush()

    opening = json.loads(requests.readline())
    try:
        load(opening["repository_origin"], opening["instance_ref"], opening["preload_modules"])
    except Exception:
        answer({"error": traceback.format_exc()})
        return
    answer({"ready": True})
    for line in iter(requests.readline, ""):
        run_id = json.loads(line)["run_id"]
        answer({"run_id": run_id, "pid": fork_run_worker(run_id, opening["instance_ref"], replies)})


def main() -> None:
    # Replies go to the launcher on the original stdout; everything printed from here on, by this
    # process or the run workers, goes where the launcher's own output goes.
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    # Run workers are reaped as they exit: a finished one leaves no zombie behind.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    # Interrupts are meant for the runs; the parent ends when its launcher closes stdin.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    serve(sys.stdin, replies)


if __name__ == "__main__":
    main()
