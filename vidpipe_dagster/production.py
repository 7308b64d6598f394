"""What a deployed code server and its run workers must be told, checked when the code loads.

Every setting has a local default (a SQLite file and folders under `VIDPIPE_HOME`), which is right
on a laptop and wrong in a container: each run worker would keep its own ledger and objects in its
working directory, and they would vanish with it. The image sets `VIDPIPE_DEPLOYMENT=production`,
and then the code refuses to load until the shared places are named.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from vidpipe_dagster.domain import InvalidInput

DEPLOYMENT_VARIABLE = "VIDPIPE_DEPLOYMENT"
# Each setting a deployment must give, and what it names.
PRODUCTION_SETTINGS = {
    "VIDPIPE_DATABASE_URL": "the Postgres URL of the ledger and leases (postgresql+psycopg2://...)",
    "VIDPIPE_STORAGE_URL": "where objects live (gs://bucket/prefix, or a folder every worker mounts)",
    "VIDPIPE_INBOX_URL": "where briefs are dropped (gs://bucket/prefix, or a folder every worker mounts)",
}


def is_production(environ: Mapping[str, str] = os.environ) -> bool:
    return environ.get(DEPLOYMENT_VARIABLE, "") == "production"


def check_production_settings(environ: Mapping[str, str] = os.environ) -> None:
    """Raise InvalidInput naming every production setting that is missing or local-only."""
    problems = [f"{name} is not set: {meaning}" for name, meaning in PRODUCTION_SETTINGS.items() if not environ.get(name, "").strip()]
    if environ.get("VIDPIPE_DATABASE_URL", "").startswith("sqlite"):
        problems.append("VIDPIPE_DATABASE_URL is a SQLite file, which only one machine can see: use Postgres")
    if problems:
        raise InvalidInput(
            f"{DEPLOYMENT_VARIABLE}=production, but: " + "; ".join(problems)
            + ". Set them on the code server and pass them to run workers (see README, Deploy)."
        )
