"""How many calls each paid model API may have in flight, across every run on the instance.

Assets declare their pool (`video_model`, `image_model`, `text_model`). Dagster keeps per-pool
limits in its storage, not in dagster.yaml (which has only `default_limit`, for pools nobody set),
so a deployment applies them from the environment at start-up, and again whenever they change.
With `concurrency.pools.granularity: op` the limits hold step by step in every run: queued runs
and in-process ones alike.

Every model pool is given a limit of its own, the default one if the environment names none:
Dagster 1.13 on Postgres fails a run that initialises a pool's default limit when another run
has just done so, or after `default_limit` changed (its INSERT fails, and the UPDATE that follows
runs in the aborted transaction: dagster-io/dagster#33552). A pool with a limit of its own is
never initialised by a run.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from dagster import DagsterInstance

from vidpipe_dagster.domain import InvalidInput

# Each model pool and the environment variable holding its number of slots.
MODEL_POOLS = {
    "video_model": "VIDPIPE_VIDEO_MODEL_SLOTS",
    "image_model": "VIDPIPE_IMAGE_MODEL_SLOTS",
    "text_model": "VIDPIPE_TEXT_MODEL_SLOTS",
}


def pool_limits_from_env(environ: Mapping[str, str] = os.environ) -> dict[str, int]:
    """The limits the environment sets; a pool whose variable is unset keeps its current limit."""
    limits = {}
    for pool, variable in MODEL_POOLS.items():
        value = environ.get(variable, "").strip()
        if not value:
            continue
        if not value.isdigit():
            raise InvalidInput(f"{variable}={value!r}: expected a whole number of concurrent calls (0 pauses the pool)")
        limits[pool] = int(value)
    return limits


def apply_pool_limits(instance: DagsterInstance, limits: Mapping[str, int]) -> dict[str, int]:
    """Store each pool's limit, and give a model pool not among them that has no limit of its own
    the instance's `concurrency.pools.default_limit` as its own; return every model pool's limit
    now in force (none for a pool, when the instance has no default either)."""
    unknown = sorted(set(limits) - set(MODEL_POOLS))
    if unknown:
        # A typo would otherwise create a pool no asset uses, and limit nothing.
        raise InvalidInput(f"unknown pool {', '.join(unknown)}: the model pools are {', '.join(MODEL_POOLS)}")
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        raise InvalidInput("this Dagster instance's storage cannot enforce pool limits; use Postgres or the default SQLite storage")
    default = instance.global_op_concurrency_default_limit
    own = {pool.name for pool in storage.get_pool_limits() if not pool.from_default}
    if default is not None:
        for pool in MODEL_POOLS.keys() - limits.keys() - own:
            storage.set_concurrency_slots(pool, default)
    for pool, limit in limits.items():
        storage.set_concurrency_slots(pool, limit)
    return {pool.name: pool.limit for pool in storage.get_pool_limits() if pool.name in MODEL_POOLS}
