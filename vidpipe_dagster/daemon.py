"""Dagster's daemon, with a run queue that moves the moment a run is queued or ends.

Dagster's queue daemon looks at the queue every `dequeue_interval_seconds`, waiting in half-second
steps whatever the interval, so a project's next run waits a quarter of a second on average after
the previous one ends before it is even launched. With two workers on two cores (`bench.concurrency`)
that wait was a sixth of the wall time. Here the queue daemon waits instead for the run storage's
announcement (vidpipe_dagster/postgres_storage.py) that a run was queued or ended, and looks at
once; it still looks every `dequeue_interval_seconds` when nothing is announced, for what is never
announced: a pool's slot freed within a run, a run deleted, an announcement lost while Postgres was
out of reach. Every other daemon, and the queue's own look, are Dagster's.

    python -m vidpipe_dagster.daemon -w workspace.yaml      (in place of `dagster-daemon run`)

It imports only Dagster and postgres_storage.py, like the rest of what the daemon's image loads.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from dagster import DagsterInstance
from dagster._core.workspace.context import IWorkspaceProcessContext
from dagster._core.workspace.load_target import WorkspaceFileTarget
from dagster._daemon.cli import _get_heartbeat_tolerance
from dagster._daemon.controller import create_daemon_of_type, daemon_controller_from_instance
from dagster._daemon.daemon import DaemonIterator, DagsterDaemon
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon
from dagster._utils.interrupts import capture_interrupts, setup_interrupt_handlers

from vidpipe_dagster.postgres_storage import PooledPostgresRunStorage, QueueAnnouncements

# The longest the queue daemon waits without yielding to Dagster's controller, which checks for
# shutdown and writes the heartbeat between yields.
WAIT_STEP_SECONDS = 0.5


class AnnouncedRunQueueDaemon(QueuedRunCoordinatorDaemon):
    """Dagster's queue daemon, looking when a run is queued or ends, and at the latest every
    `interval_seconds`."""

    def __init__(self, interval_seconds: float, announcements: QueueAnnouncements):
        # Dagster's loop then looks again at once: each look begins with this daemon's own wait.
        super().__init__(interval_seconds=0)
        self._longest_wait = interval_seconds
        self._announcements = announcements
        self._exit_stack.callback(announcements.close)
        self._has_looked = False

    def run_iteration(self, workspace_process_context: IWorkspaceProcessContext, fixed_iteration_time: float | None = None) -> DaemonIterator:
        # Waiting first, so that a look that failed is not retried in a tight loop.
        if self._has_looked:
            yield from self._until_announced_or_interval()
        else:
            self._announcements.wait(0)  # listening before the first look: nothing after it is missed
        self._has_looked = True
        yield from super().run_iteration(workspace_process_context, fixed_iteration_time)

    def _until_announced_or_interval(self) -> Iterator[None]:
        waited = 0.0
        while waited < self._longest_wait:
            step = min(WAIT_STEP_SECONDS, self._longest_wait - waited)
            if self._announcements.wait(step):
                return
            waited += step
            yield None


def daemons(instance: DagsterInstance) -> Iterator[DagsterDaemon]:
    """The daemons `dagster-daemon run` would start for this instance, the queue's waiting on
    announcements when the instance's run storage makes them."""
    storage = instance.run_storage
    for daemon_type in instance.get_required_daemon_types():
        if daemon_type == QueuedRunCoordinatorDaemon.daemon_type() and isinstance(storage, PooledPostgresRunStorage):
            yield AnnouncedRunQueueDaemon(instance.run_coordinator.dequeue_interval_seconds, storage.queue_announcements())  # type: ignore[attr-defined]
        else:
            yield create_daemon_of_type(daemon_type, instance)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-w", "--workspace", action="append", required=True, help="a workspace.yaml (repeatable)")
    parser.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    parser.add_argument("--code-server-log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"])
    args = parser.parse_args(argv)

    setup_interrupt_handlers()
    try:
        with capture_interrupts(), DagsterInstance.get() as instance, daemon_controller_from_instance(
            instance,
            workspace_load_target=WorkspaceFileTarget(paths=args.workspace),
            heartbeat_tolerance_seconds=_get_heartbeat_tolerance(),
            gen_daemons=daemons,
            log_level=args.log_level,
            code_server_log_level=args.code_server_log_level,
        ) as controller:
            controller.check_daemon_loop()
    except KeyboardInterrupt:
        return  # the controller has stopped the daemons


if __name__ == "__main__":
    main()
