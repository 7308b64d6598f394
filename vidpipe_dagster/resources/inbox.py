"""The inbox users drop brief files into: a local folder, or a GCS prefix.

Waiting briefs are the `*.json` files directly in the inbox. Once handled, a file is moved to
`accepted/` or to `rejected/` (with a `NAME.reason.txt` beside it that says what was wrong), so the
inbox itself only ever shows what is still to be done.
"""

from __future__ import annotations

import functools
import os
import time
from pathlib import Path
from typing import Literal, Protocol

from dagster import ConfigurableResource
from pydantic import Field

Outcome = Literal["accepted", "rejected"]


class Inbox(Protocol):
    location: str

    def waiting(self) -> list[str]:
        """Names of the brief files waiting, oldest name first."""
        ...

    def deliver(self, name: str, content: bytes) -> str:
        """Drop a brief in, all at once: the sensor never sees half a file."""
        ...

    def read(self, name: str) -> bytes: ...

    def settle(self, name: str, outcome: Outcome, reason: str | None = None) -> str:
        """Move a handled brief out of the way; return where it went."""
        ...

    def local_folder(self) -> Path | None:
        """The folder relative audio paths in a brief are read from (local inboxes only)."""
        ...


def _settled_name(name: str) -> str:
    # A later brief may reuse a file name: never overwrite what an earlier one left.
    stem, _, extension = name.rpartition(".")
    return f"{stem}.{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.{extension}"


class LocalInbox:
    def __init__(self, folder: Path):
        self.folder = folder
        self.location = str(folder)

    def waiting(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return sorted(path.name for path in self.folder.glob("*.json") if path.is_file())

    def deliver(self, name: str, content: bytes) -> str:
        self.folder.mkdir(parents=True, exist_ok=True)
        partial = self.folder / f".{name}.{os.getpid()}.partial"
        partial.write_bytes(content)
        os.replace(partial, self.folder / name)
        return str(self.folder / name)

    def read(self, name: str) -> bytes:
        return (self.folder / name).read_bytes()

    def settle(self, name: str, outcome: Outcome, reason: str | None = None) -> str:
        destination_folder = self.folder / outcome
        destination_folder.mkdir(exist_ok=True)
        destination = destination_folder / _settled_name(name)
        os.replace(self.folder / name, destination)
        if reason is not None:
            destination.with_name(destination.name + ".reason.txt").write_text(reason + "\n")
        return str(destination)

    def local_folder(self) -> Path | None:
        return self.folder


class GcsInbox:
    def __init__(self, url: str):
        bucket, _, prefix = url.removeprefix("gs://").partition("/")
        self.bucket_name, self.prefix = bucket, prefix.strip("/")
        self.location = url

    @functools.cached_property
    def _bucket(self):
        from google.cloud import storage

        return storage.Client(project=None).bucket(self.bucket_name)

    def _name(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def waiting(self) -> list[str]:
        listing = self._bucket.client.list_blobs(self.bucket_name, prefix=self._name(""), delimiter="/")
        return sorted(blob.name.rsplit("/", 1)[-1] for blob in listing if blob.name.endswith(".json"))

    def read(self, name: str) -> bytes:
        return self._bucket.blob(self._name(name)).download_as_bytes()

    def deliver(self, name: str, content: bytes) -> str:
        self._bucket.blob(self._name(name)).upload_from_string(content, content_type="application/json")
        return f"gs://{self.bucket_name}/{self._name(name)}"

    def settle(self, name: str, outcome: Outcome, reason: str | None = None) -> str:
        source = self._bucket.blob(self._name(name))
        destination = self._name(f"{outcome}/{_settled_name(name)}")
        self._bucket.copy_blob(source, self._bucket, destination)
        if reason is not None:
            self._bucket.blob(destination + ".reason.txt").upload_from_string(reason + "\n", content_type="text/plain")
        source.delete()
        return f"gs://{self.bucket_name}/{destination}"

    def local_folder(self) -> Path | None:
        return None


class InboxResource(ConfigurableResource):
    url: str = Field(description="A local folder, or gs://bucket/prefix, that brief files are dropped into.")

    def open(self) -> Inbox:
        if self.url.startswith("gs://"):
            return GcsInbox(self.url)
        return LocalInbox(Path(self.url))
