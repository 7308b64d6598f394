import inspect

from dagster import AssetKey

from vidpipe_dagster.creative import compose, versions
from vidpipe_dagster.definitions import build_defs


def test_prompt_assets_carry_the_version_of_their_templates():
    graph = build_defs().resolve_asset_graph()
    for asset, templates in (("storyboard", "storyboard"), ("character_sheets", "references"), ("location_sheets", "references"),
                             ("scene_keyframes", "keyframes"), ("scene_clip", "clip")):
        assert graph.get(AssetKey(asset)).code_version == versions.prompt_version(templates)


def test_a_changed_template_changes_the_version(monkeypatch):
    before, storyboard_before = versions.prompt_version("clip"), versions.prompt_version("storyboard")
    source = inspect.getsource
    monkeypatch.setattr(versions.inspect, "getsource", lambda module: source(module) + ("# edited" if module is compose else ""))
    assert versions.prompt_version("clip") != before
    assert versions.prompt_version("storyboard") == storyboard_before  # the storyboard does not use compose
