"""Scratch directories for steps that touch disk.

Each step gets its own `tempfile.mkdtemp` directory (unique per run and step), removed in
`finally`. A process killed with SIGKILL cannot clean up, so every directory carries an owner file
(host, pid, start time) and the next step on any worker sweeps directories whose owner is gone.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field

OWNER_FILE = ".owner.json"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _safe_fragment(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text)[:48]


class WorkspaceResource(ConfigurableResource):
    """Creates, and sweeps, per-step scratch directories under one root."""

    root: str = Field(description="Directory that holds the workspaces (local to each worker).")
    orphan_after_seconds: int = Field(
        default=6 * 3600,
        description="A workspace of another host is swept once it is this old: its pid means nothing here.",
    )

    @property
    def root_path(self) -> Path:
        path = Path(self.root)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def create(self, label: str) -> Path:
        """A fresh directory for one step; the caller removes it with `discard`."""
        self.sweep()
        directory = Path(tempfile.mkdtemp(prefix=f"{_safe_fragment(label)}-", dir=self.root_path))
        (directory / OWNER_FILE).write_text(
            json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "started": time.time()})
        )
        return directory

    def discard(self, directory: Path) -> None:
        shutil.rmtree(directory, ignore_errors=True)

    @contextmanager
    def open(self, label: str) -> Iterator[Path]:
        """A fresh directory, removed when the block exits, however it exits."""
        directory = self.create(label)
        try:
            yield directory
        finally:
            self.discard(directory)

    def sweep(self) -> list[Path]:
        """Remove workspaces whose owning process is gone; return what was removed."""
        removed = []
        for directory in self.root_path.iterdir():
            if directory.is_dir() and self._orphaned(directory):
                shutil.rmtree(directory, ignore_errors=True)
                removed.append(directory)
        return removed

    def _orphaned(self, directory: Path) -> bool:
        try:
            owner = json.loads((directory / OWNER_FILE).read_text())
        except (OSError, ValueError):
            # The owner file is written right after mkdtemp; give a directory without one a
            # moment before judging it, so a workspace being created is never swept.
            return time.time() - directory.stat().st_mtime > 60
        if owner.get("host") == socket.gethostname():
            return not _process_alive(int(owner.get("pid", 0)))
        return time.time() - float(owner.get("started", 0)) > self.orphan_after_seconds
