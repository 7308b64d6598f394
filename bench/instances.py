"""The pipeline on each Dagster instance it can run on, side by side.

bench.pipeline's project (6 scenes, local backend) through Dagster in-process, in interleaved
rounds, on:
  embedded        vidpipe's embedded instance (what `vidpipe demo` uses): Dagster's SQLite storages
                  with one engine per database and commits that do not wait for the disk
  dagster-sqlite  Dagster's own SQLite storages as they come (an engine per connection)
  postgres        Dagster's storage and vidpipe's ledger and leases in one Postgres database, as
                  production runs it: the storages dagster.yaml names, which keep their
                  connections (a fresh database per round; pgserver, or the server
                  VIDPIPE_TEST_POSTGRES_URL names)
  dagster-postgres  the same with Dagster's own Postgres storage as it comes (a connection per query)
Each measurement runs in a fresh child process and reports its own peak RSS; the clips must be
byte-identical on every instance.

    python -m bench.instances [--repeat 3]      (from the repository root)
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from bench.pipeline import INSTANCES, SCENES, _in_scratch, measure_pipeline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from vidpipe_dagster_tests.services import fresh_database, postgres_server

    rows: dict[str, list[tuple]] = {kind: [] for kind in INSTANCES}
    with tempfile.TemporaryDirectory(prefix="vidpipe-bench-") as scratch, postgres_server(Path(scratch) / "pg") as server:
        for round_number in range(args.repeat):
            for kind in INSTANCES:
                if kind.endswith("postgres"):
                    with fresh_database(server) as database_url:
                        rows[kind].append(_in_scratch(measure_pipeline, kind, database_url))
                else:
                    rows[kind].append(_in_scratch(measure_pipeline, kind))
            print(f"round {round_number + 1}/{args.repeat}: " + ", ".join(f"{kind} {rows[kind][-1][0]:.2f} s" for kind in INSTANCES), flush=True)

    def ratios(kind: str) -> str:
        values = [row[0] / embedded[0] for row, embedded in zip(rows[kind], rows["embedded"])]
        return f"{min(values):.2f} / {statistics.median(values):.2f}"

    print(f"\n{SCENES}-scene project, local backend, {args.repeat} interleaved rounds (min / median)")
    for kind in INSTANCES:
        print(f"{f'pipeline wall time, {kind} instance (s)':<56}{f'{min(r[0] for r in rows[kind]):.2f} / {statistics.median(r[0] for r in rows[kind]):.2f}':>16}")
    for kind in INSTANCES[1:]:
        print(f"{f'ratio {kind} / embedded (per round)':<56}{ratios(kind):>16}")
    for kind in INSTANCES:
        print(f"{f'peak RSS, {kind} instance (MB)':<56}{max(r[1] for r in rows[kind]):>16.0f}")
    first = rows["embedded"][0][2]
    identical = all(row[2] == first for kind_rows in rows.values() for row in kind_rows)
    print(f"{'clips byte-identical on every instance':<56}{identical!s:>16}")


if __name__ == "__main__":
    main()
