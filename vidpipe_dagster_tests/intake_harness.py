"""An inbox (a local folder or a GCS prefix) and a store, with the inbox sensor run the way the
daemon runs it, and the outcome rules every tick must keep, for the intake tests."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from dagster import DagsterInstance, SensorResult, build_sensor_context

from vidpipe_dagster.domain import Brief
from vidpipe_dagster.intake import brief_key
from vidpipe_dagster.partitions import PROJECT_TAG, projects_partitions
from vidpipe_dagster.resources.inbox import InboxResource
from vidpipe_dagster.resources.storage import BlobStoreResource
from vidpipe_dagster.sensors import inbox_sensor


@dataclass
class Tick:
    projects: list[str]
    accepted: list[str]
    rejected: dict[str, str]
    waiting: list[str]


@dataclass
class IntakeHarness:
    instance: DagsterInstance
    inbox: InboxResource
    blob_store: BlobStoreResource
    cursor: str | None = None
    settled: set[str] = field(default_factory=set)

    def drop(self, name: str, content: bytes) -> None:
        self.inbox.open().deliver(name, content)

    def tick(self) -> Tick:
        """Evaluate the sensor once and do what the daemon does with its result."""
        context = build_sensor_context(
            instance=self.instance, cursor=self.cursor, resources={"inbox": self.inbox, "blob_store": self.blob_store}
        )
        result = inbox_sensor(context)
        assert isinstance(result, SensorResult)
        self.cursor = result.cursor
        for request in result.dynamic_partitions_requests:
            self.instance.add_dynamic_partitions(projects_partitions.name, list(request.partition_keys))
        projects = [request.partition_key for request in result.run_requests]
        assert [request.tags[PROJECT_TAG] for request in result.run_requests] == projects
        assert [request.run_key for request in result.run_requests] == [f"brief:{p}" for p in projects]
        added = [key for request in result.dynamic_partitions_requests for key in request.partition_keys]
        assert added == projects and len(set(projects)) == len(projects), "one partition and one run per project"
        accepted, rejected = self._new_settled()
        return Tick(projects, accepted, rejected, self.inbox.open().waiting())

    def _new_settled(self) -> tuple[list[str], dict[str, str]]:
        names = {name for name in self.listing() if name.startswith(("accepted/", "rejected/"))} - self.settled
        self.settled |= names
        reasons = {name.removesuffix(".reason.txt") for name in names if name.endswith(".reason.txt")}
        accepted = sorted(name for name in names if name.startswith("accepted/"))
        rejected = {name: self.read(f"{name}.reason.txt") for name in sorted(names) if name.startswith("rejected/") and not name.endswith(".reason.txt")}
        assert not any(name.endswith(".reason.txt") for name in accepted), "an accepted brief has no reason"
        assert reasons == set(rejected), f"every rejected brief, and only one, has a reason beside it: {sorted(reasons ^ set(rejected))}"
        return accepted, {name: reason.decode() for name, reason in rejected.items()}

    def listing(self) -> list[str]:
        """Every file in the inbox, by its path relative to the inbox."""
        url = self.inbox.url
        if url.startswith("gs://"):
            from google.cloud import storage

            bucket, _, prefix = url.removeprefix("gs://").partition("/")
            return [blob.name.removeprefix(f"{prefix}/") for blob in storage.Client(project=None).list_blobs(bucket, prefix=f"{prefix}/")]
        root = Path(url)
        return [str(path.relative_to(root)) for path in root.rglob("*") if not path.is_dir()] if root.is_dir() else []

    def read(self, name: str) -> bytes:
        url = self.inbox.url
        if url.startswith("gs://"):
            from google.cloud import storage

            bucket, _, prefix = url.removeprefix("gs://").partition("/")
            return storage.Client(project=None).bucket(bucket).blob(f"{prefix}/{name}").download_as_bytes()
        return (Path(url) / name).read_bytes()

    def stored_brief(self, project: str) -> Brief:
        return Brief.model_validate(json.loads(self.blob_store.open().get_bytes(brief_key(project))))


def check_tick(tick: Tick, dropped: int, witnesses: list[str]) -> None:
    """The outcome rules: every brief dropped is accepted (with its partition and run) or rejected
    (with a reason), none is left waiting, and the valid briefs dropped beside the others are taken."""
    assert tick.waiting == [], f"left waiting: {tick.waiting}"
    assert len(tick.accepted) + len(tick.rejected) == dropped
    assert len(tick.accepted) == len(tick.projects)
    assert all(reason.strip() for reason in tick.rejected.values())
    for witness in witnesses:
        assert witness in tick.projects, f"the valid brief {witness} was not taken: {tick.rejected}"
    for name in [*tick.accepted, *tick.rejected]:
        assert len(name.rsplit("/", 1)[-1].encode()) + len(".reason.txt") <= 255
