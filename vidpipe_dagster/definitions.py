from dagster import Definitions

from vidpipe_dagster.assets import PIPELINE_ASSETS
from vidpipe_dagster.jobs import PIPELINE_JOBS
from vidpipe_dagster.resources import build_resources


def build_defs() -> Definitions:
    """The code location, with resources read from the environment at call time."""
    return Definitions(assets=PIPELINE_ASSETS, jobs=PIPELINE_JOBS, resources=build_resources())


defs = build_defs()
