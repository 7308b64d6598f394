"""The local video model answers a new prompt or seed with a new clip, on the same keyframes."""

import hashlib

import numpy as np
from PIL import Image

from vidpipe_dagster.domain import Scene
from vidpipe_dagster.media.frames import first_frame, frame_stats, last_frame, ssim
from vidpipe_dagster.resources.models.local import LocalVideoModel

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
        assert frame_stats(path).frozen_frame_ratio == 0
