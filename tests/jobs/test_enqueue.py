"""enqueue(): a job exists if and only if the caller's unit of work commits (a
transactional outbox), deduplicated by key, and the commit wakes this process's workers."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import psycopg
import pytest

from studyhall.database import DatabaseManager, get_current_session
from studyhall.db.recording import record_statements
from studyhall.jobs import DOORBELL, enqueue, enqueue_many
from studyhall.models import Job, JobStatus
from studyhall.models.types import utcnow
from studyhall.services.job_queue import CHANNEL
from tests.jobs.handlers import effects


def jobs_in(database):
    with database.unit_of_work() as session:
        return list(session.query(Job).order_by(Job.id))


def test_a_job_exists_iff_the_unit_commits(jobs_db):
    with DatabaseManager.get_session():
        committed = enqueue("test.effect", {"note": "kept"})
    with pytest.raises(ValueError), DatabaseManager.get_session():
        enqueue("test.effect", {"note": "lost"})
        raise ValueError

    rows = jobs_in(jobs_db)
    assert [(r.id, r.payload) for r in rows] == [(committed, {"note": "kept"})]
    job = rows[0]
    assert job.kind == "test.effect"
    assert job.status is JobStatus.QUEUED
    assert job.attempts == 0 and job.max_attempts == 5
    assert job.lease_owner is None and job.lease_expires_at is None and job.last_error is None
    assert job.finished_at is None
    assert abs(job.run_after - utcnow()) < timedelta(seconds=30)


def test_enqueue_joins_the_callers_unit_and_sees_its_rows(jobs_db):
    with DatabaseManager.get_session() as session:
        enqueue("test.effect", {"n": 1})
        # Same transaction: the caller sees the job before it commits; others do not.
        assert session.query(Job).count() == 1
        assert jobs_in_other_connection(jobs_db) == 0
    assert jobs_in_other_connection(jobs_db) == 1


def jobs_in_other_connection(database):
    """Jobs another connection sees (read in another thread: this one's writable unit
    would make it BEGIN IMMEDIATE on SQLite, and wait for itself)."""

    def count():
        with database.engine.connect() as connection:
            return len(connection.execute(Job.__table__.select()).all())

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(count).result(timeout=60)


def test_a_key_deduplicates_without_disturbing_the_callers_unit(jobs_db):
    with DatabaseManager.get_session() as session:
        first = enqueue("test.effect", {"n": 1}, key="evaluate:7")
        again = enqueue("test.effect", {"n": 2}, key="evaluate:7")
        other = enqueue("test.effect", {"n": 3}, key="evaluate:8")
        # The unit goes on: a conflict did not break its transaction.
        session.execute(effects.insert().values(job_id=0, attempt=0, pid=0))
    assert first is not None and other is not None and again is None
    with DatabaseManager.get_session():
        assert enqueue("test.effect", {"n": 4}, key="evaluate:7") is None  # committed before
    rows = jobs_in(jobs_db)
    assert [(r.dedupe_key, r.payload) for r in rows] == [
        ("evaluate:7", {"n": 1}),
        ("evaluate:8", {"n": 3}),
    ]


def test_run_after_and_max_attempts_are_kept(jobs_db):
    later = utcnow() + timedelta(hours=1)
    with DatabaseManager.get_session():
        enqueue("test.effect", None, run_after=later, max_attempts=2)
    (job,) = jobs_in(jobs_db)
    assert job.run_after == later  # microseconds kept on every backend
    assert job.max_attempts == 2
    assert job.payload is None


def test_the_commit_rings_the_doorbell_and_a_rollback_does_not(jobs_db):
    before = DOORBELL.generation
    with DatabaseManager.get_session():
        enqueue("test.effect", {})
        assert DOORBELL.generation == before  # not before the COMMIT
    assert DOORBELL.generation > before

    before = DOORBELL.generation
    with pytest.raises(ValueError), DatabaseManager.get_session():
        enqueue("test.effect", {})
        raise ValueError
    assert DOORBELL.generation == before


def test_enqueue_without_a_unit_opens_its_own(jobs_db):
    job_id = enqueue("test.effect", {"alone": True})
    assert [r.id for r in jobs_in(jobs_db)] == [job_id]
    with DatabaseManager.get_session():
        assert get_current_session().get(Job, job_id) is not None


def test_many_jobs_in_one_unit_wake_the_workers_once(jobs_db):
    with DatabaseManager.get_session(), record_statements() as seen:
        for n in range(5):
            enqueue("test.effect", {"n": n})
    # One statement per job: on PostgreSQL the INSERT notifies too (pg_notify in its
    # RETURNING; the server delivers one notification per transaction at COMMIT), rather
    # than a NOTIFY round trip of its own.
    assert seen.count == 5
    assert not [s for s in seen.statements if s.startswith("NOTIFY")]


def test_a_savepoint_rolled_back_does_not_take_the_wake_up_of_the_unit_with_it(jobs_db):
    before = DOORBELL.generation
    with DatabaseManager.get_session() as session, record_statements() as seen:
        with pytest.raises(ValueError), DatabaseManager.get_session(propagation="nested"):
            enqueue("test.effect", {"n": 1})
            raise ValueError
        enqueue("test.effect", {"n": 2})
        assert session.query(Job).count() == 1
    assert DOORBELL.generation > before
    assert seen.count == 2 + 1  # two INSERTs and the count


def test_enqueue_many_adds_one_job_per_payload_in_few_statements_iff_the_unit_commits(jobs_db):
    payloads = [{"n": n} for n in range(1200)]
    before = DOORBELL.generation
    with DatabaseManager.get_session(), record_statements() as seen:
        ids = enqueue_many("test.effect", payloads, max_attempts=2)
        assert DOORBELL.generation == before  # not before the COMMIT
    assert DOORBELL.generation > before

    # Multi-row INSERTs (SQLAlchemy's insertmanyvalues batches), not one per job.
    assert 1 <= seen.count <= 6
    assert not [s for s in seen.statements if s.startswith("NOTIFY")]
    rows = jobs_in(jobs_db)
    assert [r.id for r in rows] == ids and len(set(ids)) == 1200
    assert [r.payload for r in rows] == payloads  # ids in the payloads' order
    assert {(r.kind, r.status, r.attempts, r.max_attempts) for r in rows} == {
        ("test.effect", JobStatus.QUEUED, 0, 2)
    }

    with pytest.raises(ValueError), DatabaseManager.get_session():
        enqueue_many("test.effect", [{"lost": True}])
        raise ValueError
    assert len(jobs_in(jobs_db)) == 1200
    assert enqueue_many("test.effect", []) == []


def test_enqueue_many_refuses_a_bad_kind_or_max_attempts(jobs_db):
    with pytest.raises(ValueError, match="job kind is 1 to"):
        enqueue_many("", [{}])
    with pytest.raises(ValueError, match="max_attempts must be at least 1"):
        enqueue_many("test.effect", [{}], max_attempts=0)
    assert jobs_in(jobs_db) == []


def notifications_after(database, block):
    """Notifications on the workers' channel that a LISTENing connection receives while
    `block` runs and for a moment after."""
    url = database.settings.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as listener:
        listener.execute(f"LISTEN {CHANNEL}")
        block()
        return len(list(listener.notifies(timeout=0.5)))


def test_on_postgresql_a_commit_notifies_other_processes_once_and_a_rollback_never(jobs_db):
    if jobs_db.settings.backend != "postgresql":
        pytest.skip("NOTIFY is PostgreSQL's")

    def five_jobs_and_a_batch():
        with DatabaseManager.get_session():
            for n in range(5):
                enqueue("test.effect", {"n": n})
            enqueue_many("test.effect", [{"n": n} for n in range(5, 10)])
            enqueue("test.effect", {}, key="once")
            enqueue("test.effect", {}, key="once")

    def rolled_back():
        with pytest.raises(ValueError), DatabaseManager.get_session():
            enqueue("test.effect", {})
            enqueue_many("test.effect", [{}])
            raise ValueError

    def after_a_savepoint_rolled_back():
        with DatabaseManager.get_session():
            with pytest.raises(ValueError), DatabaseManager.get_session(propagation="nested"):
                enqueue("test.effect", {"n": 1})
                raise ValueError
            enqueue("test.effect", {"n": 2})

    assert notifications_after(jobs_db, five_jobs_and_a_batch) == 1
    assert notifications_after(jobs_db, rolled_back) == 0
    assert notifications_after(jobs_db, after_a_savepoint_rolled_back) == 1
