from vidpipe_dagster.creative.words import first_mentioned, matches, mentions


def test_whole_words_and_their_inflections_match():
    assert matches("surfing", "surf") and matches("surfers", "surf")
    assert matches("running", "run") and matches("shining", "shine") and matches("cities", "city")


def test_substrings_never_match():
    # The old system's state bugs: "shot" found in "gunshot", "cam" in "camera", "the" in "they".
    assert not mentions("a gunshot echoes", ["shot"])
    assert not mentions("the camera pans", ["cam"])
    assert not matches("the", "they")
    assert not mentions("a storm lantern", ["storms"])


def test_phrases_and_the_earliest_mention():
    assert mentions("the two of them crank it", ["two of them"])
    assert not mentions("two cats of them", ["two of them"])
    assert first_mentioned("the dog waits; the keeper climbs", {"keeper": ["keeper"], "dog": ["dog"]}) == "dog"
    assert first_mentioned("nothing here", {"keeper": ["keeper"]}) is None
