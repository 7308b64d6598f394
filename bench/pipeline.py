"""What the pipeline costs beyond its media work, for a 6-scene project on the local backend.

Side by side, interleaved, in one run (this machine is noisy, so only ratios mean much):
  pipeline     the whole project through Dagster in-process (ledger, IO manager, event log, storage),
               on vidpipe's embedded instance, as `vidpipe demo` runs it
  same output  a plain loop calling the same model backends with the arguments the pipeline used
               (its prompts and seeds, read from the first round's manifests): references,
               keyframes, each clip (opening on the previous clip's last frame), the stitch, the
               contact sheet. Its clips must be byte-identical to the pipeline's (checked).
  same work    the same loop, plus every measurement the pipeline makes: the judge of each keyframe,
               and of each clip the one decode that the judge, the quality bar, the `clip_quality`
               check, the frame strip and the next scene's opening frame all read
The pipeline's passes of PyAV over its clips are counted (a wrapper around `av.open`): full
passes per clip made are its frame-statistics decodes.
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
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

if TYPE_CHECKING:
    from dagster import DagsterInstance

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


class _CountedContainer:
    """A PyAV input container that counts the frames decoded from it (the bench's only stand-in)."""

    def __init__(self, container, tally: dict[str, int]):
        self._container, self._tally, self._frames = container, tally, 0

    def __getattr__(self, name):
        return getattr(self._container, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        video = self._container.streams.video
        total = video[0].frames if video else 0
        if self._frames:
            self._tally["full" if total and self._frames >= total else "partial"] += 1
        return self._container.__exit__(*exc_info)

    def decode(self, *args, **kwargs):
        for frame in self._container.decode(*args, **kwargs):
            self._frames += 1
            yield frame


def _is_clip(file) -> bool:
    """A scene's clip: as made (clip.mp4) or fetched from storage (scene_clip-...-clip.mp4); not
    the local video model's own intermediate render."""
    name = Path(str(file)).name
    return name == "clip.mp4" or (name.startswith("scene_clip-") and name.endswith("-clip.mp4"))


def count_clip_decodes() -> dict[str, int]:
    """From now on in this process, count the decoding passes over scene clips: 'full' ones
    decode every frame, 'partial' ones a first or last frame."""
    import av

    tally = {"full": 0, "partial": 0}
    opened = av.open

    def counting_open(file, *args, **kwargs):
        container = opened(file, *args, **kwargs)
        return _CountedContainer(container, tally) if _is_clip(file) else container

    av.open = counting_open
    return tally


INSTANCES = ("embedded", "dagster-sqlite", "postgres", "dagster-postgres")
# Dagster's storage as production has it: the storages the repository's dagster.yaml names.
PRODUCTION_STORAGES = ("run_storage", "event_log_storage", "schedule_storage")


@contextmanager
def pipeline_instance(workdir: str, kind: str, postgres_url: str | None = None) -> Iterator[DagsterInstance]:
    """The Dagster instance a measurement runs on: vidpipe's embedded one (what `vidpipe demo`
    uses: Dagster's SQLite storages with one engine per database), Dagster's own SQLite storages
    as they come, or Dagster's storage in Postgres, as production has it (dagster.yaml's storages,
    keeping their connections) or Dagster's own Postgres storage as it comes; with Postgres,
    vidpipe's ledger and leases move there too."""
    from dagster import DagsterInstance, instance_for_test

    from vidpipe_dagster.embedded_instance import write_embedded_dagster_yaml

    home = Path(workdir) / "dagster"
    if kind == "embedded":
        with DagsterInstance.from_config(str(write_embedded_dagster_yaml(home))) as instance:
            yield instance
        return
    home.mkdir(parents=True, exist_ok=True)
    storage = None
    if kind == "postgres":
        os.environ.update(VIDPIPE_DATABASE_URL=postgres_url, DAGSTER_PG_URL=postgres_url)
        from vidpipe_dagster_tests.dagster_stack import REPOSITORY_ROOT

        production = yaml.safe_load((REPOSITORY_ROOT / "dagster.yaml").read_text())
        storage = {key: production[key] for key in PRODUCTION_STORAGES}
    elif kind == "dagster-postgres":
        os.environ["VIDPIPE_DATABASE_URL"] = postgres_url
        storage = {"storage": {"postgres": {"postgres_url": postgres_url}}}
    with instance_for_test(overrides=storage, temp_dir=str(home)) as instance:
        yield instance


def measure_pipeline(
    workdir: str, kind: str = "embedded", postgres_url: str | None = None
) -> tuple[float, float, list[str], dict, dict[str, float]]:
    """(seconds, peak RSS, the accepted clips' sha256 in scene order, the calls the bare loop
    replays, decoding passes per clip made), on the instance `kind` names (`pipeline_instance`)."""
    os.environ.update(VIDPIPE_HOME=f"{workdir}/vidpipe", VIDPIPE_WORKSPACE_ROOT=f"{workdir}/ws")
    from vidpipe_dagster.artifacts import load_materialized
    from vidpipe_dagster.definitions import build_defs
    from vidpipe_dagster.domain import scene_key
    from vidpipe_dagster.in_process import run_project
    from vidpipe_dagster.intake import submit_brief
    from vidpipe_dagster.partitions import scene_partition_key

    project = "bench"
    decodes = count_clip_decodes()
    with pipeline_instance(workdir, kind, postgres_url) as instance:
        defs = build_defs()
        store = defs.resources["blob_store"].open()
        submit_brief(instance, store, _brief(project))
        started = time.perf_counter()
        run_project(defs, instance, store, project, log_level="WARNING")
        elapsed = time.perf_counter() - started

        def latest(asset: str, partition: str):
            return load_materialized(instance, store, asset, partition)

        partitions = [str(scene_partition_key(project, scene_key(number))) for number in range(1, SCENES + 1)]
        clips = [latest("scene_clip", partition) for partition in partitions]
        # What the bare loop calls the same backends with: the prompts and seeds the pipeline used.
        calls = {
            "storyboard": latest("storyboard", project).data,
            "seed": latest("brief", project).data.get("seed", 0),
            "sheets": {**latest("character_sheets", project).data["prompts"], **latest("location_sheets", project).data["prompts"]},
            "scenes": [
                {"keyframes": latest("scene_keyframes", partition).data, "prompt": clip.data["prompt"], "attempt": clip.attempt}
                for partition, clip in zip(partitions, clips)
            ],
        }
    made = sum(clip.attempt for clip in clips)  # one scene run each: attempts 1..n were all made then
    per_clip = {kind: count / made for kind, count in decodes.items()}
    return elapsed, _peak_rss_mb(), [clip.objects["clip.mp4"].sha256 for clip in clips], calls, per_clip


def measure_bare(workdir: str, calls: dict, same_work: bool) -> tuple[float, float, list[str]]:
    """The pipeline's media calls in a plain loop, with the arguments the pipeline used:
    (seconds, peak RSS, the clips' sha256 in order)."""
    from vidpipe_dagster.assets.judging import thresholds_for
    from vidpipe_dagster.domain import Storyboard, parse_brief
    from vidpipe_dagster.media.draw import contact_sheet
    from vidpipe_dagster.media.ffmpeg import stitch
    from vidpipe_dagster.media.frames import extract_last_frame, first_frame, frame_strip, write_png
    from vidpipe_dagster.media.probe import probe
    from vidpipe_dagster.quality import assess, clip_measures, measure_frames
    from vidpipe_dagster.resources.models.local import LocalImageModel, LocalJudge, LocalVideoModel
    from vidpipe_dagster.resources.quality_policy import QualityConfig, QualityPolicy
    from vidpipe_dagster.resources.storage import file_sha256
    from vidpipe_dagster.timing import frame_size

    out = Path(workdir)
    images, video, judge = LocalImageModel(), LocalVideoModel(), LocalJudge()
    board = Storyboard.model_validate(calls["storyboard"])
    thresholds = thresholds_for(QualityPolicy(), parse_brief(_brief("bench")), QualityConfig())
    started = time.perf_counter()
    sheet_size = frame_size(board.metadata.aspect_ratio)
    references = {}
    for subject in [*board.characters, *board.locations]:
        references[subject.id] = out / f"{subject.id}.png"
        images.reference_image(prompt=calls["sheets"][subject.id], subject=subject, storyboard=board, out=references[subject.id], size=sheet_size)
    clips, previous_clip, previous_last = [], None, None
    for scene, made in zip(board.scenes, calls["scenes"]):
        keyframes, prompts = made["keyframes"], made["keyframes"]["prompts"]
        size = (keyframes["width"], keyframes["height"])
        refs = [references[c] for c in scene.characters] + [references[scene.location]]
        start, end = out / f"{scene.key}-start.png", out / f"{scene.key}-end.png"
        # The same work takes the previous clip's last frame from its one decode; the same output
        # decodes the end of the clip for it.
        previous_end = previous_last or (extract_last_frame(previous_clip, out / f"{scene.key}-previous-end.png") if previous_clip else None)

        def keyframe(prompt: str, previous: Path | None, drawn: Path) -> None:
            images.keyframe(prompt=prompt, storyboard=board, scene=scene, references=refs, previous_frame=previous, out=drawn, size=size)
            if same_work:
                assess(judge.judge(media=drawn, scene=scene, storyboard=board, prompt=prompt, previous_frame=previous_end), thresholds)

        if keyframes["opening"] == "continuous":
            previous_end = previous_end.rename(start)
        else:
            keyframe(prompts["start"], previous_end, start)
        keyframe(prompts["end"], start, end)
        clip = out / scene.key / "clip.mp4"
        clip.parent.mkdir()
        video.clip(prompt=made["prompt"], scene=scene, start_frame=start, end_frame=end, out=clip, size=size,
                   seed=calls["seed"] + scene.number * 100 + made["attempt"])
        if same_work:
            # What the pipeline measures of a clip: one decode for the judge, the bar, the check
            # and the frame strip; the judge of a cut also sees the previous clip's last frame.
            continues_from = start if scene.opens_on_previous_frame else None
            statistics, decoded = measure_frames(clip, continues_from)
            verdict = judge.judge(media=clip, scene=scene, storyboard=board, prompt=made["prompt"], previous_frame=continues_from or previous_end, measures=statistics)
            assess(verdict, thresholds, clip_measures(statistics, scene, size))
            probe(clip)
            write_png(frame_strip(decoded.thumbnails), out / f"{scene.key}-strip.png")
            previous_last = write_png(decoded.last, out / f"{scene.key}-last.png")
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
        probe(clips[0])
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
            calls = pipeline[0][3]
            same_output.append(_in_scratch(measure_bare, calls, False))
            same_work.append(_in_scratch(measure_bare, calls, True))
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
    decodes = pipeline[0][4]
    print(f"{'frame-statistics decodes per clip (full passes)':<52}{decodes['full']:>16.2f}")
    print(f"{'first/last-frame decodes per clip (partial passes)':<52}{decodes['partial']:>16.2f}")
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
