"""A BlobStore over a GCS bucket: create-only writes, streamed transfers, retries with backoff.

The client comes straight from google-cloud-storage rather than dagster-gcp's `GCSResource`: that
resource only calls `storage.Client(project=...)`, and importing it loads all of dagster-gcp
(BigQuery, Dataproc, pandas), about 2 s and 110 MB more in every process that touches storage.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import uuid
from pathlib import Path
from typing import BinaryIO

from google.api_core.exceptions import NotFound, PreconditionFailed
from google.api_core.retry import Retry
from google.cloud import storage
from google.cloud.storage.retry import DEFAULT_RETRY

from vidpipe_dagster.domain import StoredObject
from vidpipe_dagster.resources.objects import ObjectAlreadyExists, ObjectMissing, validate_key

# Objects above this size go up as resumable uploads in chunks of this size (GCS wants a multiple
# of 256 KiB); a chunk is held in memory while it is sent, so it bounds an upload's memory.
# bench/transfer.py on the emulator: 16 MiB uploads about twice as fast as 8 MiB for 24 MB of peak
# growth; 32 MiB adds little more speed for 56 MB.
UPLOAD_CHUNK_BYTES = 16 * 1024 * 1024

# Custom metadata naming the write that created an object: after a retried create meets 412, it
# tells our own earlier, successful try (whose response was lost) from another writer's object.
WRITE_ID = "vidpipe-write-id"
# Custom metadata of a server-side copy: the key it was copied from.
COPIED_FROM = "vidpipe-copied-from"


class _HashingReader:
    """Hands a file to an upload and computes its sha256 on the way, so the file is read once."""

    def __init__(self, file: BinaryIO):
        self._file = file
        self._digest = hashlib.sha256()
        self._read = 0

    def tell(self) -> int:
        return self._file.tell()

    def read(self, size: int = -1) -> bytes:
        data = self._file.read(size)
        self._digest.update(data)
        self._read += len(data)
        return data

    def sha256(self, size: int) -> str:
        # Retries resend the chunk already in memory; should a future client re-read the file
        # instead, the digest would be wrong, so refuse it rather than record it.
        if self._read != size:
            raise RuntimeError(f"the upload read {self._read} bytes of a {size}-byte file")
        return self._digest.hexdigest()


class GcsBlobStore:
    """Objects under `gs://bucket/prefix/`. Making one does no I/O; the client is created on first use."""

    def __init__(self, bucket: str, prefix: str = "", *, retry: Retry = DEFAULT_RETRY):
        self.bucket_name = bucket
        self.prefix = prefix.strip("/")
        # Retrying a create is safe because it is conditional (if_generation_match=0): a repeat of
        # a create that did land answers 412, which `_put` resolves by the write id.
        self.retry = retry

    @classmethod
    def from_url(cls, url: str) -> GcsBlobStore:
        bucket, _, prefix = url.removeprefix("gs://").partition("/")
        if not url.startswith("gs://") or not bucket:
            raise ValueError(f"storage URL {url!r}: expected gs://bucket or gs://bucket/prefix")
        return cls(bucket, prefix)

    @functools.cached_property
    def _bucket(self) -> storage.Bucket:
        # With STORAGE_EMULATOR_HOST set the client talks to the emulator with anonymous
        # credentials; otherwise it uses Application Default Credentials. Reading and writing
        # objects needs no project, so none is required.
        return storage.Client(project=None).bucket(self.bucket_name)

    def _name(self, key: str) -> str:
        validate_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def uri(self, key: str) -> str:
        return f"gs://{self.bucket_name}/{self._name(key)}"

    def put_file(self, key: str, source: Path, content_type: str | None = None) -> StoredObject:
        with source.open("rb") as file:
            return self._put(key, file, os.fstat(file.fileno()).st_size, content_type)

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> StoredObject:
        return self._put(key, io.BytesIO(data), len(data), content_type)

    def _put(self, key: str, file: BinaryIO, size: int, content_type: str | None) -> StoredObject:
        blob = self._bucket.blob(self._name(key), chunk_size=UPLOAD_CHUNK_BYTES)
        write_id = uuid.uuid4().hex
        blob.metadata = {WRITE_ID: write_id}
        reader = _HashingReader(file)
        try:
            blob.upload_from_file(
                reader, size=size, content_type=content_type, if_generation_match=0, retry=self.retry
            )
        except PreconditionFailed:
            blob = self._written_by(key, write_id)
        return StoredObject(
            key=key, uri=self.uri(key), size=blob.size, sha256=reader.sha256(size), generation=blob.generation
        )

    def _written_by(self, key: str, write_id: str) -> storage.Blob:
        """The object at `key` after a create met 412: ours when it carries our write id (an earlier
        try landed, its answer was lost), else another writer's, a conflict."""
        blob = self._bucket.get_blob(self._name(key), retry=self.retry)
        if blob is None or (blob.metadata or {}).get(WRITE_ID) != write_id:
            raise ObjectAlreadyExists(self.uri(key)) from None
        return blob

    def copy(self, source_key: str, key: str, sha256: str, content_type: str | None = None) -> StoredObject:
        """A rewrite inside GCS, create-only like every write: no byte passes through this process.
        Large objects take several rewrite calls, each resuming from the last one's token."""
        source = self._bucket.blob(self._name(source_key))
        blob = self._bucket.blob(self._name(key))
        write_id = uuid.uuid4().hex
        blob.metadata = {WRITE_ID: write_id, COPIED_FROM: source_key}
        blob.content_type = content_type
        token = None
        try:
            while True:
                token, _, _ = blob.rewrite(source, token=token, if_generation_match=0, retry=self.retry)
                if token is None:
                    break
        except NotFound:
            raise ObjectMissing(self.uri(source_key)) from None
        except PreconditionFailed:
            blob = self._written_by(key, write_id)
        return StoredObject(
            key=key, uri=self.uri(key), size=blob.size, sha256=sha256, generation=blob.generation, copied_from=source_key
        )

    def get_file(self, key: str, destination: Path) -> Path:
        """Stream `key` into `destination`; a failed download leaves no partial file behind."""
        try:
            with destination.open("wb") as out:
                self._bucket.blob(self._name(key)).download_to_file(out, retry=self.retry)
        except BaseException as exc:
            destination.unlink(missing_ok=True)
            if isinstance(exc, NotFound):
                raise ObjectMissing(self.uri(key)) from None
            raise
        return destination

    def get_bytes(self, key: str) -> bytes:
        try:
            return self._bucket.blob(self._name(key)).download_as_bytes(retry=self.retry)
        except NotFound:
            raise ObjectMissing(self.uri(key)) from None

    def delete(self, key: str) -> bool:
        try:
            self._bucket.blob(self._name(key)).delete(retry=self.retry)
        except NotFound:
            return False
        return True
