"""Where generated objects live: one small interface, a local directory and a GCS bucket behind it.

Every write is create-only: a second write of the same key fails with `ObjectAlreadyExists` and
the first object is untouched, whatever the writers' timing. Nothing here lists a prefix to find
attempts; callers always name the exact key.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO, Protocol

from dagster import ConfigurableResource
from pydantic import Field

from vidpipe_dagster.domain import StoredObject
from vidpipe_dagster.resources.objects import ObjectAlreadyExists, ObjectMissing, validate_key

CHUNK_BYTES = 1024 * 1024


class BlobStore(Protocol):
    def put_file(self, key: str, source: Path, content_type: str | None = None) -> StoredObject:
        """Upload `source` to `key`, create-only, streaming."""
        ...

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> StoredObject:
        """Write a small object (a manifest) to `key`, create-only."""
        ...

    def get_file(self, key: str, destination: Path) -> Path:
        """Download `key` to `destination`, streaming."""
        ...

    def copy(self, source_key: str, key: str, sha256: str, content_type: str | None = None) -> StoredObject:
        """Make `key` a copy of `source_key` inside the store, create-only; no byte passes through
        this process. `sha256` is the source's, known to the caller."""
        ...

    def get_bytes(self, key: str) -> bytes: ...

    def uri(self, key: str) -> str: ...

    def delete(self, key: str) -> bool:
        """Remove `key` (an abandoned attempt's object); False when it was not there."""
        ...


def copy_with_sha256(source: BinaryIO, destination: BinaryIO) -> tuple[int, str]:
    """Copy in chunks so no whole video is ever held in memory; return (size, sha256)."""
    digest = hashlib.sha256()
    size = 0
    while chunk := source.read(CHUNK_BYTES):
        digest.update(chunk)
        destination.write(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


def file_sha256(path: Path) -> tuple[int, str]:
    with path.open("rb") as source, open(os.devnull, "wb") as sink:
        return copy_with_sha256(source, sink)


class LocalBlobStore:
    """A directory of objects. Writes go to a hidden temporary name and are hard-linked into place,
    which fails if the name exists: create-only, and no partial file is ever visible."""

    def __init__(self, root: Path):
        self.root = root.resolve()

    def _path(self, key: str) -> Path:
        return self.root / validate_key(key)

    def uri(self, key: str) -> str:
        return self._path(key).as_uri()

    def _publish(self, key: str, write) -> StoredObject:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        descriptor, partial_name = tempfile.mkstemp(dir=target.parent, prefix=".partial-")
        partial = Path(partial_name)
        try:
            with os.fdopen(descriptor, "wb") as partial_file:
                size, sha256 = write(partial_file)
                partial_file.flush()
                os.fsync(partial_file.fileno())
            try:
                os.link(partial, target)
            except FileExistsError:
                raise ObjectAlreadyExists(self.uri(key)) from None
        finally:
            partial.unlink(missing_ok=True)
        return StoredObject(key=key, uri=self.uri(key), size=size, sha256=sha256)

    def put_file(self, key: str, source: Path, content_type: str | None = None) -> StoredObject:
        with source.open("rb") as source_file:
            return self._publish(key, lambda out: copy_with_sha256(source_file, out))

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> StoredObject:
        def write(out: BinaryIO) -> tuple[int, str]:
            out.write(data)
            return len(data), hashlib.sha256(data).hexdigest()

        return self._publish(key, write)

    def get_file(self, key: str, destination: Path) -> Path:
        source = self._path(key)
        if not source.is_file():
            raise ObjectMissing(self.uri(key))
        shutil.copyfile(source, destination)
        return destination

    def copy(self, source_key: str, key: str, sha256: str, content_type: str | None = None) -> StoredObject:
        """A hard link: objects are never changed in place, so two names can share one file."""
        source, target = self._path(source_key), self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, target)
        except FileExistsError:
            raise ObjectAlreadyExists(self.uri(key)) from None
        except FileNotFoundError:
            raise ObjectMissing(self.uri(source_key)) from None
        return StoredObject(key=key, uri=self.uri(key), size=target.stat().st_size, sha256=sha256, copied_from=source_key)

    def get_bytes(self, key: str) -> bytes:
        source = self._path(key)
        if not source.is_file():
            raise ObjectMissing(self.uri(key))
        return source.read_bytes()

    def delete(self, key: str) -> bool:
        try:
            self._path(key).unlink()
        except FileNotFoundError:
            return False
        return True


def _origin_note(path: Path) -> Path:
    return path.with_name(f".{path.name}.origin.json")


def remember_origin(path: Path, key: str, sha256: str) -> None:
    """Note beside a workspace file that it holds the bytes of stored object `key`, so storing it
    again (`publish_file`) is a copy inside the store rather than an upload."""
    _origin_note(path).write_text(json.dumps({"key": key, "sha256": sha256}))


def publish_file(store: BlobStore, key: str, path: Path, content_type: str | None = None) -> StoredObject:
    """Store a workspace file at `key`, create-only: a server-side copy of the object it came
    from when it still holds exactly that object's bytes (checked by sha256), else an upload."""
    try:
        origin = json.loads(_origin_note(path).read_text())
    except FileNotFoundError:
        return store.put_file(key, path, content_type)
    if file_sha256(path)[1] != origin["sha256"]:
        return store.put_file(key, path, content_type)
    return store.copy(origin["key"], key, origin["sha256"], content_type)


class BlobStoreResource(ConfigurableResource):
    """Opens the store named by a URL: `gs://bucket/prefix` or a local directory path."""

    url: str = Field(description="gs://bucket/prefix, or a local directory.")

    def open(self) -> BlobStore:
        if self.url.startswith("gs://"):
            from vidpipe_dagster.resources.gcs import GcsBlobStore

            return GcsBlobStore.from_url(self.url)
        if "://" in self.url and not self.url.startswith("file://"):
            raise ValueError(f"storage URL {self.url!r}: use gs://bucket/prefix or a local path")
        return LocalBlobStore(Path(self.url.removeprefix("file://")))
