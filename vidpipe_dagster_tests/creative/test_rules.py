import pytest

from vidpipe_dagster.creative.rules import ALWAYS, MAX_LEARNED, learn, merge, preset_rules
from vidpipe_dagster.domain import Rule


def test_presets_follow_the_brief_words_whole_word_and_stem():
    rules = preset_rules(["Surfers ride a wave at dawn", "painterly animation"])
    presets = {rule.preset for rule in rules if rule.source == "preset"}
    assert {"painterly", "animation", "sea"} <= presets
    assert "urban" not in presets and "medical" not in presets
    assert [rule.text for rule in rules[: len(ALWAYS)]] == list(ALWAYS)
    # "cityscape" is not "city"; "hospitality" is not "hospital".
    assert {r.preset for r in preset_rules(["a cityscape of hospitality"]) if r.source == "preset"} == set()


def test_a_learned_rule_is_one_rule_with_its_provenance_never_its_letters():
    rules = learn(preset_rules(["a quiet kitchen"]), "  Keep the kettle on the left burner.  ", scene=2, attempt=3)
    learned = [rule for rule in rules if rule.source == "judge"]
    assert learned == [Rule(text="Keep the kettle on the left burner.", source="judge", scene=2, attempt=3)]
    assert learned[0].provenance == "judge, scene 2 attempt 3"
    with pytest.raises(TypeError):
        merge(rules, "a string")  # type: ignore[arg-type]
    assert learn(rules, None, scene=3, attempt=1) == rules and learn(rules, "  ", scene=3, attempt=1) == rules


def test_learned_rules_are_deduplicated_and_capped_oldest_first():
    rules = preset_rules([""])
    rules = learn(rules, "Keep the lamp lit.", scene=1, attempt=1)
    rules = learn(rules, "keep the LAMP lit", scene=2, attempt=1)  # the same rule, worded alike
    assert [r.scene for r in rules if r.source == "judge"] == [1]
    for scene in range(2, MAX_LEARNED + 3):
        rules = learn(rules, f"Rule number {scene}.", scene=scene, attempt=1)
    learned = [rule for rule in rules if rule.source == "judge"]
    assert len(learned) == MAX_LEARNED
    assert learned[0].text == "Rule number 3." and learned[-1].text == f"Rule number {MAX_LEARNED + 2}."
    assert [rule.text for rule in rules[: len(ALWAYS)]] == list(ALWAYS)  # presets are never evicted
