"""The colour swell that tells two renders on the same keyframes apart."""

from vidpipe_dagster.media.variation import clip_variation, variation_filter


def test_the_variation_is_stable_per_prompt_and_seed():
    assert clip_variation("a boat", 1) == clip_variation("a boat", 1)
    assert len({clip_variation("a boat", 1), clip_variation("a red boat", 1), clip_variation("a boat", 2)}) == 3


def test_the_swell_leaves_the_first_and_last_frames_alone():
    text = variation_filter(clip_variation("a boat; drawtext=text=x", 1), 96)
    assert text.endswith(":enable='between(n,1,94)'")
    assert "drawtext" not in text and "boat" not in text  # numbers only, never the prompt
    assert variation_filter(7, 2) == "null"
