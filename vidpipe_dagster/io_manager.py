"""The IO manager every vidpipe asset uses: attempt-numbered, create-only, lineage from the event log.

Assets return a `PendingArtifact` (files in their workspace plus JSON data), or a `StoredArtifact`
they already committed themselves (an asset that stores rejected attempts on its way to an accepted
one). Inputs load the exact attempt the upstream materialization recorded.

Within a run, an (asset, partition) is looked up once: its steps share what the run committed and
what it loaded. Nothing else can change it meanwhile, since every run that materializes a
project's assets holds the project's lease, and this run holds it.
"""


from dagster import ConfigurableIOManager, InputContext, OutputContext, ResourceDependency
from pydantic import PrivateAttr

from vidpipe_dagster.artifacts import (
    PendingArtifact,
    artifact_metadata,
    commit_artifact,
    materialized_attempt,
    read_manifest,
    split_partition,
)
from vidpipe_dagster.domain import StoredArtifact
from vidpipe_dagster.resources.lease import LeaseHold, ProjectLease
from vidpipe_dagster.resources.ledger import AttemptLedger, AttemptStatus
from vidpipe_dagster.resources.storage import BlobStoreResource
from vidpipe_dagster.resources.workspace import WorkspaceResource


class MissingUpstream(RuntimeError):
    pass


class AttemptIOManager(ConfigurableIOManager):
    blob_store: ResourceDependency[BlobStoreResource]
    ledger: ResourceDependency[AttemptLedger]
    workspace: ResourceDependency[WorkspaceResource]
    lease: ResourceDependency[ProjectLease]

    # (asset, partition) -> the artifact this run committed or loaded there, while it holds `_hold`.
    _artifacts: dict[tuple[str, str], StoredArtifact] = PrivateAttr(default_factory=dict)
    _hold: LeaseHold | None = PrivateAttr(default=None)

    def handle_output(self, context: OutputContext, obj: PendingArtifact | StoredArtifact) -> None:
        asset = context.asset_key.to_user_string()
        partition = context.asset_partition_key
        if isinstance(obj, PendingArtifact):
            pending = obj
            try:
                # A worker whose project lease was taken over stops before it uploads anything, and
                # is fenced before publishing if it lost the lease during the upload.
                self.lease.held.assert_held()
                obj = commit_artifact(
                    store=self.blob_store.open(),
                    ledger=self.ledger,
                    asset=asset,
                    partition=partition,
                    pending=pending,
                    run_id=context.run_id,
                    before_publish=self.lease.held.check,
                )
            finally:
                if pending.workspace is not None:
                    self.workspace.discard(pending.workspace)
        elif not isinstance(obj, StoredArtifact):
            raise TypeError(f"{asset} returned {type(obj).__name__}; expected PendingArtifact or StoredArtifact")
        with self.lease.held.fenced() as connection:
            self.ledger.update(asset, partition, obj.attempt, AttemptStatus.ACCEPTED, connection=connection)
        self._remember(asset, partition, obj)
        context.add_output_metadata(artifact_metadata(obj))

    def load_input(self, context: InputContext) -> StoredArtifact | dict[str, StoredArtifact]:
        """One upstream partition: its artifact. Several (a project reading its scenes): a dict of
        scene key -> artifact for the scenes that exist; the caller's storyboard says which must."""
        # Every step loads its inputs before it calls a model: a worker that lost its project's
        # lease stops here, instead of paying for work it could not commit.
        self.lease.held.assert_held()
        asset = context.asset_key.to_user_string()
        partitions = context.asset_partition_keys
        found = {partition: artifact for partition in partitions if (artifact := self._load(context, asset, partition))}
        if _reads_all_scenes(context):
            return {split_partition(partition)[1]: artifact for partition, artifact in found.items()}
        if len(partitions) != 1 or not found:
            raise MissingUpstream(
                f"{asset}[{', '.join(partitions)}] has not been materialized: materialize it first"
            )
        return found[partitions[0]]

    def _load(self, context: InputContext, asset: str, partition: str) -> StoredArtifact | None:
        if self._hold is not self.lease.held or (asset, partition) not in self._artifacts:
            attempt = materialized_attempt(context.instance, asset, partition)
            if attempt is None:
                return None
            self._remember(asset, partition, read_manifest(self.blob_store.open(), asset, partition, attempt))
        return self._artifacts[(asset, partition)]

    def _remember(self, asset: str, partition: str, artifact: StoredArtifact) -> None:
        if self._hold is not self.lease.held:
            # Another run's (a later run in this process): what it saw may have changed since.
            self._artifacts, self._hold = {}, self.lease.held
        self._artifacts[(asset, partition)] = artifact


def _reads_all_scenes(context: InputContext) -> bool:
    """A project-level asset reading a scene-level one (multi -> single dimension mapping)."""
    downstream_is_scene = "|" in context.partition_key
    return not downstream_is_scene and any("|" in key for key in context.asset_partition_keys)
