"""The storyboard's materialization as a person reads it in the UI."""

from vidpipe_dagster.domain import Storyboard, parse_brief
from vidpipe_dagster.resources.models.local import LocalTextModel
from vidpipe_dagster.review.storyboard_table import storyboard_markdown


def test_the_storyboard_reads_as_tables_of_scenes_characters_and_locations():
    board, _ = LocalTextModel().write_storyboard(parse_brief({"project_id": "harbor", "prompt": "a keeper | a dog\nat night", "scene_count": 3}), None)
    text = storyboard_markdown(Storyboard.model_validate(board.model_dump()))
    scene_rows = [line for line in text.splitlines() if line.startswith("| 00")]
    assert [row.split(" | ")[0] for row in scene_rows] == ["| 001", "| 002", "| 003"]
    assert all(row.count(" | ") == 7 for row in scene_rows)  # eight cells, whatever the text holds
    assert "#### Characters" in text and "#### Locations" in text
    for location in board.locations:
        assert f"| {location.name} | {location.id} |" in text
