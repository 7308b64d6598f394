"""Model calls log their start and end, naming the model and the scene."""

import logging

import pytest

from vidpipe_dagster.creative.rubric import CATEGORY_WEIGHTS
from vidpipe_dagster.domain import JudgeVerdict, ModelCall
from vidpipe_dagster.model_log import logged_call


ALL_PASS = {category: "PASS" for category in CATEGORY_WEIGHTS}


def test_a_call_logs_its_start_and_its_end_with_the_model_and_scene(caplog):
    with caplog.at_level(logging.INFO, logger="vidpipe"):
        verdict = logged_call("judge", "003", lambda: JudgeVerdict(grades=ALL_PASS, call=ModelCall(model="gemini-judge", seconds=1.0)))
    assert verdict.score == 1.0
    lines = [record.getMessage() for record in caplog.records]
    assert lines[0].endswith("judge model call for scene 003: started")
    assert "judge model gemini-judge for scene 003: done in " in lines[1]


def test_a_failed_call_logs_how_long_it_ran_and_raises(caplog):
    def refuse():
        raise TimeoutError("no answer")

    with caplog.at_level(logging.INFO, logger="vidpipe"), pytest.raises(TimeoutError):
        logged_call("video", "002", refuse)
    assert "video model call for scene 002: failed after " in caplog.records[-1].getMessage()
    assert caplog.records[-1].getMessage().endswith("no answer")
