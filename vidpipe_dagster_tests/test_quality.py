from vidpipe_dagster.quality import ClipMeasures, QualityThresholds, assess, correction_for


def measures(**changes) -> ClipMeasures:
    base = dict(
        duration_s=6.0, expected_duration_s=6, resolution=(640, 360), expected_resolution=(640, 360),
        black_ratio=0.0, frozen_ratio=0.0, continuity_ssim=0.97, judge_score=0.9,
    )
    return ClipMeasures(**{**base, **changes})


def test_a_clean_clip_passes_with_the_judges_score():
    report = assess(measures(), QualityThresholds())
    assert report.passed and report.problems == [] and report.score == 0.9


def test_each_defect_is_named_so_the_next_prompt_can_fix_it():
    report = assess(
        measures(duration_s=4.9, resolution=(320, 180), black_ratio=0.6, frozen_ratio=0.9, continuity_ssim=0.4, judge_score=0.3),
        QualityThresholds(),
    )
    assert not report.passed
    text = " | ".join(report.problems)
    for expected in ("4.90 s instead of 6 s", "320x180", "60% of frames are black", "90% of frames are frozen", "SSIM 0.40", "judge scored 0.30"):
        assert expected in text


def test_worse_clips_rank_lower_so_the_best_attempt_wins():
    good = assess(measures(judge_score=0.5), QualityThresholds())
    dark = assess(measures(judge_score=0.5, black_ratio=0.4), QualityThresholds())
    jumpy = assess(measures(judge_score=0.5, continuity_ssim=0.5), QualityThresholds())
    assert good.score > dark.score and good.score > jumpy.score


def test_the_first_scene_has_no_continuity_to_keep():
    assert assess(measures(continuity_ssim=None), QualityThresholds()).passed


def test_the_correction_carries_the_judges_words_and_the_measured_problems():
    report = assess(measures(black_ratio=0.5), QualityThresholds())
    correction = correction_for(report, "keep the subject lit")
    assert correction == "keep the subject lit; avoid what failed last time (50% of frames are black)"
