"""The environment's quality thresholds: read at load, bad values named by their variable."""

import pytest

from vidpipe_dagster.domain import QualityOverride, QualityThresholds
from vidpipe_dagster.resources.quality_policy import QualityConfig, quality_policy_from_environment


def test_environment_defaults_are_overridden_by_the_brief_then_the_launchpad(monkeypatch):
    monkeypatch.setenv("VIDPIPE_QUALITY_ACCEPT", "0.8")
    monkeypatch.setenv("VIDPIPE_QUALITY_MAX_ATTEMPTS", "5")
    policy = quality_policy_from_environment()
    thresholds = QualityThresholds.resolve(policy.defaults.override(), QualityOverride(max_attempts=2), QualityConfig(accept=0.95).override())
    assert (thresholds.accept, thresholds.pass_, thresholds.max_attempts) == (0.95, 0.7, 2)
    assert QualityThresholds.resolve(policy.defaults.override()).accept == 0.8


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("VIDPIPE_QUALITY_ACCEPT", "1.5", "VIDPIPE_QUALITY_ACCEPT: Input should be less than or equal to 1"),
        ("VIDPIPE_QUALITY_PASS", "-0.1", "VIDPIPE_QUALITY_PASS: Input should be greater than or equal to 0"),
        ("VIDPIPE_QUALITY_MAJOR", "high", "VIDPIPE_QUALITY_MAJOR='high' is not a valid float"),
        ("VIDPIPE_QUALITY_MAX_ATTEMPTS", "0", "VIDPIPE_QUALITY_MAX_ATTEMPTS: Input should be greater than or equal to 1"),
    ],
)
def test_a_bad_environment_value_fails_at_load_naming_the_variable(monkeypatch, variable, value, message):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        quality_policy_from_environment()
