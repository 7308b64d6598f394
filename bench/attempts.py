"""How long finding the next attempt takes as attempts pile up: the ledger against listing storage.

  ledger    vidpipe: one atomic upsert on the attempt ledger (PostgreSQL), whatever the history
  listing   the old system's start-up scan: list every object under the scene's prefix in the
            bucket (fake-gcs-server here) and take the highest attempt number plus one. Listing
            only the scene's own prefix is kinder to it than the old whole-bucket scan was.

Each scene partition has 10, 1,000 or 10,000 attempts already: that many rows in the ledger (all
in one table) and that many objects under its prefix, in a bucket of its own (the emulator's
listing reads a whole bucket, which real GCS does not). The sizes are measured interleaved, round
after round, so drift on a noisy machine hits them alike.

    python -m bench.attempts [--rounds 100]      (from the repository root)
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

SIZES = (10, 1_000, 10_000)
ASSET = "scene_clip"
PREFIX = "vidpipe"
ATTEMPT_IN_NAME = re.compile(r"/attempt-(\d+)\.mp4$")


def partition(size: int) -> str:
    return f"bench-{size}|001"


def seed_ledger(database_url: str, size: int) -> None:
    """`size` attempts of one scene, as the ledger holds them after that many generations."""
    from vidpipe_dagster.resources.database import engine_for
    from vidpipe_dagster.resources.ledger import AttemptStatus
    from vidpipe_dagster.resources.tables import attempt_counters, attempt_log

    now = datetime.now(UTC)
    rows = [
        {
            "asset": ASSET, "partition": partition(size), "attempt": attempt, "run_id": f"run-{attempt}",
            "status": AttemptStatus.ACCEPTED if attempt == size else AttemptStatus.REJECTED,
            "created_at": now, "updated_at": now,
        }
        for attempt in range(1, size + 1)
    ]
    with engine_for(database_url).begin() as connection:
        connection.execute(attempt_log.insert(), rows)
        connection.execute(attempt_counters.insert().values(asset=ASSET, partition=partition(size), last_attempt=size))


def seed_bucket(store, size: int) -> None:
    """`size` clip objects under the scene's prefix, written in parallel to keep seeding quick."""
    from vidpipe_dagster.artifacts import object_key

    def put(attempt: int) -> None:
        store.put_bytes(object_key(ASSET, partition(size), attempt, "clip.mp4"), b"a clip", "video/mp4")

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, range(1, size + 1)))


def next_attempt_by_listing(client, buckets: dict[int, str], size: int) -> int:
    """The baseline: every object under the scene's prefix, read to find the highest attempt."""
    from vidpipe_dagster.artifacts import artifact_folder

    highest = 0
    for blob in client.list_blobs(buckets[size], prefix=f"{PREFIX}/{artifact_folder(ASSET, partition(size))}/"):
        if match := ATTEMPT_IN_NAME.search(blob.name):
            highest = max(highest, int(match[1]))
    return highest + 1


def median_ms(function: Callable[[int], int], rounds: int) -> dict[int, float]:
    samples: dict[int, list[float]] = {size: [] for size in SIZES}
    for _ in range(rounds):
        for size in SIZES:
            started = time.perf_counter()
            function(size)
            samples[size].append((time.perf_counter() - started) * 1000)
    return {size: statistics.median(times) for size, times in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=100, help="rounds of the ledger (the listing runs a fifth as many)")
    args = parser.parse_args()

    from google.cloud import storage

    from vidpipe_dagster.resources.gcs import GcsBlobStore
    from vidpipe_dagster.resources.ledger import AttemptLedger
    from vidpipe_dagster_tests.services import create_bucket, fresh_database, gcs_emulator, postgres_server

    with tempfile.TemporaryDirectory() as scratch, postgres_server(Path(scratch)) as server, \
            fresh_database(server) as database_url, gcs_emulator():
        buckets = {size: create_bucket() for size in SIZES}
        ledger = AttemptLedger(database_url=database_url)
        client = storage.Client(project=None)
        started = time.perf_counter()
        for size in SIZES:
            seed_ledger(database_url, size)
            seed_bucket(GcsBlobStore(buckets[size], PREFIX), size)
        print(f"seeded {sum(SIZES):,} objects and ledger rows in {time.perf_counter() - started:.0f} s")

        for size in SIZES:  # both ways agree before either is timed
            assert next_attempt_by_listing(client, buckets, size) == ledger.allocate(ASSET, partition(size)) == size + 1

        ours = median_ms(lambda size: ledger.allocate(ASSET, partition(size)), args.rounds)
        baseline = median_ms(lambda size: next_attempt_by_listing(client, buckets, size), max(3, args.rounds // 5))

    print(f"\nnext attempt of a scene, median ms (ledger: {args.rounds} rounds, listing: {max(3, args.rounds // 5)})")
    print(f"{'attempts so far':>16} {'ledger (ours)':>14} {'list prefix':>12} {'list / ledger':>14}")
    for size in SIZES:
        print(f"{size:>16,} {ours[size]:>14.2f} {baseline[size]:>12.2f} {baseline[size] / ours[size]:>13.1f}x")
    first, last = SIZES[0], SIZES[-1]
    print(f"\ngrowth from {first:,} to {last:,} attempts: ledger {ours[last] / ours[first]:.2f}x (goal <= 1.2x), "
          f"listing {baseline[last] / baseline[first]:.1f}x")


if __name__ == "__main__":
    main()
