"""Peak memory of moving one 500 MB video through GcsBlobStore (to fake-gcs-server and back).

The upload and the download each run in a fresh child process, which reports its peak RSS after
importing the store (dagster and google-cloud-storage: the floor every worker pays before it moves
a byte) and after the transfer; the difference is what moving the video costs. Goal: under 100 MB.

    python -m bench.transfer [--megabytes 500]      (from the repository root)
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

KEY = "projects/bench/final/attempt-001.mp4"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def transfer(direction: str, emulator: str, bucket: str, path: str) -> tuple[float, float, float, str]:
    """In a fresh process: (peak RSS after imports, peak RSS after the transfer, seconds, sha256)."""
    os.environ["STORAGE_EMULATOR_HOST"] = emulator
    from vidpipe_dagster.resources.gcs import GcsBlobStore
    from vidpipe_dagster.resources.storage import file_sha256

    store = GcsBlobStore(bucket, "vidpipe")
    floor = peak_rss_mb()
    started = time.perf_counter()
    if direction == "upload":
        sha256 = store.put_file(KEY, Path(path), "video/mp4").sha256
        seconds = time.perf_counter() - started
    else:
        store.get_file(KEY, Path(path))
        seconds = time.perf_counter() - started
        _, sha256 = file_sha256(Path(path))
    return floor, peak_rss_mb(), seconds, sha256


def in_child(*args) -> tuple[float, float, float, str]:
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(transfer, *args).result()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=500)
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
        rows = {
            "upload": in_child("upload", emulator, bucket, str(source)),
            "download": in_child("download", emulator, bucket, str(copy)),
        }

    print(f"\n{args.megabytes} MB through GcsBlobStore, each direction in a fresh process")
    print(f"{'':>9} {'RSS after imports':>18} {'peak RSS':>9} {'growth':>7} {'MB/s':>6}  sha256 matches")
    for direction, (floor, peak, seconds, sha256) in rows.items():
        print(f"{direction:>9} {floor:>15.0f} MB {peak:>6.0f} MB {peak - floor:>4.0f} MB "
              f"{args.megabytes / seconds:>6.0f}  {sha256 == expected}")


if __name__ == "__main__":
    main()
