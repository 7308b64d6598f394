"""The run queue, with every project's runs tagged so that dagster.yaml can run one at a time.

dagster.yaml limits the tag `vidpipe/project` to one in-progress run per value. Runs launched from
the UI, a backfill, a sensor or `dagster job launch` all pass through `submit_run` before they are
queued, so the tag is derived here from the partition tags Dagster sets on them: nobody has to
remember to add it.

The webserver and the daemon load this module from dagster.yaml, and nothing else of vidpipe: it
imports only Dagster, so their image is the stock Dagster libraries plus this one file
(deploy/Dockerfile.dagster), not the user-code image with ffmpeg, PyAV and the model SDKs.
"""

from __future__ import annotations

from collections.abc import Mapping

from dagster import DagsterRun, QueuedRunCoordinator, SubmitRunContext

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
    def submit_run(self, context: SubmitRunContext) -> DagsterRun:
        run = context.dagster_run
        project = project_of_run(run.tags)
        if project is not None and run.tags.get(PROJECT_TAG) != project:
            # The queue daemon reads tags from run storage, so storing the tag before the run is
            # enqueued is enough; the queued run returned below is reloaded with it.
            self._instance.add_run_tags(run.run_id, {PROJECT_TAG: project})
        return super().submit_run(context)
