"""The inbox users drop brief files into: a local folder, or a GCS prefix.

Waiting briefs are the `*.json` files directly in the inbox. Once handled, a file is moved to
`accepted/` or to `rejected/` (with a `NAME.reason.txt` beside it that says what was wrong), so the
inbox itself only ever shows what is still to be done.

Whatever a file is called and whatever it holds, the inbox reads no more of it than a limit, never
follows a link out of its folder, and stores it under a name the file system takes. What a brief
must be is decided by `vidpipe_dagster.intake`; this is only the folder.
"""

from __future__ import annotations

import errno
import functools
import io
import os
import re
import shutil
import stat
import time
import uuid
from pathlib import Path
from typing import BinaryIO, Literal, Protocol

from dagster import ConfigurableResource
from pydantic import Field

from vidpipe_dagster.domain import BriefLimits, InvalidInput
from vidpipe_dagster.resources.objects import validate_key

Outcome = Literal["accepted", "rejected"]

CHUNK_BYTES = 1024 * 1024
# What is kept of a file's own name in accepted/ and rejected/: far below any file system's limit
# of 255 bytes, with room for the stamp, the unique suffix and `.reason.txt`.
SETTLED_STEM_BYTES = 80


class RefusedFile(InvalidInput):
    """The file cannot be taken as it is: too big, a link, not a plain file, outside the folder."""


class Inbox(Protocol):
    location: str

    def waiting(self) -> list[str]:
        """Names of the brief files waiting, in name order."""
        ...

    def read(self, name: str, max_bytes: int) -> bytes:
        """A waiting file, refused (`RefusedFile`) without being read whole unless it is a plain
        file of at most `max_bytes`; `FileNotFoundError` when it went away since it was listed."""
        ...

    def fetch(self, name: str, destination: Path, max_bytes: int) -> Path:
        """Copy the file at relative path `name` in this folder to `destination`, refused unless
        it stays inside the folder (links resolved) and holds at most `max_bytes`."""
        ...

    def deliver(self, name: str, content: bytes | Path) -> str:
        """Drop a new file in, all at once (the sensor never sees half a file), never over another."""
        ...

    def remove(self, name: str) -> None: ...

    def settle(self, name: str, outcome: Outcome, reason: str | None = None) -> str:
        """Move a handled brief out of the way, with its reason beside it; return where it went."""
        ...


def settled_name(name: str) -> str:
    """`NAME.<stamp>-<unique>.json`, with NAME cut to a safe length and to word characters, dots
    and dashes: a later brief may reuse a name, and the original may be near the file system's limit."""
    stem = re.sub(r"[^\w.-]+", "_", name.removesuffix(".json")).lstrip("._")
    stem = stem.encode()[:SETTLED_STEM_BYTES].decode(errors="ignore") or "brief"
    return f"{stem}.{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}.json"


def reason_name(settled: str) -> str:
    return f"{settled}.reason.txt"


def _copy_limited(source: BinaryIO, destination: BinaryIO, max_bytes: int, shown: str) -> None:
    """Copy at most `max_bytes`: a file that grows past its announced size is refused all the same."""
    copied = 0
    while chunk := source.read(min(CHUNK_BYTES, max_bytes + 1 - copied)):
        copied += len(chunk)
        if copied > max_bytes:
            raise RefusedFile(f"{shown} is over the limit of {max_bytes} bytes")
        destination.write(chunk)


class LocalInbox:
    def __init__(self, folder: Path):
        self.folder = folder
        self.location = str(folder)

    def waiting(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        with os.scandir(self.folder) as entries:
            # Anything but a folder: a link or a FIFO is a brief to reject, not one to ignore.
            return sorted(entry.name for entry in entries if entry.name.endswith(".json") and not entry.is_dir(follow_symlinks=False))

    def _copy_plain_file(self, path: Path, destination: BinaryIO, max_bytes: int, shown: str, inside: Path | None = None) -> None:
        # No link is followed, and a FIFO or device cannot block or stream forever: only a plain
        # file is read, and its size is known before the first byte.
        try:
            descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise RefusedFile(f"{shown} is a link; put the file itself in {self.location}") from None
            if isinstance(exc, PermissionError):
                raise RefusedFile(f"{shown} cannot be read: permission denied") from None
            raise
        with os.fdopen(descriptor, "rb") as file:
            facts = os.fstat(descriptor)
            if not stat.S_ISREG(facts.st_mode):
                raise RefusedFile(f"{shown} is not a plain file")
            if facts.st_size > max_bytes:
                raise RefusedFile(f"{shown} is {facts.st_size} bytes; the limit is {max_bytes}")
            opened = Path(f"/proc/self/fd/{descriptor}")
            if inside is not None and opened.exists() and not opened.resolve().is_relative_to(inside):
                raise RefusedFile(f"{shown} was moved outside {self.location} while it was read")
            _copy_limited(file, destination, max_bytes, shown)

    def read(self, name: str, max_bytes: int) -> bytes:
        buffer = io.BytesIO()
        self._copy_plain_file(self.folder / name, buffer, max_bytes, name)
        return buffer.getvalue()

    def fetch(self, name: str, destination: Path, max_bytes: int) -> Path:
        root = self.folder.resolve()
        try:
            real = (root / name).resolve(strict=True)
        except (FileNotFoundError, NotADirectoryError):
            raise RefusedFile(f"{name} does not exist in {self.location}") from None
        except (OSError, RuntimeError) as exc:  # a loop of links, a name too long
            raise RefusedFile(f"{name} cannot be resolved in {self.location}: {exc}") from None
        if not real.is_relative_to(root):
            raise RefusedFile(f"{name} leads outside {self.location} (through a link)")
        try:
            with destination.open("wb") as out:
                self._copy_plain_file(real, out, max_bytes, name, inside=root)
        except BaseException:
            destination.unlink(missing_ok=True)
            raise
        return destination

    def deliver(self, name: str, content: bytes | Path) -> str:
        target = self.folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{uuid.uuid4().hex}.partial")
        try:
            if isinstance(content, Path):
                shutil.copyfile(content, partial)
            else:
                partial.write_bytes(content)
            os.link(partial, target)  # fails when the name is taken: never over another file
        finally:
            partial.unlink(missing_ok=True)
        return str(target)

    def remove(self, name: str) -> None:
        (self.folder / name).unlink(missing_ok=True)

    def settle(self, name: str, outcome: Outcome, reason: str | None = None) -> str:
        destination = self.folder / outcome / settled_name(name)
        destination.parent.mkdir(exist_ok=True)
        reason_file = destination.with_name(reason_name(destination.name))
        if reason is not None:
            reason_file.write_text(reason + "\n", encoding="utf-8")
        try:
            os.replace(self.folder / name, destination)
        except BaseException:
            reason_file.unlink(missing_ok=True)
            raise
        return str(destination)


class GcsInbox:
    def __init__(self, url: str):
        bucket, _, prefix = url.removeprefix("gs://").partition("/")
        self.bucket_name, self.prefix = bucket, prefix.strip("/")
        self.location = f"gs://{bucket}/{self.prefix}" if self.prefix else f"gs://{bucket}"

    @functools.cached_property
    def _bucket(self):
        from google.cloud import storage

        return storage.Client(project=None).bucket(self.bucket_name)

    def _name(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def _uri(self, name: str) -> str:
        return f"gs://{self.bucket_name}/{self._name(name)}"

    def waiting(self) -> list[str]:
        listing = self._bucket.client.list_blobs(self.bucket_name, prefix=self._name(""), delimiter="/")
        return sorted(blob.name.rsplit("/", 1)[-1] for blob in listing if blob.name.endswith(".json"))

    def _sized_blob(self, name: str, max_bytes: int, shown: str):
        blob = self._bucket.get_blob(self._name(name))
        if blob is None:
            raise FileNotFoundError(f"{self._uri(name)} does not exist")
        if blob.size > max_bytes:
            raise RefusedFile(f"{shown} is {blob.size} bytes; the limit is {max_bytes}")
        return blob

    def read(self, name: str, max_bytes: int) -> bytes:
        blob = self._sized_blob(name, max_bytes, name)
        if blob.size == 0:
            return b""
        # The generation pins the object whose size was checked; a newer one is a new file.
        return blob.download_as_bytes(start=0, end=blob.size - 1, if_generation_match=blob.generation)

    def fetch(self, name: str, destination: Path, max_bytes: int) -> Path:
        try:
            validate_key(name)
        except ValueError:
            raise RefusedFile(f"{name} is not a clean path inside {self.location}") from None
        try:
            blob = self._sized_blob(name, max_bytes, self._uri(name))
        except FileNotFoundError as exc:
            raise RefusedFile(str(exc)) from None
        try:
            blob.download_to_filename(str(destination), if_generation_match=blob.generation)
        except BaseException:
            destination.unlink(missing_ok=True)
            raise
        return destination

    def deliver(self, name: str, content: bytes | Path) -> str:
        blob = self._bucket.blob(self._name(name))
        if isinstance(content, Path):
            blob.upload_from_filename(str(content), if_generation_match=0)
        else:
            blob.upload_from_string(content, content_type="application/json", if_generation_match=0)
        return self._uri(name)

    def remove(self, name: str) -> None:
        from google.api_core.exceptions import NotFound

        try:
            self._bucket.blob(self._name(name)).delete()
        except NotFound:
            pass

    def settle(self, name: str, outcome: Outcome, reason: str | None = None) -> str:
        source = self._bucket.blob(self._name(name))
        destination = self._name(f"{outcome}/{settled_name(name)}")
        if reason is not None:
            self._bucket.blob(reason_name(destination)).upload_from_string(reason + "\n", content_type="text/plain; charset=utf-8")
        self._bucket.copy_blob(source, self._bucket, destination)
        source.delete()
        return f"gs://{self.bucket_name}/{destination}"


class InboxResource(ConfigurableResource):
    url: str = Field(description="A local folder, or gs://bucket/prefix, that brief files are dropped into.")
    max_brief_bytes: int = Field(default=BriefLimits().max_brief_bytes, description="A bigger brief file is refused unread.")
    max_audio_bytes: int = Field(default=BriefLimits().max_audio_bytes, description="A bigger audio track is refused.")
    audio_sources: list[str] = Field(
        default_factory=list,
        description="gs://bucket/prefix URIs a brief's audio may name; a GCS inbox's own prefix always may.",
    )

    def open(self) -> Inbox:
        if self.url.startswith("gs://"):
            return GcsInbox(self.url)
        return LocalInbox(Path(self.url))

    def limits(self) -> BriefLimits:
        own = (GcsInbox(self.url).location,) if self.url.startswith("gs://") else ()
        return BriefLimits(
            max_brief_bytes=self.max_brief_bytes,
            max_audio_bytes=self.max_audio_bytes,
            audio_sources=(*self.audio_sources, *own),
        )
