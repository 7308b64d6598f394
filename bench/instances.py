"""The pipeline on the embedded instance (SQLite) and on a Postgres instance, as production runs it.

bench.pipeline's project (6 scenes, local backend) through Dagster in-process, in interleaved
rounds: once on Dagster's SQLite storage with vidpipe's tables in SQLite (what `vidpipe demo`
uses), once with Dagster's storage and vidpipe's ledger and leases in one Postgres database (a
fresh one per round; pgserver, or the server VIDPIPE_TEST_POSTGRES_URL names). Each measurement
runs in a fresh child process and reports its own peak RSS; the clips must be byte-identical.

    python -m bench.instances [--repeat 3]      (from the repository root)
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from bench.pipeline import SCENES, _brief, _in_scratch, _peak_rss_mb


def measure(workdir: str, postgres_url: str | None) -> tuple[float, float, list[str]]:
    """(seconds, peak RSS, the accepted clips' sha256 in scene order) on Postgres when given a
    database, else on SQLite."""
    os.environ.update(VIDPIPE_HOME=f"{workdir}/vidpipe", VIDPIPE_WORKSPACE_ROOT=f"{workdir}/ws")
    if postgres_url:
        os.environ["VIDPIPE_DATABASE_URL"] = postgres_url
    from dagster import instance_for_test

    from vidpipe_dagster.artifacts import load_materialized
    from vidpipe_dagster.definitions import build_defs
    from vidpipe_dagster.domain import scene_key
    from vidpipe_dagster.in_process import run_project
    from vidpipe_dagster.intake import submit_brief
    from vidpipe_dagster.partitions import scene_partition_key

    storage = {"storage": {"postgres": {"postgres_url": postgres_url}}} if postgres_url else None
    os.makedirs(f"{workdir}/dagster", exist_ok=True)
    with instance_for_test(overrides=storage, temp_dir=f"{workdir}/dagster") as instance:
        defs = build_defs()
        store = defs.resources["blob_store"].open()
        submit_brief(instance, store, _brief("bench"))
        started = time.perf_counter()
        run_project(defs, instance, store, "bench", log_level="WARNING")
        elapsed = time.perf_counter() - started
        partitions = [str(scene_partition_key("bench", scene_key(number))) for number in range(1, SCENES + 1)]
        hashes = [load_materialized(instance, store, "scene_clip", p).objects["clip.mp4"].sha256 for p in partitions]
    return elapsed, _peak_rss_mb(), hashes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from vidpipe_dagster_tests.services import fresh_database, postgres_server

    on_sqlite, on_postgres = [], []
    with tempfile.TemporaryDirectory(prefix="vidpipe-bench-") as scratch, postgres_server(Path(scratch) / "pg") as server:
        for round_number in range(args.repeat):
            on_sqlite.append(_in_scratch(measure, None))
            with fresh_database(server) as database_url:
                on_postgres.append(_in_scratch(measure, database_url))
            print(f"round {round_number + 1}/{args.repeat}: SQLite {on_sqlite[-1][0]:.2f} s, Postgres {on_postgres[-1][0]:.2f} s", flush=True)

    ratios = [postgres[0] / sqlite[0] for sqlite, postgres in zip(on_sqlite, on_postgres)]
    print(f"\n{SCENES}-scene project, local backend, {args.repeat} interleaved rounds (min / median)")
    for name, rows in (("SQLite (embedded)", on_sqlite), ("Postgres", on_postgres)):
        print(f"{f'pipeline wall time, {name} instance (s)':<52}{f'{min(r[0] for r in rows):.2f} / {statistics.median(r[0] for r in rows):.2f}':>16}")
        print(f"{f'peak RSS, {name} instance (MB)':<52}{max(r[1] for r in rows):>16.0f}")
    print(f"{'ratio Postgres / SQLite (per round)':<52}{f'{min(ratios):.2f} / {statistics.median(ratios):.2f}':>16}")
    identical = all(row[2] == on_sqlite[0][2] for row in [*on_sqlite, *on_postgres])
    print(f"{'clips byte-identical on both instances':<52}{identical!s:>16}")


if __name__ == "__main__":
    main()
