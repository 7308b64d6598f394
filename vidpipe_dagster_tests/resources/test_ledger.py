"""The attempt ledger on both of its databases: embedded SQLite and PostgreSQL."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa

from vidpipe_dagster.resources.ledger import AttemptLedger, AttemptStatus


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return request.getfixturevalue("postgres_url")


def as_another_worker(url: str, worker: int) -> str:
    """The same database under a differently spelled URL, so this process opens one more engine
    and creates the tables once more, as another worker starting up would."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        folder, name = os.path.split(parsed.database)
        return parsed.set(database=os.path.join(folder, *["."] * worker, name)).render_as_string()
    return parsed.update_query_dict({"application_name": f"worker-{worker}"}).render_as_string(hide_password=False)


def test_attempts_are_unique_and_contiguous_under_concurrent_allocation(database_url):
    ledger = AttemptLedger(database_url=database_url)

    with ThreadPoolExecutor(8) as pool:
        attempts = list(pool.map(lambda _: ledger.allocate("scene_clip", "p|001"), range(40)))

    assert sorted(attempts) == list(range(1, 41))
    assert ledger.allocate("scene_clip", "p|002") == 1
    assert ledger.allocate("scene_keyframes", "p|001") == 1


def test_the_attempt_log_follows_each_attempt_from_allocation_to_its_verdict(database_url):
    ledger = AttemptLedger(database_url=database_url)
    for run in ("run-a", "run-b", "run-c"):
        ledger.allocate("scene_clip", "p|001", run_id=run)
    ledger.allocate("scene_clip", "p|002")
    ledger.allocate("scene_clip", "p2|001")

    ledger.update("scene_clip", "p|001", 1, AttemptStatus.STORED, uri="gs://b/p/attempt-001.json")
    ledger.update("scene_clip", "p|001", 1, AttemptStatus.REJECTED, scores={"judge": 0.4}, note="flicker")
    ledger.update("scene_clip", "p|001", 2, AttemptStatus.ACCEPTED, scores={"judge": 0.9})

    log = ledger.attempts("scene_clip", "p|001")
    assert [(r.attempt, r.status, r.run_id) for r in log] == [
        (1, AttemptStatus.REJECTED, "run-a"),
        (2, AttemptStatus.ACCEPTED, "run-b"),
        (3, AttemptStatus.ALLOCATED, "run-c"),
    ]
    assert (log[0].uri, log[0].scores, log[0].note) == ("gs://b/p/attempt-001.json", {"judge": 0.4}, "flicker")
    assert log[0].updated_at >= log[0].created_at
    assert [r.partition for r in ledger.attempts("scene_clip", partition_prefix="p|")] == ["p|001"] * 3 + ["p|002"]


def test_updating_an_attempt_that_was_never_allocated_fails(database_url):
    ledger = AttemptLedger(database_url=database_url)
    ledger.allocate("scene_clip", "p|001")

    with pytest.raises(LookupError, match=r"no attempt 7 of scene_clip\[p\|001\]"):
        ledger.update("scene_clip", "p|001", 7, AttemptStatus.ACCEPTED)


def test_workers_starting_together_on_an_empty_database_all_come_up(database_url):
    workers = 4
    start = threading.Barrier(workers)

    def first_allocation(worker: int) -> int:
        ledger = AttemptLedger(database_url=as_another_worker(database_url, worker))
        start.wait()
        return ledger.allocate("scene_clip", "p|001")

    with ThreadPoolExecutor(workers) as pool:
        attempts = list(pool.map(first_allocation, range(workers)))

    assert sorted(attempts) == list(range(1, workers + 1))


def test_a_ledger_made_before_attempts_recorded_their_objects_gains_the_column(database_url):
    engine = sa.create_engine(database_url.replace("postgresql://", "postgresql+psycopg2://"))
    with engine.begin() as connection:  # the table as the previous release created it
        connection.execute(sa.text(
            "CREATE TABLE vidpipe_attempts (asset VARCHAR(255), partition VARCHAR(255), attempt INTEGER, status VARCHAR(16) NOT NULL, "
            "run_id VARCHAR(64), uri TEXT, scores TEXT, note TEXT, created_at TIMESTAMP NOT NULL, updated_at TIMESTAMP NOT NULL, "
            "PRIMARY KEY (asset, partition, attempt))"
        ))
    engine.dispose()
    ledger = AttemptLedger(database_url=database_url)

    attempt = ledger.allocate("storyboard", "old-film", "run-1")
    ledger.update("storyboard", "old-film", attempt, AttemptStatus.ABANDONED, objects=["projects/old-film/storyboard/attempt-001.json"])

    assert [r.objects for r in ledger.with_status(AttemptStatus.ABANDONED)] == [["projects/old-film/storyboard/attempt-001.json"]]
