"""Dead run workers, found by the project lease they stopped renewing.

A run worker killed outright (out of memory, a lost node, kill -9) never returns its model pool
slots, and its run is marked ended only if its code server notices (Docker and Kubernetes launchers
with run monitoring do too; nobody does for a run whose code server died with it). Until then the
run queue holds the project's slot for it and the pools theirs. A live run renews its lease every
third of a TTL and releases it when it ends, so a lease expired unreleased names a dead worker.
"""

from dagster import DefaultSensorStatus, SensorEvaluationContext, SkipReason, sensor

from vidpipe_dagster.garbage import collect_garbage
from vidpipe_dagster.resources.lease import ProjectLease, retire_dead_run
from vidpipe_dagster.resources.ledger import AttemptLedger
from vidpipe_dagster.resources.storage import BlobStoreResource
from vidpipe_dagster.sensors import SENSOR_INTERVAL_SECONDS


@sensor(
    name="lease_reaper",
    minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "Fails each run whose project lease expired without a release (its worker died), frees its "
        "pool slots and releases its lease, so that run retries and the scene sequencer pick the project up; "
        "abandons the attempts dead runs left unpublished and removes their objects after a grace period."
    ),
)
def lease_reaper(context: SensorEvaluationContext, lease: ProjectLease, ledger: AttemptLedger, blob_store: BlobStoreResource) -> SkipReason:
    dead = lease.expired()
    for record in dead:
        retire_dead_run(context.instance, record.holder, f"its worker died: it stopped renewing the lease of project {record.project_id!r}")
        lease.release_expired(record)
        context.log.warning(f"run {record.holder} died holding project {record.project_id!r}: failed, its pool slots freed")
    garbage = collect_garbage(context.instance, ledger, blob_store.open())
    for line in garbage.lines()[:-1]:
        context.log.info(line)
    holders = f"cleared {len(dead)} dead lease holder(s)" if dead else "every lease holder is alive"
    return SkipReason(f"{holders}; {garbage.lines()[-1]}")
