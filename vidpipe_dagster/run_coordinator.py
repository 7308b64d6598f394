"""The run queue, with every project's runs tagged so that dagster.yaml can run one at a time.

dagster.yaml limits the tag `vidpipe/project` to one in-progress run per value. Runs launched from
the UI, a backfill, a sensor or `dagster job launch` all pass through `submit_run` before they are
queued, so the tag is derived here from the partition tags Dagster sets on them: nobody has to
remember to add it.
"""

from __future__ import annotations

from dagster import DagsterRun, QueuedRunCoordinator, SubmitRunContext

from vidpipe_dagster.partitions import PROJECT_TAG, project_of_run


class ProjectRunCoordinator(QueuedRunCoordinator):
    def submit_run(self, context: SubmitRunContext) -> DagsterRun:
        run = context.dagster_run
        project = project_of_run(run.tags)
        if project is not None and run.tags.get(PROJECT_TAG) != project:
            # The queue daemon reads tags from run storage, so storing the tag before the run is
            # enqueued is enough; the queued run returned below is reloaded with it.
            self._instance.add_run_tags(run.run_id, {PROJECT_TAG: project})
        return super().submit_run(context)
