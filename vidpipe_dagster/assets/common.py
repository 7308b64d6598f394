"""What every asset step does around its own work: log context, a workspace, downloads."""


from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from dagster import (
    AssetExecutionContext,
    Backoff,
    DagsterExecutionInterruptedError,
    DagsterRunStatus,
    Failure,
    Jitter,
    MetadataValue,
    RetryPolicy,
)
from vidpipe_dagster.artifacts import split_partition, upstream_label
from vidpipe_dagster.domain import Brief, InvalidInput, StoredArtifact
from vidpipe_dagster.log_context import project_context
from vidpipe_dagster.resources.models.protocols import ModelRefusal
from vidpipe_dagster.resources.storage import BlobStore
from vidpipe_dagster.resources.workspace import WorkspaceResource


# Model APIs fail transiently (429s the SDK gave up on, timeouts, dropped connections): retry the
# step with backoff. Bad input and refusals are raised as Failure(allow_retries=False) instead.
TRANSIENT_RETRY = RetryPolicy(max_retries=2, delay=5, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS)


@contextmanager
def in_project(context: AssetExecutionContext) -> Iterator[None]:
    """The step's project as log context, so every line our code logs names it. Errors that a
    retry cannot fix fail the step at once, bypassing the retry policy."""
    with project_context(split_partition(context.partition_key)[0]):
        if _run_is_stopping(context):
            raise Failure(description="the run was terminated", allow_retries=False)
        try:
            yield
        except (InvalidInput, ModelRefusal) as exc:
            raise Failure(description=str(exc), allow_retries=False) from exc
        except (Exception, DagsterExecutionInterruptedError, KeyboardInterrupt) as exc:
            # Dagster retries an interrupted step that has a retry policy (right for a preempted
            # worker), and ffmpeg or PyAV report an interrupt as an ordinary error: either way a
            # run that a person terminated would carry on.
            if _run_is_stopping(context):
                raise Failure(description="the run was terminated", allow_retries=False) from exc
            raise


def _run_is_stopping(context: AssetExecutionContext) -> bool:
    run = context.instance.get_run_by_id(context.run.run_id)
    return run is not None and run.status in (DagsterRunStatus.CANCELING, DagsterRunStatus.CANCELED)


@contextmanager
def asset_step(context: AssetExecutionContext, workspace: WorkspaceResource) -> Iterator[Path]:
    """Run a step in its project's log context and its own workspace.

    The files an asset returns still have to be uploaded by the IO manager after the asset
    function returns, so on success the workspace travels with the `PendingArtifact` and the IO
    manager removes it after the upload; on failure it is removed here."""
    directory = workspace.create(_workspace_label(context))
    with in_project(context):
        try:
            yield directory
        except BaseException:
            workspace.discard(directory)
            raise


@contextmanager
def scratch_step(context: AssetExecutionContext, workspace: WorkspaceResource) -> Iterator[Path]:
    """Like `asset_step`, for an asset that stores its own attempts or returns no files: the
    workspace is removed when the block exits, however it exits."""
    with in_project(context), workspace.open(_workspace_label(context)) as directory:
        yield directory


def _workspace_label(context: AssetExecutionContext) -> str:
    return f"{context.run.run_id[:8]}-{context.asset_key.to_user_string()}-{context.partition_key}"


def fetch(store: BlobStore, artifact: StoredArtifact, name: str, directory: Path) -> Path:
    """Download one object of an artifact into the workspace, named after its attempt."""
    stored = artifact.objects[name]
    destination = directory / f"{artifact.asset}-{artifact.partition.replace('|', '-')}-a{artifact.attempt}-{name}"
    return store.get_file(stored.key, destination)


def fetch_audio(store: BlobStore, brief: Brief, directory: Path) -> Path:
    """Download the brief's stored audio track into the workspace, keeping its suffix (the
    format of some tracks is told by it)."""
    return store.get_file(brief.audio, directory / f"track{PurePosixPath(brief.audio).suffix}")


def lineage(*artifacts: StoredArtifact) -> dict[str, int]:
    return {upstream_label(a.asset, a.partition): a.attempt for a in artifacts}


def image_markdown(images: list[tuple[str, Path]], width: int = 240) -> MetadataValue:
    """Small inline JPEG thumbnails, so the UI shows what an attempt looks like without a download."""
    from vidpipe_dagster.media.draw import jpeg_data_uri

    return MetadataValue.md("\n\n".join(f"**{label}**\n\n![{label}]({jpeg_data_uri(path, width)})" for label, path in images))
