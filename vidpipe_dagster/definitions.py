from typing import Any

from dagster import Definitions, in_process_executor

from vidpipe_dagster.assets import PIPELINE_ASSETS
from vidpipe_dagster.checks import clip_quality
from vidpipe_dagster.jobs import PIPELINE_JOBS
from vidpipe_dagster.resources import build_resources


def build_defs(**resource_overrides: Any) -> Definitions:
    """The code location, with resources read from the environment at call time; a resource can
    be swapped by key (another model backend, say)."""
    return Definitions(
        assets=PIPELINE_ASSETS,
        asset_checks=[clip_quality],
        jobs=PIPELINE_JOBS,
        resources={**build_resources(), **resource_overrides},
        # One run is one process, so it holds its project's lease (resources/lease.py) from the
        # first step to the last: a run's steps are sequential anyway, scene after scene.
        executor=in_process_executor,
    )


defs = build_defs()
