"""Submitting a brief: validated, stored create-only, and its project partition added.

The CLI and the inbox sensor both submit through here, so a brief is checked the same way wherever
it comes from, and a project id is taken only once. Storing is idempotent for the same brief: a
submitter that crashed after storing can submit again and carry on.
"""

from __future__ import annotations

import tempfile
from pathlib import Path, PurePosixPath

from dagster import DagsterInstance

from vidpipe_dagster.domain import Brief, InvalidBrief, InvalidInput, parse_brief
from vidpipe_dagster.partitions import projects_partitions, register_project
from vidpipe_dagster.resources.storage import BlobStore, ObjectAlreadyExists, ObjectMissing


class ProjectExists(InvalidInput):
    pass


def brief_key(project_id: str) -> str:
    return f"submissions/{project_id}/brief.json"


def _audio_source(audio: str, base_dir: Path | None) -> Path | str:
    if audio.startswith("gs://"):
        return audio
    source = Path(audio)
    source = source if source.is_absolute() else (base_dir or Path.cwd()) / source
    if not source.is_file():
        raise InvalidBrief(f"brief.audio: {audio!r} is not a readable file")
    return source


def _upload_audio(store: BlobStore, key: str, source: Path | str) -> None:
    try:
        if isinstance(source, Path):
            store.put_file(key, source)
            return
        from vidpipe_dagster.resources.gcs import GcsBlobStore

        folder, _, name = source.rpartition("/")
        with tempfile.TemporaryDirectory(prefix="vidpipe-audio-") as scratch:
            local = GcsBlobStore.from_url(folder).get_file(name, Path(scratch) / name)
            store.put_file(key, local)
    except ObjectAlreadyExists:
        pass  # stored by an earlier try of this same submission (the brief matched byte for byte)
    except ObjectMissing:
        raise InvalidBrief(f"brief.audio: {source} does not exist") from None


def store_brief(instance: DagsterInstance, store: BlobStore, raw: str | bytes | dict, *, base_dir: Path | None = None) -> Brief:
    """Validate and store a brief (and its audio track, so any worker can read it).

    The stored brief names the stored copy of the audio. Raises `ProjectExists` when the project
    id is taken by a different brief or by a project made some other way."""
    brief = parse_brief(raw)
    audio = _audio_source(brief.audio, base_dir) if brief.audio and not brief.audio.startswith("submissions/") else None
    if audio is not None:
        suffix = PurePosixPath(str(audio)).suffix.lower() or ".audio"
        brief = brief.model_copy(update={"audio": f"submissions/{brief.project_id}/audio{suffix}"})
    content = brief.model_dump_json(indent=2).encode()
    key = brief_key(brief.project_id)
    taken = ProjectExists(f"project {brief.project_id!r} exists already; choose another project_id")
    try:
        if store.get_bytes(key) != content:
            raise taken
    except ObjectMissing:
        # Nothing stored yet: refuse a project made some other way (the UI) before storing anything.
        if instance.has_dynamic_partition(projects_partitions.name, brief.project_id):
            raise taken from None
        try:
            store.put_bytes(key, content, "application/json")
        except ObjectAlreadyExists:
            if store.get_bytes(key) != content:  # another submitter won the race with another brief
                raise taken from None
    if audio is not None:
        _upload_audio(store, brief.audio, audio)
    return brief


def submit_brief(instance: DagsterInstance, store: BlobStore, raw: str | bytes | dict, *, base_dir: Path | None = None) -> Brief:
    """Store a brief and add its project partition (the sensor adds partitions through its result)."""
    brief = store_brief(instance, store, raw, base_dir=base_dir)
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
