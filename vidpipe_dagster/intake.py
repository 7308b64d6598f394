"""Taking a brief in: every rule a brief file and its audio track must pass, in one place.

The inbox sensor (`take_briefs`), `vidpipe submit` (`deliver_brief`) and any other caller
(`store_brief`: a brief from the launchpad) go through here, so a brief is checked the same way
wherever it comes from, and a project id is taken only once.

- Limits before parsing: the file's name, its size (known before a byte is read), UTF-8.
- Any brief that cannot be decoded or validated is refused with the reason, never retried.
- The audio track is a path relative to the brief's own folder that stays inside it once links
  are resolved, or a `gs://` URI under an allowed prefix; it must decode as audio and stay under
  a size limit. Paths that are absolute, climb with `..`, or name vidpipe's own `submissions/`
  keys are refused.
- A file ends in `accepted/` (its project stored, its partition and run requested in the same
  tick) or `rejected/` beside its reason. Only a failure of vidpipe's own storage or database
  leaves it waiting, for `BriefLimits.max_tries` ticks at most.

Storing is idempotent for the same brief: a submitter that crashed after storing can submit again
and carry on.
"""

from __future__ import annotations

import logging
import re
import tempfile
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from dagster import DagsterInstance

from vidpipe_dagster.domain import Brief, BriefLimits, InvalidBrief, InvalidInput, parse_brief
from vidpipe_dagster.partitions import projects_partitions, register_project
from vidpipe_dagster.resources.inbox import GcsInbox, Inbox, LocalInbox, Outcome, RefusedFile
from vidpipe_dagster.resources.objects import validate_key
from vidpipe_dagster.resources.storage import BlobStore, ObjectAlreadyExists, ObjectMissing, file_sha256

# Briefs taken per tick: a burst of drops is worked through over a few ticks, each tick staying
# well inside the daemon's sensor timeout.
BRIEFS_PER_TICK = 20
# A reason is read by a person; a brief with ten thousand bad fields still gets a readable one.
MAX_REASON_CHARS = 2000
# A brief as a file's bytes, JSON text, or already parsed (the launchpad's config).
RawBrief = bytes | str | Mapping[str, Any]
# Where `vidpipe submit` puts the audio track it carries along, inside the inbox.
TRACKS_FOLDER = "tracks"


class ProjectExists(InvalidInput):
    pass


@dataclass(frozen=True)
class AudioSource:
    """An audio track a brief names: a file at a clean relative path inside `folder`."""

    folder: Inbox
    name: str
    given: str

    @property
    def suffix(self) -> str:
        # The stored copy keeps the suffix (some formats are told by it) if it is a plain one.
        suffix = PurePosixPath(self.name).suffix.lower()
        return suffix if re.fullmatch(r"\.[a-z0-9]{1,8}", suffix) else ".audio"


@dataclass(frozen=True)
class Submission:
    """A brief that passed every check that needs no storage: as given, and where its audio is."""

    brief: Brief
    audio: AudioSource | None


def shown(text: str, limit: int = 120) -> str:
    """A user's string, safe in a log line or a reason file whatever it holds."""
    quoted = repr(text)
    return quoted if len(quoted) <= limit else f"{quoted[:limit]}…"


def brief_key(project_id: str) -> str:
    return f"submissions/{project_id}/brief.json"


def check_file_name(name: str, limits: BriefLimits) -> None:
    try:
        size = len(name.encode())
    except UnicodeEncodeError:
        raise InvalidBrief(f"the file name {shown(name)} is not UTF-8") from None
    if size > limits.max_name_bytes:
        raise InvalidBrief(f"the file name is {size} bytes long; the limit is {limits.max_name_bytes}")


def decode_brief(raw: RawBrief, limits: BriefLimits) -> Brief:
    """A brief from a file's bytes, JSON text or a mapping: `InvalidBrief` naming the problem for
    anything else, whatever it raises on the way."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    if isinstance(raw, bytes):
        if len(raw) > limits.max_brief_bytes:
            raise InvalidBrief(f"the brief is {len(raw)} bytes; the limit is {limits.max_brief_bytes}")
        try:
            raw = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InvalidBrief(f"the brief is not UTF-8 text: byte {exc.object[exc.start]:#04x} at offset {exc.start}") from None
    try:
        return parse_brief(raw)
    except InvalidInput:
        raise
    except Exception as exc:  # the promise: no brief, however built, costs more than its rejection
        raise InvalidBrief(f"the brief cannot be read: {type(exc).__name__}: {exc}") from None


def _in_source(bucket: str, key: str, source: str) -> bool:
    source_bucket, _, prefix = source.removeprefix("gs://").partition("/")
    prefix = prefix.strip("/")
    return bucket == source_bucket and (not prefix or key.startswith(prefix + "/"))


def locate_audio(audio: str, base_dir: Inbox | None, limits: BriefLimits) -> AudioSource:
    """Where the brief's audio is, by the rules alone (nothing is read yet)."""
    field = f"brief.audio ({shown(audio)})"
    if not audio.isprintable() or "\\" in audio:
        raise InvalidBrief(f"{field}: use printable characters and '/' between folders")
    try:
        audio.encode()
    except UnicodeEncodeError:
        raise InvalidBrief(f"{field}: not UTF-8 text") from None
    if audio.startswith("gs://"):
        bucket, _, key = audio.removeprefix("gs://").partition("/")
        try:
            validate_key(key)
        except ValueError:
            raise InvalidBrief(f"{field}: not a clean gs://bucket/path URI") from None
        if not any(_in_source(bucket, key, source) for source in limits.audio_sources):
            allowed = ", ".join(limits.audio_sources) or "none (set VIDPIPE_AUDIO_SOURCES)"
            raise InvalidBrief(f"{field}: gs:// tracks are taken only from {allowed}")
        folder, _, name = key.rpartition("/")
        return AudioSource(GcsInbox(f"gs://{bucket}/{folder}"), name, audio)
    if "://" in audio:
        raise InvalidBrief(f"{field}: give a path beside the brief or a gs:// URI")
    if audio.startswith("/") or re.match(r"[A-Za-z]:", audio):
        raise InvalidBrief(f"{field}: an absolute path; give a path relative to the brief's folder")
    parts = [part for part in audio.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise InvalidBrief(f"{field}: '..' leaves the brief's folder; give a path inside it")
    if not parts:
        raise InvalidBrief(f"{field}: names no file")
    if parts[0] == "submissions":
        raise InvalidBrief(f"{field}: submissions/ holds vidpipe's stored tracks; give your own file")
    if any(len(part.encode()) > 255 for part in parts):
        raise InvalidBrief(f"{field}: a name in the path is over 255 bytes")
    if base_dir is None:
        raise InvalidBrief(f"{field}: a relative path needs the brief's folder; give a gs:// URI here")
    return AudioSource(base_dir, "/".join(parts), audio)


def inspect_brief(raw: RawBrief, *, base_dir: Inbox | None, limits: BriefLimits) -> Submission:
    brief = decode_brief(raw, limits)
    return Submission(brief, locate_audio(brief.audio, base_dir, limits) if brief.audio is not None else None)


def fetch_audio(source: AudioSource, scratch: Path, limits: BriefLimits) -> Path:
    """A copy of the track in `scratch`, refused unless it is within the limits and decodes as audio."""
    from vidpipe_dagster.media.audio import probe_audio

    field = f"brief.audio ({shown(source.given)})"
    try:
        track = source.folder.fetch(source.name, scratch / f"track{source.suffix}", limits.max_audio_bytes)
    except RefusedFile as exc:
        raise InvalidBrief(f"{field}: {exc}") from None
    try:
        probe_audio(track)
    except Exception as exc:  # whatever a hostile file makes the decoder raise
        raise InvalidBrief(f"{field} is not an audio track: {exc}") from None
    return track


def _claim(instance: DagsterInstance, store: BlobStore, project_id: str, content: bytes) -> None:
    """`ProjectExists` unless the project is free or holds this very brief; writes nothing."""
    taken = ProjectExists(f"project {project_id!r} exists already; choose another project_id")
    try:
        if store.get_bytes(brief_key(project_id)) != content:
            raise taken
    except ObjectMissing:
        # Nothing stored yet: refuse a project made some other way (the UI).
        if instance.has_dynamic_partition(projects_partitions.name, project_id):
            raise taken from None


def store_submission(instance: DagsterInstance, store: BlobStore, submission: Submission, limits: BriefLimits) -> Brief:
    """Store a checked brief and its audio track (so any worker can read it), create-only.

    The stored brief names the stored copy of the track, whose key carries its content hash: the
    same brief with another track is another brief."""
    brief = submission.brief
    with tempfile.TemporaryDirectory(prefix="vidpipe-intake-") as scratch:
        track = fetch_audio(submission.audio, Path(scratch), limits) if submission.audio else None
        if track is not None:
            _, sha256 = file_sha256(track)
            brief = brief.model_copy(update={"audio": f"submissions/{brief.project_id}/audio-{sha256[:16]}{submission.audio.suffix}"})
        content = brief.model_dump_json(indent=2).encode()
        _claim(instance, store, brief.project_id, content)
        if track is not None:
            try:
                store.put_file(brief.audio, track)
            except ObjectAlreadyExists:
                pass  # the same bytes, stored by an earlier try of this same brief
    try:
        store.put_bytes(brief_key(brief.project_id), content, "application/json")
    except ObjectAlreadyExists:
        _claim(instance, store, brief.project_id, content)  # another submitter won the race
    return brief


def store_brief(
    instance: DagsterInstance,
    store: BlobStore,
    raw: RawBrief,
    *,
    base_dir: Inbox | Path | None = None,
    limits: BriefLimits = BriefLimits(),
) -> Brief:
    """Validate and store a brief and its audio track, as the inbox does.

    `base_dir` is the brief's folder, which a relative audio path is read from; without one, only
    a `gs://` track in `limits.audio_sources` is taken. Raises `InvalidBrief` naming the problem,
    `ProjectExists` when the project id is taken by a different brief or a project made some
    other way; anything else is a failure of storage or the database, worth another try."""
    folder = LocalInbox(base_dir) if isinstance(base_dir, Path) else base_dir
    return store_submission(instance, store, inspect_brief(raw, base_dir=folder, limits=limits), limits)


def submit_brief(instance: DagsterInstance, store: BlobStore, raw: RawBrief, **where: Any) -> Brief:
    """`store_brief` (with its `base_dir` and `limits`), then add the project's partition (the
    sensor adds partitions through its result instead)."""
    brief = store_brief(instance, store, raw, **where)
    register_project(instance, brief.project_id)
    return brief


def submitted_brief(store: BlobStore, project_id: str) -> bytes:
    try:
        return store.get_bytes(brief_key(project_id))
    except ObjectMissing:
        raise InvalidInput(
            f"no brief was submitted for project {project_id!r}: drop one into the inbox, run "
            "`vidpipe submit BRIEF`, or paste one into the launchpad's brief_json"
        ) from None


@dataclass(frozen=True)
class IntakeTick:
    """What one look at the inbox took: the briefs stored (one per project, in file order) and
    the files left waiting after a failure of our own, with how many tries each has had."""

    accepted: list[Brief]
    failures: dict[str, int]


class _Vanished(Exception):
    pass


def _take(instance: DagsterInstance, store: BlobStore, inbox: Inbox, name: str, limits: BriefLimits, taken: Mapping[str, str]) -> Brief:
    check_file_name(name, limits)
    try:
        raw = inbox.read(name, limits.max_brief_bytes)
    except FileNotFoundError:
        raise _Vanished from None
    submission = inspect_brief(raw, base_dir=inbox, limits=limits)
    first = taken.get(submission.brief.project_id)
    if first is not None:
        raise InvalidBrief(
            f"a duplicate: project {submission.brief.project_id!r} was submitted by {shown(first)} in the same tick, which was taken"
        )
    return store_submission(instance, store, submission, limits)


def _settle(inbox: Inbox, name: str, outcome: Outcome, log: logging.Logger, reason: str | None = None) -> None:
    if reason is not None:
        reason = reason.encode("utf-8", "backslashreplace").decode()[:MAX_REASON_CHARS]
    try:
        where = inbox.settle(name, outcome, reason=reason)
    except Exception as exc:  # it stays in the inbox and is handled again next tick
        log.error(f"could not move {shown(name)} to {outcome}/ in {inbox.location}: {exc}")
        return
    if reason is None:
        log.info(f"accepted {shown(name)} (moved to {where})")
    else:
        log.warning(f"rejected {shown(name)}: {reason} (moved to {where})")


def take_briefs(
    instance: DagsterInstance,
    store: BlobStore,
    inbox: Inbox,
    limits: BriefLimits,
    failures: Mapping[str, int],
    log: logging.Logger,
) -> IntakeTick:
    """One look at the inbox: store each waiting brief, or reject it with its reason.

    `failures` is what the previous look returned. Nothing one file does, however it fails, keeps
    the others of this look from being taken."""
    taken: dict[str, str] = {}
    accepted, kept = [], {}
    for name in inbox.waiting()[:BRIEFS_PER_TICK]:
        try:
            brief = _take(instance, store, inbox, name, limits, taken)
        except _Vanished:
            continue
        except InvalidInput as exc:
            _settle(inbox, name, "rejected", log, reason=str(exc))
            continue
        except Exception as exc:
            tries = failures.get(name, 0) + 1
            if tries < limits.max_tries:
                log.error(f"could not store {shown(name)} (try {tries} of {limits.max_tries}); it waits for the next tick: {exc}")
                kept[name] = tries
            else:
                reason = f"vidpipe could not store this brief in {tries} tries: {type(exc).__name__}: {exc}. Drop it in again once storage is back"
                _settle(inbox, name, "rejected", log, reason=reason)
            continue
        taken[brief.project_id] = name
        accepted.append(brief)
        _settle(inbox, name, "accepted", log)
    return IntakeTick(accepted, kept)


def deliver_brief(path: Path, inbox: Inbox, limits: BriefLimits) -> tuple[Brief, str]:
    """What `vidpipe submit` does: check a brief file and its audio track as intake will, then drop
    both into the inbox, the track first; on any failure, nothing is left there."""
    if path.is_dir():
        raise InvalidBrief(f"{path} is a folder; give the brief's JSON file")
    folder = LocalInbox(path.parent)
    try:
        raw = folder.read(path.name, limits.max_brief_bytes)
    except FileNotFoundError:
        raise InvalidBrief(f"{path} does not exist") from None
    except RefusedFile as exc:
        raise InvalidBrief(f"the brief {exc}") from None
    submission = inspect_brief(raw, base_dir=folder, limits=limits)
    brief, delivered = submission.brief, []
    try:
        with tempfile.TemporaryDirectory(prefix="vidpipe-submit-") as scratch:
            track = fetch_audio(submission.audio, Path(scratch), limits) if submission.audio else None
            if track is not None and submission.audio.folder is folder:
                # The daemon reads the brief from the inbox, not from here: the track goes along.
                name = f"{TRACKS_FOLDER}/{brief.project_id}-{uuid.uuid4().hex[:8]}{submission.audio.suffix}"
                inbox.deliver(name, track)
                delivered.append(name)
                brief = brief.model_copy(update={"audio": name})
        where = inbox.deliver(f"{brief.project_id}-{uuid.uuid4().hex[:8]}.json", brief.model_dump_json(indent=2).encode())
    except BaseException:
        for name in delivered:
            inbox.remove(name)
        raise
    return brief, where
