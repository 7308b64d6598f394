"""Assessing attempts: the judge's verdict under the thresholds, measured penalties, and the
choice among attempts."""

import pytest

from vidpipe_dagster.creative.correction import apply_fixes, fixes_for
from vidpipe_dagster.creative.rubric import CATEGORY_WEIGHTS
from vidpipe_dagster.domain import JudgeIssue, JudgeVerdict, ModelCall, QualityOverride, QualityThresholds
from vidpipe_dagster.quality import BelowTheBar, ClipMeasures, assess, judged_attempts

DEFAULTS = QualityThresholds.resolve()


def verdict(**grades) -> JudgeVerdict:
    return JudgeVerdict(grades={**dict.fromkeys(CATEGORY_WEIGHTS, "PASS"), **grades}, call=ModelCall(model="test", seconds=0))


def measures(**changes) -> ClipMeasures:
    base = dict(
        duration_s=6.0, expected_duration_s=6, resolution=(640, 360), expected_resolution=(640, 360),
        black_ratio=0.0, frozen_ratio=0.0, continuity_ssim=0.97,
    )
    return ClipMeasures(**{**base, **changes})


def test_a_clean_clip_graded_pass_is_accepted():
    report = assess(verdict(), DEFAULTS, measures())
    assert report.passed and report.verdict == "ACCEPT" and report.problems == [] and report.score == 1.0


def test_a_major_character_grade_fails_at_the_defaults_and_passes_at_a_lower_bar():
    major = verdict(character_consistency="MAJOR")
    assert not assess(major, DEFAULTS, measures()).passed
    assert assess(major, QualityThresholds.resolve(QualityOverride(accept=0.5)), measures()).passed


def test_each_measured_defect_is_named_so_the_next_prompt_can_fix_it():
    report = assess(verdict(), DEFAULTS, measures(duration_s=4.9, resolution=(320, 180), black_ratio=0.6, frozen_ratio=0.9, continuity_ssim=0.4))
    assert not report.passed
    text = " | ".join(report.problems)
    for expected in ("4.90 s instead of 6 s", "320x180", "60% of frames are black", "90% of frames are frozen", "SSIM 0.40"):
        assert expected in text


def test_worse_clips_rank_lower_so_the_best_attempt_wins():
    good = assess(verdict(narrative_fidelity="MINOR"), DEFAULTS, measures())
    dark = assess(verdict(narrative_fidelity="MINOR"), DEFAULTS, measures(black_ratio=0.4))
    jumpy = assess(verdict(narrative_fidelity="MINOR"), DEFAULTS, measures(continuity_ssim=0.5))
    assert good.score > dark.score and good.score > jumpy.score


def test_the_scores_keep_every_grade_issue_and_the_rule():
    issue = JudgeIssue(department="costume", category="character_consistency", severity="major", description="coat turned red",
                       timestamp_s=2.5, suggested_fix="keep the grey wool coat")
    judged = JudgeVerdict(grades={**dict.fromkeys(CATEGORY_WEIGHTS, "PASS"), "character_consistency": "MAJOR"}, issues=[issue],
                          rule_suggestion="wardrobe never changes colour", call=ModelCall(model="t", seconds=0))
    scores = assess(judged, DEFAULTS, measures()).scores()
    assert scores["grades"]["character_consistency"] == "MAJOR" and scores["verdict"] == "MINOR_ISSUES"
    assert scores["issues"][0]["timestamp_s"] == 2.5 and scores["issues"][0]["department"] == "costume"
    assert scores["rule_suggestion"] == "wardrobe never changes colour" and scores["thresholds"]["pass"] == 0.7


def test_a_rewrite_adds_the_fixes_and_drops_nothing():
    issues = [
        JudgeIssue(department="gaffer", category="technical_quality", severity="minor", description="dim", suggested_fix="light her face"),
        JudgeIssue(department="costume", category="character_consistency", severity="critical", description="red coat", suggested_fix="grey wool coat"),
    ]
    fixes = fixes_for(issues, ["60% of frames are black"])
    assert fixes == ["grey wool coat", "light her face", "avoid what failed last time: 60% of frames are black"]
    prompt = "Mara climbs the stairs."
    rewritten = apply_fixes(prompt, fixes)
    assert rewritten.startswith(prompt) and all(fix in rewritten for fix in fixes)
    assert apply_fixes(rewritten, fixes) == rewritten  # nothing said twice


def attempts_scoring(*grades_per_attempt):
    reports = [assess(verdict(**grades), DEFAULTS) for grades in grades_per_attempt]
    prompts = []

    def attempt(number, prompt):
        prompts.append(prompt)
        return number, reports[number - 1]

    return attempt, prompts


def test_attempts_stop_at_the_first_accepted_and_each_retry_gets_a_rewritten_prompt():
    attempt, prompts = attempts_scoring({"technical_quality": "FAIL"}, {})
    chosen, tried = judged_attempts(what="x", prompt="p", max_attempts=3, force=False, attempt=attempt, rewrite=lambda p, r: p + "+")
    assert chosen.result == 2 and len(tried) == 2 and prompts == ["p", "p+"]


def test_the_best_usable_attempt_is_used_when_none_is_accepted():
    attempt, _ = attempts_scoring({"character_consistency": "MAJOR"}, {"character_consistency": "FAIL"})
    chosen, tried = judged_attempts(what="x", prompt="p", max_attempts=2, force=False, attempt=attempt, rewrite=lambda p, r: p)
    assert chosen.result == 1 and chosen.report.verdict == "MINOR_ISSUES" and len(tried) == 2


def test_no_usable_attempt_is_an_error_naming_why_unless_forced():
    attempt, _ = attempts_scoring({"narrative_fidelity": "FAIL", "technical_quality": "FAIL"}, {"narrative_fidelity": "FAIL", "continuity": "FAIL"})
    with pytest.raises(BelowTheBar, match="no attempt of 2 reached the pass bar 0.7.*narrative_fidelity FAIL"):
        judged_attempts(what="the start keyframe", prompt="p", max_attempts=2, force=False, attempt=attempt, rewrite=lambda p, r: p)
    attempt, _ = attempts_scoring({"narrative_fidelity": "FAIL"})
    chosen, tried = judged_attempts(what="x", prompt="p", max_attempts=3, force=True, attempt=attempt, rewrite=lambda p, r: p)
    assert chosen.result == 1 and len(tried) == 1
