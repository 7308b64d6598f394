"""Model pool limits from the environment, stored on real instances: SQLite, and the production
Postgres one."""

from __future__ import annotations

import pytest
import sqlalchemy

from vidpipe_dagster.domain import InvalidInput
from vidpipe_dagster.pools import apply_pool_limits, pool_limits_from_env


def test_limits_set_in_the_environment_are_stored_and_the_others_left_alone(instance):
    apply_pool_limits(instance, {"text_model": 5})

    limits = pool_limits_from_env({"VIDPIPE_VIDEO_MODEL_SLOTS": "1", "VIDPIPE_IMAGE_MODEL_SLOTS": " 3 ", "VIDPIPE_TEXT_MODEL_SLOTS": ""})

    assert apply_pool_limits(instance, limits) == {"video_model": 1, "image_model": 3, "text_model": 5}


def test_a_limit_that_is_no_whole_number_is_refused_naming_its_variable():
    with pytest.raises(InvalidInput, match=r"VIDPIPE_VIDEO_MODEL_SLOTS='two'"):
        pool_limits_from_env({"VIDPIPE_VIDEO_MODEL_SLOTS": "two"})


def test_an_unknown_pool_is_refused_rather_than_created(instance):
    with pytest.raises(InvalidInput, match="unknown pool vidoe_model"):
        apply_pool_limits(instance, {"vidoe_model": 1})
    assert apply_pool_limits(instance, {}) == {}


def test_on_postgres_every_model_pool_gets_a_limit_of_its_own_so_no_run_initialises_a_default(deployment_instance):
    """The production instance (Postgres, `default_limit: 1`): a pool the environment leaves unset
    is pinned at the default, and one set before, by `vidpipe pools` or in the UI, is kept."""
    instance = deployment_instance
    instance.event_log_storage.set_concurrency_slots("image_model", 4)

    assert apply_pool_limits(instance, {"video_model": 2}) == {"video_model": 2, "image_model": 4, "text_model": 1}
    assert not any(pool.from_default for pool in instance.event_log_storage.get_pool_limits())


def test_what_the_pinning_avoids_is_still_there_in_dagster(deployment_instance):
    """The race of two runs initialising one pool's default limit, played in order: the second
    fails (dagster-io/dagster#33552). When this stops failing, `apply_pool_limits` can leave the
    unset pools on the default again."""
    storage = deployment_instance.event_log_storage
    storage.initialize_concurrency_limit_to_default("a_pool_nobody_set")

    with pytest.raises(sqlalchemy.exc.InternalError, match="InFailedSqlTransaction"):
        storage.initialize_concurrency_limit_to_default("a_pool_nobody_set")
