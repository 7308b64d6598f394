"""The rubric's arithmetic: weights, grade values, verdicts and the layering of thresholds."""

import itertools

import pytest

from vidpipe_dagster.creative.rubric import CATEGORY_WEIGHTS, GRADE_VALUES, fill_thresholds, rubric_score
from vidpipe_dagster.domain import InvalidInput, JudgeVerdict, ModelCall, QualityOverride, QualityThresholds

ALL_PASS = dict.fromkeys(CATEGORY_WEIGHTS, "PASS")


def verdict(**grades) -> JudgeVerdict:
    return JudgeVerdict(grades={**ALL_PASS, **grades}, call=ModelCall(model="test", seconds=0))


def test_weights_and_grade_values_are_the_old_systems():
    assert CATEGORY_WEIGHTS == {
        "narrative_fidelity": 0.30, "character_consistency": 0.25, "technical_quality": 0.20,
        "emotional_authenticity": 0.15, "continuity": 0.10,
    }
    assert GRADE_VALUES == {"PASS": 1.0, "MINOR": 0.7, "MAJOR": 0.4, "FAIL": 0.0}


def test_a_major_grade_on_character_consistency_costs_fifteen_points():
    assert verdict(character_consistency="MAJOR").score == 0.85
    assert verdict(narrative_fidelity="FAIL", continuity="MINOR").score == 0.67


def test_the_score_is_computed_never_taken_from_the_judge():
    dumped = verdict(technical_quality="MINOR").model_dump()
    dumped["score"] = 1.0  # what a model might claim
    assert JudgeVerdict.model_validate(dumped).score == 0.94


def test_every_category_must_be_graded():
    with pytest.raises(ValueError, match="continuity"):
        JudgeVerdict(grades={k: v for k, v in ALL_PASS.items() if k != "continuity"}, call=ModelCall(model="t", seconds=0))


def test_scores_stay_in_range_and_a_better_grade_never_lowers_them():
    for combination in itertools.product(GRADE_VALUES, repeat=len(CATEGORY_WEIGHTS)):  # all 1024
        grades = dict(zip(CATEGORY_WEIGHTS, combination))
        score = rubric_score(grades)
        assert 0.0 <= score <= 1.0
        for name, grade in grades.items():
            if grade != "PASS":
                assert rubric_score({**grades, name: "PASS"}) > score


def test_verdicts_follow_the_thresholds():
    thresholds = QualityThresholds.resolve()
    assert (thresholds.accept, thresholds.pass_, thresholds.major, thresholds.max_attempts) == (0.90, 0.70, 0.40, 3)
    assert [thresholds.verdict(s) for s in (0.95, 0.9, 0.85, 0.5, 0.39)] == ["ACCEPT", "ACCEPT", "MINOR_ISSUES", "MAJOR_ISSUES", "FAIL"]


def test_later_layers_win_and_unset_bars_follow_a_lowered_accept():
    environment, brief, launchpad = QualityOverride(accept=0.8, max_attempts=5), QualityOverride(accept=0.5), QualityOverride(major=0.2)
    thresholds = QualityThresholds.resolve(environment, brief, launchpad)
    assert (thresholds.accept, thresholds.pass_, thresholds.major, thresholds.max_attempts) == (0.5, 0.5, 0.2, 5)


def test_contradicting_bars_are_refused_naming_the_fields():
    with pytest.raises(InvalidInput, match=r"quality.pass \(0.8\) is above quality.accept \(0.6\)"):
        QualityThresholds.resolve(QualityOverride(accept=0.6, pass_=0.8))
    with pytest.raises(ValueError, match="quality.major"):
        fill_thresholds([{"pass": 0.3, "major": 0.5}])
