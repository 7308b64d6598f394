"""Model pool limits from the environment, stored on a real (SQLite) instance."""

from __future__ import annotations

import pytest

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
