"""What the pipeline costs beyond its media work, for a 6-scene project on the local backend.

Side by side, interleaved, in one run (this machine is noisy, so only ratios mean much):
  pipeline     the whole project through Dagster in-process (ledger, IO manager, event log, storage)
  same output  a plain loop calling the same model backends with the same arguments: references,
               keyframes, each clip (opening on the previous clip's last frame), the stitch, the
               contact sheet. Its clips must be byte-identical to the pipeline's (checked).
  same work    the same loop, plus every measurement the pipeline makes of each clip: the judge,
               the quality measures, and the `clip_quality` check's own measures
  stitch       the concat-demuxer stitch of 20 clips of about 5 MB, against copying the same bytes
Each measurement runs in a fresh child process and reports that process's own peak RSS (VmHWM;
ffmpeg's processes are not counted in it). Ratios are per round; min and median over the rounds.

    python -m bench.pipeline [--repeat 3]      (from the repository root)
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

SCENES = 6
STITCH_CLIPS = 20


def _brief(project_id: str) -> dict:
    return {"project_id": project_id, "prompt": "A paper boat sails down a rainy street into the sea", "scene_count": SCENES}


def _peak_rss_mb() -> float:
    # VmHWM, the high-water mark of this process's own memory: ru_maxrss would carry over the
    # parent's peak, since Linux keeps it across the fork and exec that start the child.
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("/proc/self/status has no VmHWM line")


def measure_pipeline(workdir: str) -> tuple[float, float, list[str]]:
    """(seconds, peak RSS, the accepted clips' sha256 in scene order)."""
    os.environ.update(VIDPIPE_HOME=f"{workdir}/vidpipe", VIDPIPE_WORKSPACE_ROOT=f"{workdir}/ws")
    from dagster import instance_for_test

    from vidpipe_dagster.artifacts import load_materialized
    from vidpipe_dagster.definitions import build_defs
    from vidpipe_dagster.domain import scene_key
    from vidpipe_dagster.in_process import run_project
    from vidpipe_dagster.intake import submit_brief
    from vidpipe_dagster.partitions import scene_partition_key

    project = "bench"
    os.makedirs(f"{workdir}/dagster", exist_ok=True)
    with instance_for_test(temp_dir=f"{workdir}/dagster") as instance:
        defs = build_defs()
        store = defs.resources["blob_store"].open()
        submit_brief(instance, store, _brief(project))
        started = time.perf_counter()
        run_project(defs, instance, store, project)
        elapsed = time.perf_counter() - started
        clips = [
            load_materialized(instance, store, "scene_clip", str(scene_partition_key(project, scene_key(number))))
            for number in range(1, SCENES + 1)
        ]
    return elapsed, _peak_rss_mb(), [clip.objects["clip.mp4"].sha256 for clip in clips]


def measure_bare(workdir: str, same_work: bool) -> tuple[float, float, list[str]]:
    """The pipeline's media calls in a plain loop: (seconds, peak RSS, the clips' sha256 in order)."""
    from vidpipe_dagster.domain import JudgeVerdict, ModelCall, parse_brief
    from vidpipe_dagster.media.draw import contact_sheet
    from vidpipe_dagster.media.ffmpeg import stitch
    from vidpipe_dagster.media.frames import extract_last_frame, first_frame
    from vidpipe_dagster.media.probe import probe
    from vidpipe_dagster.prompts import clip_prompt, keyframe_prompt
    from vidpipe_dagster.quality import QualityThresholds, assess, measure_clip
    from vidpipe_dagster.resources.models.local import LocalImageModel, LocalJudge, LocalTextModel, LocalVideoModel
    from vidpipe_dagster.resources.storage import file_sha256
    from vidpipe_dagster.timing import frame_size

    out = Path(workdir)
    images, video, judge = LocalImageModel(), LocalVideoModel(), LocalJudge()
    started = time.perf_counter()
    brief = parse_brief(_brief("bench"))
    board, _ = LocalTextModel().write_storyboard(brief, None)
    size = frame_size(board.metadata.aspect_ratio)
    references = {}
    for subject in [*board.characters, *board.locations]:
        references[subject.id] = out / f"{subject.id}.png"
        images.reference_image(subject=subject, storyboard=board, out=references[subject.id], size=size)
    clips, previous_clip = [], None
    for scene in board.scenes:
        refs = [references[c] for c in scene.characters] + [references[scene.location]]
        start, end = out / f"{scene.key}-start.png", out / f"{scene.key}-end.png"
        if previous_clip is None:
            images.keyframe(prompt=keyframe_prompt(scene, board, "start"), storyboard=board, scene=scene, references=refs, previous_frame=None, out=start, size=size)
        else:
            extract_last_frame(previous_clip, start)
        images.keyframe(prompt=keyframe_prompt(scene, board, "end"), storyboard=board, scene=scene, references=refs, previous_frame=start, out=end, size=size)
        clip = out / f"{scene.key}.mp4"
        prompt = clip_prompt(scene, board)
        video.clip(prompt=prompt, scene=scene, start_frame=start, end_frame=end, out=clip, size=size, seed=0)
        if same_work:
            continues_from = start if scene.number > 1 else None
            verdict = judge.judge(clip=clip, scene=scene, storyboard=board, prompt=prompt)
            assess(measure_clip(clip, scene, size, continues_from, verdict), QualityThresholds())
            probe(clip)
            # The clip_quality check measures the stored clip again.
            recorded = JudgeVerdict(score=verdict.score, call=ModelCall(model="recorded", seconds=0))
            assess(measure_clip(clip, scene, size, continues_from, recorded), QualityThresholds())
        clips.append(clip)
        previous_clip = clip
    stitch(clips, out / "final.mp4", workdir=out)
    thumbnails = []
    for scene, clip in zip(board.scenes, clips):
        thumbnail = out / f"thumb-{scene.key}.png"
        first_frame(clip).save(thumbnail)
        thumbnails.append((f"scene {scene.key}", thumbnail))
    contact_sheet(thumbnails, out / "contact_sheet.png")
    if same_work:
        probe(out / "final.mp4")
    elapsed = time.perf_counter() - started
    return elapsed, _peak_rss_mb(), [file_sha256(clip)[1] for clip in clips]


def render_stitch_clip(out: Path) -> Path:
    """One 1080p clip of about 5 MB (27 s of the local backend's dissolve, which compresses well)."""
    from vidpipe_dagster.media.draw import draw_keyframe
    from vidpipe_dagster.media.ffmpeg import render_clip

    size = (1920, 1080)
    start = draw_keyframe(caption="a", palette_seed=1, layout_seed=1, references=[], size=size, out=out / "a.png")
    end = draw_keyframe(caption="b", palette_seed=2, layout_seed=2, references=[], size=size, out=out / "b.png")
    render_clip(start, end, out / "clip.mp4", duration_s=27, fps=24, size=size)
    return out / "clip.mp4"


def measure_stitch_vs_copy(workdir: str, clip: str) -> tuple[float, float]:
    from vidpipe_dagster.media.ffmpeg import stitch

    out = Path(workdir)
    clips = [out / f"{index}.mp4" for index in range(STITCH_CLIPS)]
    for copy in clips:
        shutil.copyfile(clip, copy)
    started = time.perf_counter()
    stitch(clips, out / "stitched.mp4", workdir=out)
    stitched = time.perf_counter() - started
    started = time.perf_counter()
    with open(out / "copied.bin", "wb") as destination:
        for copy in clips:
            with open(copy, "rb") as source:
                shutil.copyfileobj(source, destination)
    copied = time.perf_counter() - started
    return stitched, copied


def _in_child(function, *args):
    """A fresh interpreter per measurement, so peak RSS is that measurement's own."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(function, *args).result()


def _in_scratch(function, *args):
    with tempfile.TemporaryDirectory(prefix="vidpipe-bench-") as workdir:
        return _in_child(function, workdir, *args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    pipeline, same_output, same_work, stitch_copy = [], [], [], []
    with tempfile.TemporaryDirectory(prefix="vidpipe-bench-clip-") as clip_dir:
        clip = _in_child(render_stitch_clip, Path(clip_dir))
        clip_mb = clip.stat().st_size / 1e6
        for round_number in range(args.repeat):
            pipeline.append(_in_scratch(measure_pipeline))
            same_output.append(_in_scratch(measure_bare, False))
            same_work.append(_in_scratch(measure_bare, True))
            stitch_copy.append(_in_scratch(measure_stitch_vs_copy, str(clip)))
            print(f"round {round_number + 1}/{args.repeat}: pipeline {pipeline[-1][0]:.2f} s, "
                  f"same output {same_output[-1][0]:.2f} s, same work {same_work[-1][0]:.2f} s", flush=True)

    identical = all(row[2] == pipeline[0][2] for row in [*pipeline, *same_output, *same_work])

    def ratios(numerator, denominator, column=0):
        values = [a[column] / b[column] for a, b in zip(numerator, denominator)]
        return f"{min(values):.2f} / {statistics.median(values):.2f}"

    def seconds(rows):
        return f"{min(r[0] for r in rows):.2f} / {statistics.median(r[0] for r in rows):.2f}"

    print(f"\n{SCENES}-scene project, local backend, {args.repeat} interleaved rounds (min / median)")
    print(f"{'measure':<52}{'value':>16}")
    print(f"{'pipeline wall time (s)':<52}{seconds(pipeline):>16}")
    print(f"{'bare loop, same output (s)':<52}{seconds(same_output):>16}")
    print(f"{'bare loop, same work (s)':<52}{seconds(same_work):>16}")
    print(f"{'clips byte-identical (pipeline and both loops)':<52}{identical!s:>16}")
    print(f"{'ratio pipeline / bare-same-output':<52}{ratios(pipeline, same_output):>16}")
    print(f"{'ratio pipeline / bare-same-work':<52}{ratios(pipeline, same_work):>16}")
    stitched_ms = [row[0] * 1000 for row in stitch_copy]
    copied_ms = [row[1] * 1000 for row in stitch_copy]
    print(f"{f'stitch {STITCH_CLIPS} clips of {clip_mb:.1f} MB, concat -c copy (ms)':<52}{f'{min(stitched_ms):.0f} / {statistics.median(stitched_ms):.0f}':>16}")
    print(f"{'copy the same bytes (ms)':<52}{f'{min(copied_ms):.0f} / {statistics.median(copied_ms):.0f}':>16}")
    print(f"{'ratio stitch / copy':<52}{ratios(stitch_copy, [(row[1],) for row in stitch_copy]):>16}")
    print(f"{'peak RSS, pipeline process (MB)':<52}{max(row[1] for row in pipeline):>16.0f}")
    print(f"{'peak RSS, bare loop process, same output (MB)':<52}{max(row[1] for row in same_output):>16.0f}")
    print(f"{'peak RSS, bare loop process, same work (MB)':<52}{max(row[1] for row in same_work):>16.0f}")


if __name__ == "__main__":
    main()
