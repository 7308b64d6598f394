"""Budgets and charges on a real PostgreSQL: reservations are atomic across processes, and what a
project has spent is exactly the sum of what its calls settled at.

The race runs 10 rounds in one go (8 processes, a budget that covers 5 calls each round);
VIDPIPE_BUDGET_RACE_ROUNDS=50 runs more.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
from collections import Counter

import pytest
import sqlalchemy as sa
from PIL import Image

from vidpipe_dagster.pricing import MICROS_PER_USD
from vidpipe_dagster.resources.controls import ProjectControls
from vidpipe_dagster.resources.database import engine_for
from vidpipe_dagster.resources.paid_calls import BudgetExceeded, ChargeRequest, ChargeStatus
from vidpipe_dagster.resources.tables import charges
from vidpipe_dagster_tests.paid_workers import budget_race_worker, paid_calls_for

WORKERS = 8
ESTIMATE_MICROS = 1_200_000  # 6 s of silent Veo 3.1 at $0.20/s
ROUNDS = int(os.environ.get("VIDPIPE_BUDGET_RACE_ROUNDS", "10"))


def charge(project: str, number: int) -> ChargeRequest:
    return ChargeRequest(
        project_id=project, partition=f"{project}|001", asset="scene_clip", request_key=f"{number:064d}",
        model="veo-3.1-generate-001", method="clip", run_id="run-1",
    )


def test_reserve_settle_release_keep_the_budget_exact(postgres_url, tmp_path):
    calls = paid_calls_for(postgres_url, str(tmp_path / "objects"))
    calls.set_budget("film", 3.00)
    first = calls.reserve(charge("film", 1), 1_000_000)
    second = calls.reserve(charge("film", 2), 1_500_000)
    assert calls.budget("film").reserved_micros == 2_500_000

    with pytest.raises(BudgetExceeded) as refused:
        calls.reserve(charge("film", 3), 600_000)
    assert "spent $0.00, reserved $2.50, limit $3.00" in refused.value.description
    assert "vidpipe budget film --set" in refused.value.description and not refused.value.allow_retries

    calls.settle(first, 987_654)
    calls.release(second)
    calls.settle(first, 1)  # settling twice changes nothing
    state = calls.budget("film")
    assert (state.spent_micros, state.reserved_micros) == (987_654, 0)
    totals = calls.totals("film")
    assert totals.partitions["film|001"].spent_micros == 987_654 and totals.paid_calls == 1
    assert totals.metadata()["cost_spent_usd"] == pytest.approx(0.987654)


def test_a_project_without_a_budget_is_unlimited_and_the_default_comes_from_config(postgres_url, tmp_path):
    calls = paid_calls_for(postgres_url, str(tmp_path / "objects"))
    calls.reserve(charge("open-ended", 1), 10_000 * MICROS_PER_USD)
    assert calls.budget("open-ended").limit_micros is None

    capped = calls.model_copy(update={"default_budget_usd": 2.0})
    capped.open_budget("capped", None)
    capped.open_budget("from-brief", 7.5)
    capped.open_budget("from-brief", 99)  # a project keeps the budget it has
    assert capped.budget("capped").limit_micros == 2 * MICROS_PER_USD
    assert capped.budget("from-brief").limit_micros == 7_500_000


def test_eight_processes_race_for_a_budget_that_covers_five_calls(postgres_url, tmp_path):
    objects = tmp_path / "objects"
    frame = tmp_path / "frame.png"
    Image.new("RGB", (64, 36), (20, 40, 60)).save(frame)
    calls = paid_calls_for(postgres_url, str(objects))
    projects = [f"race-{number:02d}" for number in range(ROUNDS)]
    # Five calls of up to $1.20 fit; a sixth never does, however the settlements interleave.
    for project in projects:
        calls.set_budget(project, 5.5 * ESTIMATE_MICROS / MICROS_PER_USD)

    spawn = multiprocessing.get_context("spawn")
    start, results = spawn.Barrier(WORKERS), spawn.Queue()
    processes = [
        spawn.Process(target=budget_race_worker, args=(worker, postgres_url, str(objects), projects, str(frame), start, results))
        for worker in range(WORKERS)
    ]
    for process in processes:
        process.start()
    outcomes = []
    try:
        for _ in range(WORKERS * ROUNDS):
            outcomes.append(results.get(timeout=300))
            assert outcomes[-1][2] != "crashed", outcomes[-1][3]
    except queue.Empty:
        pytest.fail(f"the race workers did not finish: {len(outcomes)} of {WORKERS * ROUNDS} calls reported")
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()

    controls = ProjectControls(database_url=postgres_url).states()
    for project in projects:
        mine = [outcome for outcome in outcomes if outcome[1] == project]
        assert Counter(kind for _, _, kind, _ in mine) == {"paid": 5, "refused": 3}, project
        for _, _, kind, detail in mine:
            if kind == "refused":
                assert "over the budget: spent $" in detail and ", reserved $" in detail and "limit $6.60" in detail
        with engine_for(postgres_url).connect() as connection:
            settled = connection.execute(
                sa.select(charges.c.actual_micros).where(charges.c.project_id == project, charges.c.status == ChargeStatus.SETTLED)
            ).scalars().all()
        state = calls.budget(project)
        assert len(settled) == 5 and state.reserved_micros == 0
        assert state.spent_micros == sum(settled), "spent is exactly the sum of the settled costs"
        reported = sum(round(cost * MICROS_PER_USD) for _, _, kind, cost in mine if kind == "paid")
        assert state.spent_micros == reported, "and equals what the calls reported, to the micro-dollar"
        assert state.spent_micros <= state.limit_micros
        assert controls[project][0] is True, "a refused project waits for a person"
