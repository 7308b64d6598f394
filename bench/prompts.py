"""How long composing a scene's prompts takes, next to the model calls they are sent to.

  compose   vidpipe: the director's offline storyboard of the sample brief, then for every scene
            the state folded forward and the start keyframe, end keyframe and clip prompts composed
            (`creative.compose`), as `scene_keyframes` and `scene_clip` do
  keyframe  the cheapest image "model" there is: the local backend drawing one keyframe (Pillow)
  clip      the cheapest video "model" there is: the local backend rendering one 4 s clip (ffmpeg)

A real model call (Gemini image, Veo) takes seconds to minutes, far longer than either local one,
so the ratio against the local calls is the least favourable one for prompt composition. Each
round measures the three side by side, so drift on a noisy machine hits them alike.

    python -m bench.prompts [--rounds 20]      (from the repository root)
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from importlib import resources as package_files
from pathlib import Path


def sample_storyboard():
    from vidpipe_dagster.domain import parse_brief
    from vidpipe_dagster.resources.models.local import LocalTextModel

    brief = parse_brief(json.loads(package_files.files("vidpipe_dagster").joinpath("samples/lighthouse.json").read_text()))
    return LocalTextModel().write_storyboard(brief)[0]


def compose_all(board) -> int:
    """Every prompt of every scene, with the record folded forward; returns their total length."""
    from vidpipe_dagster.creative.compose import clip_prompt, keyframe_prompt
    from vidpipe_dagster.creative.state import fold, opening_record

    record, total = opening_record(board), 0
    references = [c.name for c in board.characters]
    for scene in board.scenes:
        for moment in ("start", "end"):
            total += len(keyframe_prompt(board, scene, moment, record, scene.changes, references=references, previous_frame="previous"))
        total += len(clip_prompt(board, scene, record, scene.changes))
        record = fold(record, scene, scene.changes, rule_suggestion="Keep the lamp lit.", attempt=1)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()

    from vidpipe_dagster.resources.models.local import LocalImageModel, LocalVideoModel
    from vidpipe_dagster.timing import frame_size

    board = sample_storyboard()
    scene = board.scenes[0]
    size = frame_size(board.metadata.aspect_ratio)
    prompts_per_round = 3 * len(board.scenes)
    timings: dict[str, list[float]] = {"compose": [], "keyframe": [], "clip": []}
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder)
        start, end = directory / "start.png", directory / "end.png"
        image_model, video_model = LocalImageModel(), LocalVideoModel()
        for round_number in range(args.rounds):
            began = time.perf_counter()
            characters = compose_all(board)
            timings["compose"].append((time.perf_counter() - began) / prompts_per_round)

            began = time.perf_counter()
            for out in (start, end):
                out.unlink(missing_ok=True)
                image_model.keyframe(prompt=f"round {round_number} {out.stem}", storyboard=board, scene=scene, references=[], previous_frame=None, out=out, size=size)
            timings["keyframe"].append((time.perf_counter() - began) / 2)

            clip = directory / f"clip-{round_number}.mp4"
            began = time.perf_counter()
            video_model.clip(prompt="p", scene=scene.model_copy(update={"duration_s": 4}), start_frame=start, end_frame=end, out=clip, size=size, seed=1)
            timings["clip"].append(time.perf_counter() - began)
            clip.unlink()

    median = {name: statistics.median(values) for name, values in timings.items()}
    print(f"sample brief: {len(board.scenes)} scenes, {prompts_per_round} prompts per round, {characters / prompts_per_round:.0f} characters per prompt, {args.rounds} rounds")
    print(f"compose one prompt (state folded, all departments)  median {median['compose'] * 1e3:8.3f} ms")
    print(f"local keyframe draw (Pillow), one image             median {median['keyframe'] * 1e3:8.3f} ms   {median['keyframe'] / median['compose']:8.0f}x composing")
    print(f"local clip render (ffmpeg), one 4 s clip            median {median['clip'] * 1e3:8.3f} ms   {median['clip'] / median['compose']:8.0f}x composing")


if __name__ == "__main__":
    main()
