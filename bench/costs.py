"""What the money path adds to a model call, on PostgreSQL, and whether looking up a stored answer
stays flat as answers pile up.

  reserve + settle    the two commits every paid call adds (a budgeted project): each one statement
                      on Postgres, committed on its own; measured next to the ledger's attempt
                      allocation, the one transaction every attempt already pays, in the same rounds
  reserve + complete  what a call that stores its answer actually runs: reserve, then keep the
                      answer under its key and settle, atomically
  ... as transactions the same steps as BEGIN, two or three statements, COMMIT each (what vidpipe
                      did before, and still does on SQLite), in the same rounds
  2 bare commits      the floor under reserve + settle: two one-row INSERTs, each its own durable
                      commit, sent with psycopg2 directly (no SQLAlchemy, no pool)
  lookup              the reuse check before every call (`stored_result`), in a database holding
                      10 stored answers and in one holding 100,000, alternating call by call

    python -m bench.costs [--rounds 1000] [--stored 100000]      (from the repository root)
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

SMALL = 10


def key(number: int, salt: str = "") -> str:
    return hashlib.sha256(f"{salt}{number}".encode()).hexdigest()


def seed_answers(database_url: str, count: int) -> None:
    from vidpipe_dagster.resources.database import engine_for
    from vidpipe_dagster.resources.tables import paid_requests

    now = datetime.now(UTC)
    with engine_for(database_url).begin() as connection:
        for start in range(0, count, 10_000):
            connection.execute(
                paid_requests.insert(),
                [
                    {
                        "request_key": key(number), "project_id": "bench", "partition": "bench|001", "asset": "scene_clip",
                        "model": "veo-3.1-generate-001", "method": "clip", "run_id": "run", "cost_micros": 1_200_000,
                        "result": '{"model": "veo-3.1-generate-001", "seconds": 1.0}', "objects": "{}", "created_at": now,
                    }
                    for number in range(start, min(count, start + 10_000))
                ],
            )
        connection.exec_driver_sql("ANALYZE vidpipe_paid_requests")


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def timed(function: Callable[[], object]) -> float:
    started = time.perf_counter()
    function()
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--stored", type=int, default=100_000, help="stored answers in the large database")
    args = parser.parse_args()

    import psycopg2

    from vidpipe_dagster.resources.database import engine_for
    from vidpipe_dagster.resources.ledger import AttemptLedger
    from vidpipe_dagster.resources.paid_calls import ChargeRequest, PaidCalls, StoredRequest
    from vidpipe_dagster_tests.services import fresh_database, postgres_server

    class TransactionalPaidCalls(PaidCalls):
        """The portable path (SQLite's) on Postgres: each step a transaction of several statements."""

        def _postgres(self) -> bool:
            return False

    with tempfile.TemporaryDirectory() as scratch, postgres_server(Path(scratch)) as server, \
            fresh_database(server) as small_url, fresh_database(server) as large_url:
        calls = PaidCalls(database_url=small_url, storage_url=scratch)
        large = PaidCalls(database_url=large_url, storage_url=scratch)
        ledger = AttemptLedger(database_url=small_url)
        started = time.perf_counter()
        seed_answers(small_url, SMALL)
        seed_answers(large_url, args.stored)
        print(f"seeded {SMALL + args.stored:,} stored answers in {time.perf_counter() - started:.0f} s")
        calls.set_budget("bench", 1_000_000_000)

        def request(number: int) -> ChargeRequest:
            return ChargeRequest(
                project_id="bench", partition="bench|001", asset="scene_clip", request_key=key(number, "new"),
                model="veo-3.1-generate-001", method="clip", run_id="bench",
            )

        transactional = TransactionalPaidCalls(database_url=small_url, storage_url=scratch)

        def reserve_settle(number: int, calls: PaidCalls = calls) -> None:
            calls.settle(calls.reserve(request(number), 1_200_000), 1_100_000)

        def reserve_complete(number: int, calls: PaidCalls = calls) -> None:
            charge = calls.reserve(request(number), 1_200_000)
            stored = StoredRequest(**request(number).model_dump(), result="{}", cost_micros=1_100_000)
            calls.complete(stored.model_copy(update={"request_key": key(number, "stored")}), charge)

        floor = psycopg2.connect(engine_for(small_url).url.render_as_string(hide_password=False).replace("+psycopg2", ""))
        floor.autocommit = True
        with floor.cursor() as cursor:
            cursor.execute("CREATE TABLE bench_floor (id bigserial PRIMARY KEY, at timestamptz NOT NULL)")

        def two_commits() -> None:
            with floor.cursor() as cursor:
                for _ in range(2):
                    cursor.execute("INSERT INTO bench_floor (at) VALUES (now())")

        samples: dict[str, list[float]] = {
            name: []
            for name in (
                "allocate", "2 bare commits", "reserve+settle", "... as transactions", "reserve+complete", "... as transactions ",
                "lookup small", "lookup large",
            )
        }
        for number in range(args.rounds):  # interleaved, so drift on a noisy machine hits all alike
            samples["2 bare commits"].append(timed(two_commits))
            samples["allocate"].append(timed(lambda: ledger.allocate("scene_clip", "bench|001")))
            samples["reserve+settle"].append(timed(lambda: reserve_settle(number)))
            samples["... as transactions"].append(timed(lambda: reserve_settle(args.rounds + number, transactional)))
            samples["reserve+complete"].append(timed(lambda: reserve_complete(number)))
            samples["... as transactions "].append(timed(lambda: reserve_complete(args.rounds + number, transactional)))
        for number in range(3 * args.rounds):  # lookups alternate, each size going first half the time
            lookups = [
                ("lookup small", lambda: calls.stored_result(key(number % SMALL))),
                ("lookup large", lambda: large.stored_result(key(number * 7919 % args.stored))),
            ]
            for name, lookup in lookups if number % 2 else reversed(lookups):
                samples[name].append(timed(lookup))
        floor.close()
        assert large.stored_result(key(args.stored - 1)) is not None and calls.stored_result(key(SMALL)) is None

    stats = {name: percentiles(values) for name, values in samples.items()}
    print(f"\n{args.rounds} rounds on PostgreSQL, ms")
    print(f"{'':>20} {'p50':>8} {'p99':>8} {'p50 / allocate':>15}")
    for name, (p50, p99) in stats.items():
        print(f"{name:>20} {p50:>8.2f} {p99:>8.2f} {p50 / stats['allocate'][0]:>14.2f}x")
    print(f"\nreserve + settle adds {stats['reserve+settle'][1]:.2f} ms p99 to a call (goal < 5 ms); "
          f"reserve + complete {stats['reserve+complete'][1]:.2f} ms p99; two bare durable commits {stats['2 bare commits'][1]:.2f} ms p99")
    print(f"reuse lookup, {SMALL} -> {args.stored:,} stored answers: p50 {stats['lookup small'][0]:.2f} -> "
          f"{stats['lookup large'][0]:.2f} ms, {stats['lookup large'][0] / stats['lookup small'][0]:.2f}x (goal <= 1.2x)")


if __name__ == "__main__":
    main()
