"""Attempt-numbered artifacts: the one write path and the one read path for everything stored.

Writing: allocate an attempt in the ledger, upload each file create-only under a key that carries
the attempt, write the manifest beside them, mark the attempt stored. Reading: find the exact
attempt a materialization recorded in Dagster's event log, then read its manifest. No path here
lists storage or picks "the newest file".
"""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dagster import AssetKey, AssetRecordsFilter, DagsterInstance, MetadataValue
from pydantic import BaseModel, Field, model_validator

from vidpipe_dagster.domain import StoredArtifact
from vidpipe_dagster.log_context import get_logger
from vidpipe_dagster.resources.ledger import AttemptLedger, AttemptStatus
from vidpipe_dagster.resources.storage import BlobStore, publish_file

log = get_logger(__name__)

MANIFEST_URI = "vidpipe/manifest_uri"
ATTEMPT = "vidpipe/attempt"

# The folder of each asset under its project (or scene); the default is the asset's name.
_ASSET_FOLDERS = {
    "character_sheets": "characters",
    "location_sheets": "locations",
    "scene_keyframes": "keyframes",
    "scene_clip": "clip",
    "final_video": "final",
    "preview_video": "preview",
}


class PendingArtifact(BaseModel):
    """What an asset produced in its workspace, before it is given an attempt and stored."""

    files: dict[str, Path] = Field(default_factory=dict)
    data: dict[str, Any] = Field(default_factory=dict)
    facts: dict[str, Any] = Field(default_factory=dict)
    upstream: dict[str, int] = Field(default_factory=dict)
    scores: dict[str, Any] | None = Field(default=None, description="The attempt's quality scores, for the ledger.")
    workspace: Path | None = Field(default=None, description="Removed by the IO manager once stored.")

    @model_validator(mode="after")
    def _files_in_workspace(self) -> "PendingArtifact":
        for name, path in self.files.items():
            if self.workspace is None or not path.resolve().is_relative_to(self.workspace.resolve()):
                raise ValueError(f"file {name} ({path}) must be inside the step's workspace")
        return self


def split_partition(partition: str) -> tuple[str, str | None]:
    """(project, scene) of a partition key: `proj` or the multi-partition key `proj|001`."""
    project, _, scene = partition.partition("|")
    return project, scene or None


def artifact_folder(asset: str, partition: str) -> str:
    project, scene = split_partition(partition)
    folder = _ASSET_FOLDERS.get(asset, asset)
    return f"projects/{project}/scenes/{scene}/{folder}" if scene else f"projects/{project}/{folder}"


def object_key(asset: str, partition: str, attempt: int, name: str) -> str:
    """`.../clip/attempt-001.mp4` for an asset's main object, `.../attempt-001-end.png` for others."""
    folder = artifact_folder(asset, partition)
    stem, _, extension = name.partition(".")
    suffix = "" if stem == folder.rsplit("/", 1)[-1] else f"-{stem}"
    return f"{folder}/attempt-{attempt:03d}{suffix}.{extension}"


def manifest_key(asset: str, partition: str, attempt: int) -> str:
    return f"{artifact_folder(asset, partition)}/attempt-{attempt:03d}.json"


def upstream_label(asset: str, partition: str) -> str:
    return f"{asset}[{partition}]"


def commit_artifact(
    *,
    store: BlobStore,
    ledger: AttemptLedger,
    asset: str,
    partition: str,
    pending: PendingArtifact,
    run_id: str | None,
    before_publish: Callable[[], None] | None = None,
) -> StoredArtifact:
    """Store one new attempt of (asset, partition) and return its manifest.

    `before_publish` runs after the objects are uploaded and before the manifest makes the attempt
    visible; a lease check there keeps a worker that lost its project lease from publishing. An
    attempt that fails on the way is abandoned: what it uploaded is removed, and what could not
    be is left in the ledger for `garbage.collect_garbage`."""
    attempt = ledger.allocate(asset, partition, run_id)
    keys = {name: object_key(asset, partition, attempt, name) for name in pending.files}
    key = manifest_key(asset, partition, attempt)
    # Recorded before the first upload, so that even a worker killed outright leaves a list.
    ledger.update(asset, partition, attempt, AttemptStatus.ALLOCATED, objects=[*keys.values(), key])
    try:
        objects = {name: publish_file(store, keys[name], path, mimetypes.guess_type(name)[0]) for name, path in pending.files.items()}
        if before_publish is not None:
            before_publish()
        artifact = StoredArtifact(
            asset=asset,
            partition=partition,
            attempt=attempt,
            objects=objects,
            data=pending.data,
            facts=pending.facts,
            upstream=pending.upstream,
            manifest_uri=store.uri(key),
        )
        store.put_bytes(key, artifact.model_dump_json(indent=2).encode(), "application/json")
        if copies := {stored.copied_from: stored.key for stored in objects.values() if stored.copied_from}:
            ledger.record_copies(asset, partition, attempt, copies)
        ledger.update(asset, partition, attempt, AttemptStatus.STORED, uri=artifact.manifest_uri, scores=pending.scores)
    except BaseException as exc:
        abandon_attempt(store, ledger, asset, partition, attempt, [*keys.values(), key], f"not published: {type(exc).__name__}: {exc}")
        raise
    return artifact


def abandon_attempt(store: BlobStore, ledger: AttemptLedger, asset: str, partition: str, attempt: int, keys: list[str], reason: str) -> list[str]:
    """Mark an attempt abandoned and remove its objects; return the keys that could not be removed
    (they stay in the ledger for the next collection). Raises nothing: it runs on the way out of a failure."""
    left = []
    for stored_key in keys:
        try:
            store.delete(stored_key)
        except Exception:  # storage unreachable: the ledger keeps the key for later
            left.append(stored_key)
    try:
        ledger.update(asset, partition, attempt, AttemptStatus.ABANDONED, objects=left, note=reason[:1000])
    except Exception as exc:  # the database too: the attempt stays allocated, and is found dead later
        log.warning("could not mark attempt %s of %s[%s] abandoned: %s", attempt, asset, partition, exc)
    return left


def read_manifest(store: BlobStore, asset: str, partition: str, attempt: int) -> StoredArtifact:
    return StoredArtifact.model_validate_json(store.get_bytes(manifest_key(asset, partition, attempt)))


def materialized_attempt(instance: DagsterInstance, asset: str, partition: str) -> int | None:
    """The attempt the latest materialization of (asset, partition) recorded, from the event log."""
    result = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey(asset), asset_partitions=[partition]), limit=1
    )
    if not result.records:
        return None
    materialization = result.records[0].asset_materialization
    value = materialization.metadata.get(ATTEMPT) if materialization else None
    return int(value.value) if value is not None else None


def load_materialized(
    instance: DagsterInstance, store: BlobStore, asset: str, partition: str
) -> StoredArtifact | None:
    attempt = materialized_attempt(instance, asset, partition)
    return None if attempt is None else read_manifest(store, asset, partition, attempt)


def artifact_metadata(artifact: StoredArtifact) -> dict[str, Any]:
    """Materialization metadata: the attempt, where it is, what it is, and what it was made from."""
    metadata: dict[str, Any] = {
        ATTEMPT: MetadataValue.int(artifact.attempt),
        MANIFEST_URI: MetadataValue.path(artifact.manifest_uri or ""),
    }
    for name, stored in artifact.objects.items():
        stem = name.split(".")[0]
        metadata[f"{stem}/uri"] = MetadataValue.path(stored.uri)
        metadata[f"{stem}/size"] = MetadataValue.int(stored.size)
        metadata[f"{stem}/sha256"] = MetadataValue.text(stored.sha256)
        if stored.generation is not None:
            metadata[f"{stem}/generation"] = MetadataValue.int(stored.generation)
    if artifact.upstream:
        metadata["upstream_attempts"] = MetadataValue.json(artifact.upstream)
    for fact, value in artifact.facts.items():
        metadata[fact] = _metadata_value(value)
    return metadata


def _metadata_value(value: Any) -> Any:
    if isinstance(value, bool):
        return MetadataValue.bool(value)
    if isinstance(value, int):
        return MetadataValue.int(value)
    if isinstance(value, float):
        return MetadataValue.float(value)
    if isinstance(value, (dict, list)):
        return MetadataValue.json(json.loads(json.dumps(value, default=str)))
    return MetadataValue.text(str(value))
