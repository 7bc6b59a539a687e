"""Idle polling: one thread per worker process polls for jobs that no doorbell announces
(another process's commits on SQLite and MariaDB, retries, delayed jobs); the other idle
threads wait for the doorbell, which the poller rings when its poll found work."""

from __future__ import annotations

import threading
import time

from sqlalchemy import event, insert

from studyhall.jobs import Worker
from studyhall.models import Job, JobStatus
from studyhall.models.types import utcnow
from tests.jobs.handlers import effect_counts
from tests.jobs.test_processes import wait_for

CLAIM_MARK = "jobs.status"  # in every claim's SQL (and in few others)


def count_claims(database):
    seen: list[str] = []
    lock = threading.Lock()

    def before(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith(("SELECT", "UPDATE")) and CLAIM_MARK in statement:
            with lock:
                seen.append(statement)

    return seen, before


def insert_as_another_process(database, count, payload):
    """Jobs written with plain SQL: no doorbell rung, no NOTIFY sent."""
    now = utcnow()
    row = {
        "kind": "test.slow",
        "payload": payload,
        "status": JobStatus.QUEUED,
        "attempts": 0,
        "max_attempts": 5,
        "run_after": now,
        "created_at": now,
        "updated_at": now,
    }
    with database.engine.begin() as connection:
        connection.execute(insert(Job.__table__), [row] * count)


def test_four_idle_threads_poll_like_one(jobs_db):
    worker = Worker(jobs_db, threads=4, listen=False, poll_max=0.2)
    seen, before = count_claims(jobs_db)
    worker.start()
    try:
        time.sleep(0.5)  # past the threads' first looks
        event.listen(jobs_db.engine, "before_cursor_execute", before)
        try:
            time.sleep(2.0)
        finally:
            event.remove(jobs_db.engine, "before_cursor_execute", before)
    finally:
        assert worker.stop(30)
    # One poller backed off to 0.2 s makes about 10 claims in 2 s; four threads polling
    # each made about 40 (fewer when the machine is loaded, never more).
    assert len(seen) <= 16, len(seen)


def test_a_job_found_by_a_poll_wakes_the_other_idle_threads(jobs_db, tmp_path):
    worker = Worker(jobs_db, threads=4, listen=False, poll_max=0.2)
    worker.start()
    try:
        time.sleep(0.5)  # every thread idle
        insert_as_another_process(jobs_db, 4, {"marker": str(tmp_path / "m"), "seconds": 1.0})
        wait_for(lambda: sum(effect_counts(jobs_db.engine).values()) == 4, timeout=60)
    finally:
        assert worker.stop(30)
    with jobs_db.unit_of_work() as session:
        owners = {job.lease_owner.split("/")[0] for job in session.query(Job)}
    # The poller rang the doorbell: its idle peers took the other jobs at once, instead
    # of one thread running all four in turn.
    assert len(owners) >= 2, owners
