"""What the pipeline costs beyond its media work, for a 6-scene project on the local backend.

Side by side, interleaved, in one run (this machine is noisy, so only ratios mean much):
  pipeline  the whole project through Dagster in-process (ledger, IO manager, event log, storage)
  direct    the same media commands in a plain loop: draw, render each clip, take its last frame,
            stitch, contact sheet
  stitch    the concat-demuxer stitch of the 6 clips, against copying the same bytes
Each measurement runs in a fresh child process, which reports its peak RSS (and its ffmpeg
children's).

    python bench/pipeline.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import shutil
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

SCENES = 6


def _brief(project_id: str) -> dict:
    return {"project_id": project_id, "prompt": "A paper boat sails down a rainy street into the sea", "scene_count": SCENES}


def _peak_rss_mb() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


def measure_pipeline(workdir: str) -> tuple[float, float, float]:
    os.environ.update(VIDPIPE_HOME=f"{workdir}/vidpipe", VIDPIPE_WORKSPACE_ROOT=f"{workdir}/ws")
    from dagster import instance_for_test

    from vidpipe_dagster.definitions import build_defs
    from vidpipe_dagster.in_process import run_project
    from vidpipe_dagster.intake import submit_brief

    os.makedirs(f"{workdir}/dagster", exist_ok=True)
    with instance_for_test(temp_dir=f"{workdir}/dagster") as instance:
        defs = build_defs()
        store = defs.resources["blob_store"].open()
        submit_brief(instance, store, _brief("bench-pipeline"))
        started = time.perf_counter()
        run_project(defs, instance, store, "bench-pipeline")
        elapsed = time.perf_counter() - started
    return (elapsed, *_peak_rss_mb())


def measure_direct(workdir: str) -> tuple[float, float, float]:
    from vidpipe_dagster.domain import parse_brief
    from vidpipe_dagster.media.draw import contact_sheet, draw_keyframe, draw_reference
    from vidpipe_dagster.media.ffmpeg import render_clip, stitch
    from vidpipe_dagster.media.frames import extract_last_frame, first_frame
    from vidpipe_dagster.resources.models.local import LocalTextModel
    from vidpipe_dagster.timing import frame_size

    out = Path(workdir)
    started = time.perf_counter()
    board, _ = LocalTextModel().write_storyboard(parse_brief(_brief("bench-direct")))
    size = frame_size(board.metadata.aspect_ratio)
    references = {}
    for subject in [*board.characters, *board.locations]:
        references[subject.id] = draw_reference(subject.name, subject.description, seed=1, size=size, out=out / f"{subject.id}.png")
    clips, previous_end = [], None
    for scene in board.scenes:
        refs = [references[c] for c in scene.characters] + [references[scene.location]]
        start = out / f"{scene.key}-start.png"
        if previous_end is None:
            draw_keyframe(caption=scene.key, palette_seed=1, layout_seed=scene.number, references=refs, size=size, out=start)
        else:
            extract_last_frame(previous_end, start)
        end = draw_keyframe(caption=scene.key, palette_seed=1, layout_seed=100 + scene.number, references=refs, size=size, out=out / f"{scene.key}-end.png")
        clip = out / f"{scene.key}.mp4"
        render_clip(start, end, clip, duration_s=scene.duration_s, fps=24, size=size)
        clips.append(clip)
        previous_end = clip
    stitch(clips, out / "final.mp4", workdir=out)
    thumbnails = []
    for clip in clips:
        thumbnail = clip.with_suffix(".png")
        first_frame(clip).save(thumbnail)
        thumbnails.append((clip.stem, thumbnail))
    contact_sheet(thumbnails, out / "sheet.png")
    return (time.perf_counter() - started, *_peak_rss_mb())


def measure_stitch_vs_copy(workdir: str) -> tuple[float, float]:
    from vidpipe_dagster.media.ffmpeg import render_clip, stitch
    from vidpipe_dagster.media.draw import draw_keyframe

    out = Path(workdir)
    start = draw_keyframe(caption="a", palette_seed=1, layout_seed=1, references=[], size=(640, 360), out=out / "a.png")
    end = draw_keyframe(caption="b", palette_seed=2, layout_seed=2, references=[], size=(640, 360), out=out / "b.png")
    clips = []
    for index in range(SCENES):
        clip = out / f"{index}.mp4"
        render_clip(start, end, clip, duration_s=6, fps=24, size=(640, 360))
        clips.append(clip)
    started = time.perf_counter()
    stitch(clips, out / "stitched.mp4", workdir=out)
    stitched = time.perf_counter() - started
    started = time.perf_counter()
    with open(out / "copied.bin", "wb") as destination:
        for clip in clips:
            with open(clip, "rb") as source:
                shutil.copyfileobj(source, destination)
    copied = time.perf_counter() - started
    return stitched, copied


def _in_child(function, *args):
    """A fresh interpreter per measurement, so peak RSS is that measurement's own."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(function, *args).result()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    pipeline, direct, stitch_copy = [], [], []
    for round_number in range(args.repeat):
        for target, results in ((measure_pipeline, pipeline), (measure_direct, direct), (measure_stitch_vs_copy, stitch_copy)):
            with tempfile.TemporaryDirectory(prefix="vidpipe-bench-") as workdir:
                results.append(_in_child(target, workdir))
        print(f"round {round_number + 1}/{args.repeat}: pipeline {pipeline[-1][0]:.2f} s, direct {direct[-1][0]:.2f} s", flush=True)

    def median(rows, column):
        return statistics.median(row[column] for row in rows)

    print(f"\n{SCENES}-scene project, local backend, median of {args.repeat} interleaved rounds")
    print(f"{'measure':<40}{'value':>12}")
    print(f"{'pipeline wall time (s)':<40}{median(pipeline, 0):>12.2f}")
    print(f"{'direct media loop wall time (s)':<40}{median(direct, 0):>12.2f}")
    print(f"{'ratio pipeline / direct':<40}{median(pipeline, 0) / median(direct, 0):>12.2f}")
    print(f"{'stitch 6 clips, concat -c copy (ms)':<40}{median(stitch_copy, 0) * 1000:>12.1f}")
    print(f"{'copy the same bytes (ms)':<40}{median(stitch_copy, 1) * 1000:>12.1f}")
    print(f"{'ratio stitch / copy':<40}{median(stitch_copy, 0) / median(stitch_copy, 1):>12.1f}")
    print(f"{'peak RSS, pipeline process (MB)':<40}{max(row[1] for row in pipeline):>12.0f}")
    print(f"{'peak RSS, largest child process (MB)':<40}{max(row[2] for row in pipeline):>12.0f}")
    print(f"{'peak RSS, direct loop process (MB)':<40}{max(row[1] for row in direct):>12.0f}")


if __name__ == "__main__":
    main()
