"""The run queue, with every project's runs tagged so that dagster.yaml can run one at a time.

dagster.yaml limits the tag `vidpipe/project` to one in-progress run per value. Runs launched from
the UI, a backfill, a sensor or `dagster job launch` all pass through `submit_run` before they are
queued, so the tag is derived here from the partition tags Dagster sets on them: nobody has to
remember to add it.

It also takes a fraction of a second for `dequeue_interval_seconds`, where Dagster's own
coordinator takes whole seconds: Dagster's queue daemon waits for the next look in half-second
steps, so 0.5 is the shortest gap it can keep between one project's runs, against 1 s at best
otherwise. (vidpipe_dagster/daemon.py looks as soon as a run ends, and at this interval when
nothing is announced.)

The webserver and the daemon load this module from dagster.yaml, and nothing else of vidpipe: it
imports only Dagster, so their image is the stock Dagster libraries plus this one file
(deploy/Dockerfile.dagster), not the user-code image with ffmpeg, PyAV and the model SDKs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from dagster import DagsterRun, Field, QueuedRunCoordinator, SubmitRunContext
from dagster._core.errors import DagsterInvalidConfigError

PROJECT_TAG = "vidpipe/project"


def project_of_run(tags: Mapping[str, str]) -> str | None:
    """The project a run works on: vidpipe's tag, else the project dimension of a scene run, else
    the partition of a project run (Dagster sets the partition tags however a run is launched)."""
    project = tags.get(PROJECT_TAG) or tags.get("dagster/partition/project")
    if project is None and "dagster/partition" in tags:
        # A multi-partition key reads "<project>|<scene>": dimensions are ordered by name.
        project = tags["dagster/partition"].partition("|")[0]
    return project


class ProjectRunCoordinator(QueuedRunCoordinator):
    def __init__(self, dequeue_interval_seconds: float | None = None, **kwargs):
        if dequeue_interval_seconds is not None and not dequeue_interval_seconds > 0:
            raise DagsterInvalidConfigError(
                f"run_coordinator.config.dequeue_interval_seconds must be above 0 seconds, not {dequeue_interval_seconds}", [], None
            )
        whole_seconds = None if dequeue_interval_seconds is None else math.ceil(dequeue_interval_seconds)
        super().__init__(dequeue_interval_seconds=whole_seconds, **kwargs)
        self._dequeue_interval = dequeue_interval_seconds

    @classmethod
    def config_type(cls) -> dict:
        return {
            **super().config_type(),
            "dequeue_interval_seconds": Field(
                float, is_required=False,
                description="Seconds between the queue daemon's looks at the queue; fractions allowed, 0.5 at the least in effect.",
            ),
        }  # fmt: skip

    @property
    def dequeue_interval_seconds(self) -> float:
        # Read by the daemon for its loop, which waits on a float.
        return self._dequeue_interval if self._dequeue_interval is not None else super().dequeue_interval_seconds

    def submit_run(self, context: SubmitRunContext) -> DagsterRun:
        run = context.dagster_run
        project = project_of_run(run.tags)
        if project is not None and run.tags.get(PROJECT_TAG) != project:
            # The queue daemon reads tags from run storage, so storing the tag before the run is
            # enqueued is enough; the queued run returned below is reloaded with it.
            self._instance.add_run_tags(run.run_id, {PROJECT_TAG: project})
        return super().submit_run(context)
