"""What every object store shares: its errors and what a key may look like.

Both stores (`storage.LocalBlobStore`, `gcs.GcsBlobStore`) build on this, so neither depends on
the other, and the resource that picks one by URL (`storage.BlobStoreResource`) depends on both.
"""

from __future__ import annotations


class ObjectAlreadyExists(FileExistsError):
    """A create-only write found the key taken (HTTP 412 on GCS): nothing was overwritten."""

    def __init__(self, uri: str):
        super().__init__(f"{uri} already exists; objects are never overwritten")
        self.uri = uri


class ObjectMissing(FileNotFoundError):
    def __init__(self, uri: str):
        super().__init__(f"{uri} does not exist")
        self.uri = uri


def validate_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"object key {key!r} is not a clean relative path")
    return key
