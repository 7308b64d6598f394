"""Peak memory of moving one 500 MB video through GcsBlobStore (to fake-gcs-server and back).

The upload and the download each run in a fresh child process, which reports its peak RSS after
importing the store (dagster and google-cloud-storage: the floor every worker pays before it moves
a byte) and after the transfer; the difference is what moving the video costs. Goal: under 100 MB.
Uploads are measured for each resumable chunk size, interleaved over rounds (min and median of
the speed; the largest growth): a chunk is held in memory while it is sent, so it trades memory
for fewer round trips.

    python -m bench.transfer [--megabytes 500] [--chunk-mib 8 16 32] [--rounds 2]   (from the repository root)
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

KEY = "projects/bench/final/attempt-001.mp4"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def transfer(direction: str, emulator: str, bucket: str, path: str, key: str, chunk_mib: int = 0) -> tuple[float, float, float, str]:
    """In a fresh process: (peak RSS after imports, peak RSS after the transfer, seconds, sha256)."""
    os.environ["STORAGE_EMULATOR_HOST"] = emulator
    from vidpipe_dagster.resources import gcs
    from vidpipe_dagster.resources.storage import file_sha256

    if chunk_mib:
        gcs.UPLOAD_CHUNK_BYTES = chunk_mib * 1024 * 1024
    store = gcs.GcsBlobStore(bucket, "vidpipe")
    floor = peak_rss_mb()
    started = time.perf_counter()
    if direction == "upload":
        sha256 = store.put_file(key, Path(path), "video/mp4").sha256
        seconds = time.perf_counter() - started
    else:
        store.get_file(key, Path(path))
        seconds = time.perf_counter() - started
        _, sha256 = file_sha256(Path(path))
    return floor, peak_rss_mb(), seconds, sha256


def in_child(*args) -> tuple[float, float, float, str]:
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(transfer, *args).result()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=500)
    parser.add_argument("--chunk-mib", type=int, nargs="+", default=[8, 16, 32])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    size = args.megabytes * 1024 * 1024

    from vidpipe_dagster.resources.storage import file_sha256
    from vidpipe_dagster_tests.services import create_bucket, gcs_emulator

    with tempfile.TemporaryDirectory() as scratch, gcs_emulator() as emulator:
        bucket = create_bucket()
        source, copy = Path(scratch) / "video.mp4", Path(scratch) / "copy.mp4"
        with source.open("wb") as file:
            for _ in range(0, size, 8 * 1024 * 1024):
                file.write(os.urandom(min(8 * 1024 * 1024, size - file.tell())))
        _, expected = file_sha256(source)
        uploads = {chunk: [] for chunk in args.chunk_mib}
        for round_number in range(args.rounds):
            for chunk in args.chunk_mib:
                key = f"{KEY}.{chunk}mib.{round_number}"
                uploads[chunk].append(in_child("upload", emulator, bucket, str(source), key, chunk))
        download = in_child("download", emulator, bucket, str(copy), key)

    print(f"\n{args.megabytes} MB through GcsBlobStore, each transfer in a fresh process, {args.rounds} interleaved rounds")
    print(f"{'':>16} {'RSS after imports':>18} {'peak RSS':>9} {'growth':>7} {'MB/s min':>9} {'median':>7}  sha256 matches")
    rows = {f"upload {chunk:>2} MiB": runs for chunk, runs in uploads.items()} | {"download": [download]}
    for name, runs in rows.items():
        speeds = [args.megabytes / seconds for _, _, seconds, _ in runs]
        floor, peak = min(run[0] for run in runs), max(run[1] for run in runs)
        growth = max(run[1] - run[0] for run in runs)
        print(f"{name:>16} {floor:>15.0f} MB {peak:>6.0f} MB {growth:>4.0f} MB {min(speeds):>9.0f} {statistics.median(speeds):>7.0f}"
              f"  {all(run[3] == expected for run in runs)}")


if __name__ == "__main__":
    main()
