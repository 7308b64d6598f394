"""Submitting a brief: validated, stored create-only, then its project partition is added.

The CLI and the inbox sensor both submit through here, so a brief is checked the same way
wherever it comes from, and a project id can be submitted only once.
"""

from __future__ import annotations

from pathlib import Path

from dagster import DagsterInstance

from vidpipe_dagster.domain import Brief, InvalidBrief, InvalidInput, parse_brief
from vidpipe_dagster.partitions import projects_partitions, register_project
from vidpipe_dagster.resources.storage import BlobStore, ObjectAlreadyExists, ObjectMissing


class ProjectExists(InvalidInput):
    pass


def brief_key(project_id: str) -> str:
    return f"submissions/{project_id}/brief.json"


def audio_key(project_id: str, source: Path) -> str:
    return f"submissions/{project_id}/audio{source.suffix.lower() or '.audio'}"


def submit_brief(
    instance: DagsterInstance, store: BlobStore, raw: str | bytes | dict, *, base_dir: Path | None = None
) -> Brief:
    """Validate and store a brief, upload its audio track, and add the project partition.

    A local audio path (relative to `base_dir`, the brief file's folder) is uploaded to the store
    so that any worker can read it; the stored brief names the stored copy."""
    brief = parse_brief(raw)
    if instance.has_dynamic_partition(projects_partitions.name, brief.project_id):
        raise ProjectExists(f"project {brief.project_id!r} exists already; choose another project_id")
    if brief.audio and not brief.audio.startswith(("gs://", "submissions/")):
        source = Path(brief.audio)
        source = source if source.is_absolute() else (base_dir or Path.cwd()) / source
        if not source.is_file():
            raise InvalidBrief(f"brief.audio: {brief.audio!r} is not a readable file")
        key = audio_key(brief.project_id, source)
        store.put_file(key, source)
        brief = brief.model_copy(update={"audio": key})
    try:
        store.put_bytes(brief_key(brief.project_id), brief.model_dump_json(indent=2).encode(), "application/json")
    except ObjectAlreadyExists:
        raise ProjectExists(f"project {brief.project_id!r} was submitted already; choose another project_id") from None
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
