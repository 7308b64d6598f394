"""dagster-webserver alone on loopback, on an embedded DAGSTER_HOME: what the UI is served."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from vidpipe_dagster.embedded_instance import write_embedded_dagster_yaml


def embedded_dagster_home(home: Path) -> Path:
    """A DAGSTER_HOME holding vidpipe's embedded dagster.yaml (SQLite storage inside it)."""
    return write_embedded_dagster_yaml(home)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def graphql(base_url: str, query: str) -> dict:
    request = urllib.request.Request(
        f"{base_url}/graphql", data=json.dumps({"query": query}).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


LOCATIONS = "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } } }"


@contextmanager
def dagster_webserver(dagster_home: Path, log_path: Path, timeout: float = 120) -> Iterator[str]:
    """`dagster-webserver -m vidpipe_dagster.definitions` on DAGSTER_HOME; yields its base URL
    once the code location has loaded. Its output goes to `log_path`, quoted if it dies early."""
    base_url = f"http://127.0.0.1:{free_port()}"
    command = [str(Path(sys.executable).parent / "dagster-webserver"), "-m", "vidpipe_dagster.definitions"]
    command += ["-h", "127.0.0.1", "-p", base_url.rsplit(":", 1)[1]]
    with open(log_path, "wb") as log:
        # Its own session: the code server it starts belongs to it, and is stopped with it.
        process = subprocess.Popen(
            command,
            env={**os.environ, "DAGSTER_HOME": str(dagster_home)},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + timeout
        while True:
            assert process.poll() is None, log_path.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, f"webserver did not load the code location in {timeout:.0f} s"
            try:
                entries = graphql(base_url, LOCATIONS)["data"]["workspaceOrError"]["locationEntries"]
                if entries and all(entry["loadStatus"] == "LOADED" for entry in entries):
                    break
            except OSError:
                pass
            time.sleep(0.5)
        yield base_url
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
