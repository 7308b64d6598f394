"""Resources from the environment, with safe local defaults.

A setting given in the environment is passed as `EnvVar`, so its value (a database password, say)
is read at run time and never shown in the UI; an unset one falls back to a local default.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from dagster import EnvVar

from vidpipe_dagster.production import check_production_settings, is_production
from vidpipe_dagster.resources.controls import ProjectControls
from vidpipe_dagster.resources.inbox import InboxResource
from vidpipe_dagster.resources.ledger import AttemptLedger
from vidpipe_dagster.resources.lease import ProjectLease
from vidpipe_dagster.resources.quality_policy import quality_policy_from_environment
from vidpipe_dagster.resources.paid_calls import PaidCalls
from vidpipe_dagster.resources.storage import BlobStoreResource
from vidpipe_dagster.resources.workspace import WorkspaceResource

MODEL_BACKENDS = ("local", "vertex")


HOME_FOLDER = ".vidpipe"


def locate_home() -> tuple[Path, str]:
    """Where embedded state lives (objects, ledger), and how it was found: `VIDPIPE_HOME`; else the
    nearest `.vidpipe` folder in the current directory or above it (the way git finds `.git`), so
    commands work from any folder of a project; else `./.vidpipe`, to be created."""
    if os.environ.get("VIDPIPE_HOME"):
        return Path(os.environ["VIDPIPE_HOME"]).resolve(), "from VIDPIPE_HOME"
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / HOME_FOLDER).is_dir():
            return folder / HOME_FOLDER, f"found from {here}"
    return here / HOME_FOLDER, f"no {HOME_FOLDER} in {here} or any folder above it, and VIDPIPE_HOME is not set"


def vidpipe_home() -> Path:
    return locate_home()[0]


def _setting(name: str, default: str) -> Any:
    return EnvVar(name) if os.environ.get(name) else default


def default_budget_usd() -> float | None:
    """VIDPIPE_BUDGET_USD: a new project's budget when its brief names none; unset = unlimited."""
    value = os.environ.get("VIDPIPE_BUDGET_USD", "").strip()
    if not value:
        return None
    try:
        budget = float(value)
    except ValueError:
        raise ValueError(f"VIDPIPE_BUDGET_USD={value!r} is not a number of US dollars") from None
    if budget < 0:
        raise ValueError(f"VIDPIPE_BUDGET_USD={value!r} must not be negative")
    return budget


def model_resources(backend: str) -> dict[str, Any]:
    if backend == "local":
        from vidpipe_dagster.resources.models.local import LocalImageModel, LocalJudge, LocalTextModel, LocalVideoModel

        return {
            "text_model": LocalTextModel(),
            "image_model": LocalImageModel(),
            "video_model": LocalVideoModel(),
            "quality_judge": LocalJudge(),
        }
    if backend == "vertex":
        from vidpipe_dagster.resources.models.vertex import vertex_model_resources

        return vertex_model_resources()
    raise ValueError(f"VIDPIPE_MODEL_BACKEND={backend!r}: choose one of {', '.join(MODEL_BACKENDS)}")


def inbox_resource(home: Path) -> InboxResource:
    limits = {
        field: EnvVar.int(name)
        for field, name in (("max_brief_bytes", "VIDPIPE_BRIEF_MAX_BYTES"), ("max_audio_bytes", "VIDPIPE_AUDIO_MAX_BYTES"))
        if os.environ.get(name)
    }
    sources = [source.strip() for source in os.environ.get("VIDPIPE_AUDIO_SOURCES", "").split(",") if source.strip()]
    return InboxResource(url=_setting("VIDPIPE_INBOX_URL", str(home / "inbox")), audio_sources=sources, **limits)


def build_resources() -> dict[str, Any]:
    # Imported here: the IO manager depends on the resources defined in this package.
    from vidpipe_dagster.io_manager import AttemptIOManager

    if is_production():
        check_production_settings()
    home = vidpipe_home()
    storage_url = _setting("VIDPIPE_STORAGE_URL", str(home / "objects"))
    blob_store = BlobStoreResource(url=storage_url)
    database_url = _setting("VIDPIPE_DATABASE_URL", f"sqlite:///{home / 'vidpipe.db'}")
    ledger = AttemptLedger(database_url=database_url)
    # The TTL is how soon a dead worker's project is picked up again. The database is the ledger's,
    # so that a fenced commit checks the lease and writes the ledger in one transaction.
    ttl = EnvVar.int("VIDPIPE_LEASE_TTL_SECONDS") if os.environ.get("VIDPIPE_LEASE_TTL_SECONDS") else 60
    lease = ProjectLease(database_url=database_url, ttl_seconds=ttl)
    workspace = WorkspaceResource(
        root=_setting("VIDPIPE_WORKSPACE_ROOT", str(Path(tempfile.gettempdir()) / "vidpipe-workspaces"))
    )
    return {
        "blob_store": blob_store,
        "ledger": ledger,
        "workspace": workspace,
        "inbox": inbox_resource(home),
        "controls": ProjectControls(database_url=database_url),
        "lease": lease,
        "quality_policy": quality_policy_from_environment(),
        "paid_calls": PaidCalls(
            database_url=database_url,
            storage_url=storage_url,
            default_budget_usd=default_budget_usd(),
            pricing=_setting("VIDPIPE_PRICING", ""),
        ),
        "io_manager": AttemptIOManager(blob_store=blob_store, ledger=ledger, workspace=workspace, lease=lease),
        **model_resources(os.environ.get("VIDPIPE_MODEL_BACKEND", "local")),
    }


def resource_from_environment(key: str) -> Any:
    """One resource as a run would see it (EnvVar values read), for code outside a run: the CLI."""
    return build_resources()[key].process_config_and_initialize()
