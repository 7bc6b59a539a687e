"""Inline kinds (`@handler(kind, inline=True)`): the claim, the handler's effects and the
completion are one transaction, and the row lock is the lease. A failure rolls the claim
back with the effects and is recorded after, fenced by the attempt count; a worker killed
mid-handler leaves the job queued at once (its transaction is rolled back by the server),
so another worker re-runs it without waiting for a lease, and its effect exists once."""

from __future__ import annotations

import signal
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import event

from studyhall.database import DatabaseManager
from studyhall.jobs import HANDLERS, Outcome, RunningJob, Worker, enqueue, register
from studyhall.jobs.claim import claim
from studyhall.jobs.run import record_failure
from studyhall.models import Job, JobStatus
from tests.jobs import handlers
from tests.jobs.handlers import effect_counts
from tests.jobs.test_processes import status_of, wait_for
from tests.jobs.test_worker import job


def test_an_inline_job_is_claimed_run_and_completed_in_one_transaction(jobs_db):
    with DatabaseManager.get_session():
        ids = [enqueue("test.inline_effect", {"note": f"n{i}"}) for i in range(3)]
    commits = []

    def count(connection):
        commits.append(connection)

    event.listen(jobs_db.engine, "commit", count)
    try:
        assert Worker(jobs_db).run_pending(limit=3) == 3
    finally:
        event.remove(jobs_db.engine, "commit", count)

    assert len(commits) == 3  # a leased kind commits twice per job: claim, then run
    assert effect_counts(jobs_db.engine) == dict.fromkeys(ids, 1)
    for job_id in ids:
        done = job(jobs_db, job_id)
        assert done.status is JobStatus.DONE and done.attempts == 1
        assert done.finished_at is not None and done.lease_expires_at is None
        assert done.last_error is None and done.lease_owner is not None
    assert Worker(jobs_db).run_pending() == 0


def test_while_an_inline_job_runs_its_row_is_locked_and_reads_queued(jobs_db):
    if jobs_db.settings.backend == "sqlite":
        pytest.skip("SQLite has no row locks: a claim waits for the running unit's write lock")
    with DatabaseManager.get_session():
        job_id = enqueue("test.inline_gated", {})
    runner = threading.Thread(target=Worker(jobs_db, name="first").run_pending, args=(1,))
    runner.start()
    try:
        assert handlers.INLINE_AT_GATE.wait(30)
        # Another worker skips the locked row instead of running it a second time...
        assert claim(jobs_db, "other") is None
        other = Worker(jobs_db, name="other")
        assert other.run_pending() == 0
        # ...and outside the transaction nothing has happened yet.
        assert status_of(jobs_db, job_id) is JobStatus.QUEUED
        assert effect_counts(jobs_db.engine) == {}
    finally:
        handlers.INLINE_GATE.set()
        runner.join(30)
    assert not runner.is_alive()
    assert status_of(jobs_db, job_id) is JobStatus.DONE
    assert effect_counts(jobs_db.engine) == {job_id: 1}


def test_an_inline_failure_rolls_back_its_claim_and_effects_then_retries_then_is_dead(jobs_db):
    with DatabaseManager.get_session():
        job_id = enqueue("test.inline_fail", {}, max_attempts=3)
    worker = Worker(jobs_db)

    assert worker.run_pending() == 1
    failed = job(jobs_db, job_id)
    assert failed.status is JobStatus.QUEUED and failed.attempts == 1
    assert "RuntimeError: inline boom on attempt 1" in failed.last_error
    assert failed.run_after > failed.updated_at  # pushed back
    assert failed.finished_at is None
    assert effect_counts(jobs_db.engine) == {}

    deadline = time.monotonic() + 10
    while job(jobs_db, job_id).status is not JobStatus.DEAD and time.monotonic() < deadline:
        worker.run_pending()
        time.sleep(0.02)
    dead = job(jobs_db, job_id)
    assert dead.status is JobStatus.DEAD and dead.attempts == 3
    assert "inline boom on attempt 3" in dead.last_error
    assert dead.finished_at is not None
    assert effect_counts(jobs_db.engine) == {}


def test_an_inline_failure_is_not_recorded_over_a_run_that_committed_meanwhile(jobs_db):
    with DatabaseManager.get_session():
        job_id = enqueue("test.inline_effect", {})
    assert Worker(jobs_db).run_pending() == 1
    # A failed first run whose failure is recorded only now, after another run of the
    # job committed (attempts moved on): the record must not touch the done job.
    stale = RunningJob(job_id, "test.inline_effect", {}, 1, 5, None, "late#0/abc")
    outcome = record_failure(jobs_db, stale, HANDLERS["test.inline_effect"], RuntimeError("x"))

    assert outcome is Outcome.LOST
    done = job(jobs_db, job_id)
    assert done.status is JobStatus.DONE and done.attempts == 1 and done.last_error is None


def test_an_inline_job_killed_mid_handler_is_rerun_at_once_with_its_effect_once(
    jobs_db, worker_processes, tmp_path
):
    marker = tmp_path / "started"
    with DatabaseManager.get_session():
        job_id = enqueue("test.inline_hang", {"marker": str(marker)})
    victim = worker_processes.start()
    wait_for(marker.exists)  # its effect and its completion are written, not committed
    victim.send_signal(signal.SIGKILL)
    victim.wait(30)

    survivor = worker_processes.start()
    # The default lease is 5 minutes: done well before means no lease was waited for.
    wait_for(lambda: status_of(jobs_db, job_id) is JobStatus.DONE, timeout=60)

    assert effect_counts(jobs_db.engine) == {job_id: 1}
    with jobs_db.unit_of_work() as session:
        # The killed run's claim was rolled back with it: one attempt counted.
        assert session.get(Job, job_id).attempts == 1
    assert survivor.poll() is None


def test_an_inline_kind_has_no_lease_to_set():
    with pytest.raises(ValueError, match="inline.*lease"):
        register("test.inline_leased", lambda job: None, inline=True, lease=timedelta(1))
    assert "test.inline_leased" not in HANDLERS
