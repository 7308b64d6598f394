from vidpipe_dagster.creative.music import describe_phrases, music_for_scenes


def test_phrases_are_described_by_loudness_and_onsets():
    phrases = describe_phrases([0.0, 6.0, 14.0], [-12.0, -6.0, -20.0], [0.2, 3.5, 7.0])
    assert [p.section for p in phrases] == ["intro", "section 2", "outro"]
    assert [p.intensity for p in phrases] == ["medium", "high", "low"]
    assert [p.tempo for p in phrases] == ["slow", "fast", "very_fast"]
    assert [p.mood for p in phrases] == ["steady", "driving", "hushed"]


def test_each_scene_takes_the_phrase_playing_at_its_middle():
    phrases = describe_phrases([0.0, 6.0, 14.0], [-12.0, -6.0, -20.0], [0.0, 0.0, 0.0])
    cues = music_for_scenes(phrases, [6, 8, 6])
    assert [cue.section for cue in cues] == ["intro", "section 2", "outro"]
    # A scene straddling a change takes the phrase at its middle: 4-8 s has its middle at 6 s.
    assert [cue.section for cue in music_for_scenes(phrases, [4, 4, 6, 6])] == ["intro", "section 2", "section 2", "outro"]
