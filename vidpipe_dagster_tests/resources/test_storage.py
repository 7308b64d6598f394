"""What every BlobStore promises, checked on a local directory and on the GCS emulator alike."""

from __future__ import annotations

import errno
import hashlib
import io
import os
from pathlib import Path

import pytest

from vidpipe_dagster.resources.gcs import GcsBlobStore
from vidpipe_dagster.resources.storage import (
    BlobStore,
    LocalBlobStore,
    ObjectAlreadyExists,
    ObjectMissing,
    publish_file,
    remember_origin,
)

# Over GCS's 8 MiB single-request limit, so the GCS store sends it as a resumable upload in chunks.
LARGE = 9 * 1024 * 1024 + 123


@pytest.fixture(params=["local", "gcs"])
def store(request, tmp_path: Path) -> BlobStore:
    if request.param == "local":
        return LocalBlobStore(tmp_path / "objects")
    return GcsBlobStore(request.getfixturevalue("gcs_bucket"), "objects")


def write(path: Path, size: int) -> Path:
    path.write_bytes(os.urandom(size))
    return path


@pytest.mark.parametrize("size", [0, 1000, LARGE])
def test_a_file_round_trips_with_its_size_and_sha256(store, tmp_path, size):
    source = write(tmp_path / "clip.mp4", size)

    stored = store.put_file("projects/p/clip/attempt-001.mp4", source, "video/mp4")
    copy = store.get_file("projects/p/clip/attempt-001.mp4", tmp_path / "copy.mp4")

    assert copy.read_bytes() == source.read_bytes()
    assert (stored.size, stored.sha256) == (size, hashlib.sha256(source.read_bytes()).hexdigest())
    assert stored.uri == store.uri("projects/p/clip/attempt-001.mp4")


def test_bytes_round_trip(store):
    stored = store.put_bytes("projects/p/storyboard/attempt-001.json", b'{"title": "x"}', "application/json")

    assert store.get_bytes("projects/p/storyboard/attempt-001.json") == b'{"title": "x"}'
    assert stored.sha256 == hashlib.sha256(b'{"title": "x"}').hexdigest()


def test_a_second_create_fails_and_the_first_object_is_intact(store, tmp_path):
    # A small object: fake-gcs-server ignores the precondition on resumable (> 8 MiB) uploads,
    # which real GCS enforces; the single-request path is the one the emulator can check.
    store.put_bytes("projects/p/clip/attempt-001.mp4", b"first writer")

    with pytest.raises(ObjectAlreadyExists) as refused:
        store.put_file("projects/p/clip/attempt-001.mp4", write(tmp_path / "other.mp4", 1000))

    assert refused.value.uri == store.uri("projects/p/clip/attempt-001.mp4")
    assert "never overwritten" in str(refused.value)
    assert store.get_bytes("projects/p/clip/attempt-001.mp4") == b"first writer"


class _DiskFailsMidway(io.FileIO):
    """A source file whose reads fail after 8.5 MiB, as a dying disk or a dropped mount would."""

    def read(self, size: int = -1) -> bytes:
        data = super().read(size)
        if self.tell() > 17 * 512 * 1024:
            raise OSError(errno.EIO, "Input/output error")
        return data


class _FailingSource(type(Path())):
    def open(self, *args, **kwargs):
        return _DiskFailsMidway(self, "rb")


def test_a_write_that_fails_midway_leaves_nothing_and_the_key_stays_free(store, tmp_path):
    source = write(tmp_path / "clip.mp4", LARGE)

    with pytest.raises(OSError, match="Input/output error"):
        store.put_file("projects/p/clip/attempt-001.mp4", _FailingSource(source))

    with pytest.raises(ObjectMissing):
        store.get_bytes("projects/p/clip/attempt-001.mp4")
    stored = store.put_file("projects/p/clip/attempt-001.mp4", source)
    assert stored.size == LARGE


def test_a_missing_object_is_named_and_leaves_no_empty_download(store, tmp_path):
    with pytest.raises(ObjectMissing, match="attempt-009.mp4 does not exist"):
        store.get_file("projects/p/clip/attempt-009.mp4", tmp_path / "copy.mp4")

    assert not (tmp_path / "copy.mp4").exists()


@pytest.mark.parametrize("key", ["../escape.txt", "projects/../../escape.txt", "/etc/passwd", "a//b", "", "a/./b"])
def test_keys_that_are_not_clean_relative_paths_are_refused(store, key):
    with pytest.raises(ValueError, match="not a clean relative path"):
        store.put_bytes(key, b"x")
    with pytest.raises(ValueError, match="not a clean relative path"):
        store.get_bytes(key)


def test_a_file_that_still_holds_a_stored_objects_bytes_is_stored_by_a_copy_and_a_changed_one_uploaded(store, tmp_path):
    answer = store.put_file("paid-requests/ab/abc/charge-1/clip.mp4", write(tmp_path / "paid.mp4", 1000), "video/mp4")
    kept = store.get_file(answer.key, tmp_path / "kept.mp4")
    changed = store.get_file(answer.key, tmp_path / "changed.mp4")
    for path in (kept, changed):
        remember_origin(path, answer.key, answer.sha256)
    changed.write_bytes(b"re-encoded")

    copied = publish_file(store, "projects/p/clip/attempt-001.mp4", kept, "video/mp4")
    uploaded = publish_file(store, "projects/p/clip/attempt-002.mp4", changed, "video/mp4")

    assert (copied.copied_from, copied.sha256, copied.size) == (answer.key, answer.sha256, 1000)
    assert store.get_bytes(copied.key) == kept.read_bytes()
    assert uploaded.copied_from is None and store.get_bytes(uploaded.key) == b"re-encoded"
    with pytest.raises(ObjectMissing):
        store.copy("paid-requests/ab/abc/charge-9/clip.mp4", "projects/p/clip/attempt-003.mp4", answer.sha256)


def test_a_local_copy_shares_the_stored_file_and_is_create_only(tmp_path):
    # The GCS copy's create-only precondition is not enforced by the emulator (see test_gcs).
    store = LocalBlobStore(tmp_path / "objects")
    answer = store.put_file("paid-requests/ab/abc/charge-1/clip.mp4", write(tmp_path / "paid.mp4", 1000))
    store.put_bytes("projects/p/clip/attempt-002.mp4", b"first writer")

    copied = store.copy(answer.key, "projects/p/clip/attempt-001.mp4", answer.sha256)
    with pytest.raises(ObjectAlreadyExists):
        store.copy(answer.key, "projects/p/clip/attempt-002.mp4", answer.sha256)

    assert os.path.samefile(store.root / answer.key, store.root / copied.key)  # no byte written again
    assert store.get_bytes("projects/p/clip/attempt-002.mp4") == b"first writer"
