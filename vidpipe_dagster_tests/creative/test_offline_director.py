import json
from importlib import resources as package_files

from vidpipe_dagster.creative.offline_director import write_storyboard_parts
from vidpipe_dagster.domain import parse_brief


def lighthouse(**changes):
    raw = json.loads(package_files.files("vidpipe_dagster").joinpath("samples/lighthouse.json").read_text())
    return parse_brief({**raw, **changes})


def test_the_lighthouse_gets_its_own_places_times_and_light():
    vision, scenes = write_storyboard_parts(lighthouse(), [6, 6, 8, 6])
    names = {loc.id: loc.name for loc in vision.locations}
    assert [names[s.location] for s in scenes] == ["Lighthouse stairwell", "Lighthouse door", "Lighthouse lamp room", "Headland and open sea"]
    assert not {"City rooftop", "Birch forest"} & set(names.values())
    midnight, dawn = scenes[2], scenes[3]
    assert (midnight.time_of_day, midnight.lighting.key_light, midnight.lighting.colour_temperature.split()[0]) == ("midnight", "the great lamp", "warm")
    assert dawn.time_of_day == "dawn" and "dawn sun" in dawn.lighting.key_light and dawn.weather == "clearing"
    assert all("neon" not in str(s.lighting) and "morning" not in str(s.lighting) for s in scenes)


def test_changes_land_on_the_character_the_clause_names():
    _, scenes = write_storyboard_parts(lighthouse(), [6, 6, 8, 6])
    by_scene = [{(c.subject, c.aspect) for c in s.changes} for s in scenes]
    dog = next(c for c in scenes[1].characters if c not in scenes[0].characters)
    keeper = scenes[0].characters[0]
    assert scenes[0].characters == [keeper]  # only the keeper climbs the stairs
    assert by_scene[1] == {(dog, "wet")}  # the dog sheltered from the rain; the keeper did not get wet
    assert {(dog, "dirt"), (keeper, "dirt"), ("lamp-room", "smoke")} == by_scene[2]  # "the two of them crank"
    assert [(c.subject, c.value) for c in scenes[3].changes] == [(dog, "damp, drying off")]  # the sky clears at dawn


def test_the_same_brief_gives_the_same_storyboard_and_the_vision_is_complete():
    first = write_storyboard_parts(lighthouse(), [6, 6, 8, 6])
    assert first == write_storyboard_parts(lighthouse(), [6, 6, 8, 6])
    vision = first[0]
    assert vision.logline and vision.vision.palette and vision.vision.arc.end == "hopeful"
    for character in vision.characters:
        assert all((character.age, character.build, character.face, character.hair, character.wardrobe))
    for location in vision.locations:
        assert all((location.time_of_day, location.weather, location.palette, location.key_elements, location.light_sources))


def test_a_brief_without_hints_still_reads_its_own_words():
    brief = lighthouse(prompt="A detective waits in the rain on a city street at night", scene_hints=[], scene_count=2, style="noir")
    vision, scenes = write_storyboard_parts(brief, [4, 4])
    assert [loc.name for loc in vision.locations] == ["City street"]
    assert vision.characters[0].description.endswith("the detective")
    assert {s.time_of_day for s in scenes} == {"night"} and {s.weather for s in scenes} == {"rain"}
    assert [s.transition_in for s in scenes] == ["cut", "continuous"]
