"""Request-scoped log context: every line our code logs names the project it works for.

A `contextvars.ContextVar` (the Python equivalent of the old system's AsyncLocalStorage) holds the
project for the current step; a filter on the `vidpipe` logger stamps it on every record, so
concurrent steps in one process never mix their context.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Iterator
from contextlib import contextmanager

current_project: contextvars.ContextVar[str] = contextvars.ContextVar("vidpipe_project", default="-")


class ProjectContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        project = current_project.get()
        record.project = project
        if not getattr(record, "_vidpipe_prefixed", False):
            record.msg = f"[project={project}] {record.msg}"
            record._vidpipe_prefixed = True
        return True


logger = logging.getLogger("vidpipe")
logger.addFilter(ProjectContextFilter())
logger.setLevel(logging.INFO)


def get_logger(name: str) -> logging.Logger:
    """A child of the `vidpipe` logger (which Dagster captures through `managed_python_loggers`)."""
    child = logging.getLogger(f"vidpipe.{name.removeprefix('vidpipe_dagster.')}")
    if not any(isinstance(f, ProjectContextFilter) for f in child.filters):
        child.addFilter(ProjectContextFilter())
    return child


@contextmanager
def project_context(project_id: str) -> Iterator[None]:
    token = current_project.set(project_id)
    try:
        yield
    finally:
        current_project.reset(token)
