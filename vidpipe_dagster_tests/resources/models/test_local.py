"""The local video model answers a new prompt or seed with a new clip, on the same keyframes; the\nlocal judge grades what is measured."""

import hashlib

import numpy as np
from PIL import Image

from vidpipe_dagster.domain import Scene, parse_brief
from vidpipe_dagster.media.frames import decode_clip, first_frame, frame_stats, last_frame, ssim
from vidpipe_dagster.quality import measure_frames
from vidpipe_dagster.resources.models.local import LocalJudge, LocalTextModel, LocalVideoModel

SCENE = Scene(number=2, duration_s=4, description="the boat", shot_type="wide", camera_angle="eye level", camera_movement="pan", lighting="dusk", location="harbor")


def test_the_prompt_and_the_seed_change_the_clip_but_not_its_first_and_last_frames(tmp_path):
    rng = np.random.default_rng(7)
    start, end = tmp_path / "start.png", tmp_path / "end.png"
    for path in (start, end):
        Image.fromarray(rng.integers(0, 255, (45, 80, 3), dtype=np.uint8)).resize((640, 360)).save(path)

    def clip(name: str, prompt: str, seed: int):
        out = tmp_path / f"{name}.mp4"
        LocalVideoModel().clip(prompt=prompt, scene=SCENE, start_frame=start, end_frame=end, out=out, size=(640, 360), seed=seed)
        return out

    clips = {name: clip(name, prompt, seed) for name, prompt, seed in (("first", "a boat", 1), ("again", "a boat", 1), ("reworded", "a red boat", 1), ("reseeded", "a boat", 2))}
    digests = {name: hashlib.sha256(path.read_bytes()).hexdigest() for name, path in clips.items()}
    assert digests["first"] == digests["again"]
    assert len({digests["first"], digests["reworded"], digests["reseeded"]}) == 3
    for path in clips.values():
        assert ssim(first_frame(path), Image.open(start)) >= 0.9
        assert ssim(last_frame(path), Image.open(end)) >= 0.9
        assert frame_stats(decode_clip(path)).frozen_frame_ratio == 0



def test_the_judge_grades_from_the_measures_it_is_given_and_takes_the_same_ones_itself(tmp_path):
    black, bright = tmp_path / "black.png", tmp_path / "bright.png"
    Image.new("RGB", (320, 180)).save(black)
    Image.new("RGB", (320, 180), (200, 180, 160)).save(bright)
    dark_clip, lit_clip = tmp_path / "dark.mp4", tmp_path / "lit.mp4"
    LocalVideoModel().clip(prompt="night", scene=SCENE, start_frame=black, end_frame=black, out=dark_clip, size=(320, 180), seed=1)
    LocalVideoModel().clip(prompt="day", scene=SCENE, start_frame=bright, end_frame=bright, out=lit_clip, size=(320, 180), seed=1)
    board, _ = LocalTextModel().write_storyboard(parse_brief({"project_id": "boat", "prompt": "a paper boat", "scene_count": 2}))
    judge = LocalJudge()

    def graded(media, measures=None):
        verdict = judge.judge(media=media, scene=SCENE, storyboard=board, prompt="p", previous_frame=bright, measures=measures)
        return verdict.model_dump(exclude={"call"})

    dark_measures, _ = measure_frames(dark_clip, bright)
    lit_measures, _ = measure_frames(lit_clip, bright)
    assert dark_measures.black_ratio == 1.0 and lit_measures.black_ratio == 0.0
    # Handed the dark clip's measures, the judge grades those: it does not decode the clip again.
    assert graded(lit_clip, dark_measures) == graded(dark_clip, dark_measures)
    assert graded(lit_clip, dark_measures)["grades"]["technical_quality"] == "FAIL"
    # Measuring for itself, it reaches the same verdicts as from the stored measures.
    assert graded(dark_clip) == graded(dark_clip, dark_measures)
    assert graded(lit_clip) == graded(lit_clip, lit_measures)
