from vidpipe_dagster.creative.compose import STATE_HEADING, clip_prompt, keyframe_prompt, reference_prompt
from vidpipe_dagster.creative.offline_director import write_storyboard_parts
from vidpipe_dagster.creative.state import fold, opening_record
from vidpipe_dagster.creative.storyboard import assemble
from vidpipe_dagster_tests.creative.test_offline_director import lighthouse


def film():
    brief = lighthouse()
    vision, scenes = write_storyboard_parts(brief, [6, 6, 8, 6])
    return assemble(brief, vision, scenes)


def test_the_clip_prompt_has_every_department_in_order_and_ends_with_the_rules():
    board = film()
    record = fold(opening_record(board), board.scenes[0], board.scenes[0].changes)
    record = fold(record, board.scenes[1], board.scenes[1].changes, rule_suggestion="Keep the lamp lit.", attempt=2)
    prompt = clip_prompt(board, board.scenes[2], record, board.scenes[2].changes)
    heads = ["Action:", "Mood:", "Camera:", "Composition:", "Key light:", "Setting:", "Cast", STATE_HEADING, "Continuity checklist:", "By the end of the shot", "Rules:"]
    positions = [prompt.index(head) for head in heads]
    assert positions == sorted(positions)
    assert prompt.rstrip().endswith("Keep the lamp lit.")
    assert "soaked through and dripping (since scene 2)" in prompt
    assert "Cut from scene 2: a new angle" in prompt


def test_keyframes_show_the_moment_and_the_end_frame_shows_the_changes():
    board = film()
    scene = board.scenes[2]
    record = opening_record(board).model_copy(update={"after_scene": 2})
    start = keyframe_prompt(board, scene, "start", record, scene.changes, references=["Tomas"], previous_frame="the last frame of scene 2")
    end = keyframe_prompt(board, scene, "end", record, scene.changes, references=["Tomas"], previous_frame=None)
    assert "poised moment" in start and "settled moment" in end
    assert "smoke" not in start.split("Rules:")[0] and "lamp smoke" in end
    assert "reference image 1: Tomas; last image: the last frame of scene 2" in start


def test_reference_sheets_carry_every_fixed_trait_and_the_rules():
    board = film()
    keeper, room = board.characters[0], board.location("lamp-room")
    sheet = reference_prompt(keeper, board)
    assert all(trait in sheet for trait in (keeper.age, keeper.build, keeper.face, keeper.hair, keeper.wardrobe))
    place = reference_prompt(room, board)
    assert "no people" in place and all(element in place for element in room.key_elements)
    assert all(rule.text in sheet and rule.text in place for rule in board.rules)
