from typing import Any

from dagster import Definitions, in_process_executor

from vidpipe_dagster.assets import PIPELINE_ASSETS
from vidpipe_dagster.attention import attention_cleared, needs_attention
from vidpipe_dagster.checks import clip_quality
from vidpipe_dagster.jobs import PIPELINE_JOBS
from vidpipe_dagster.reaper import lease_reaper
from vidpipe_dagster.resources import build_resources
from vidpipe_dagster.sensors import inbox_sensor, scene_sequencer
from vidpipe_dagster.start import start_project
from vidpipe_dagster.steer import steer_project


def build_defs(**resource_overrides: Any) -> Definitions:
    """The code location, with resources read from the environment at call time; a resource can
    be swapped by key (another model backend, say)."""
    return Definitions(
        assets=PIPELINE_ASSETS,
        asset_checks=[clip_quality],
        jobs=[*PIPELINE_JOBS, start_project, steer_project],
        sensors=[inbox_sensor, scene_sequencer, lease_reaper, needs_attention, attention_cleared],
        resources={**build_resources(), **resource_overrides},
        # One run is one process, so one lease holder (resources/lease.py) from the first step to
        # the last. The price, sibling steps not running side by side, is small: siblings share
        # a model pool.
        executor=in_process_executor,
    )


defs = build_defs()
