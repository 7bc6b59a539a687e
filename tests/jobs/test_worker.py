"""The worker: a handler's effects and its job's completion commit together; failures
retry with backoff and jitter, then the job is dead with its error kept; a lease that
expires mid-run lets a second worker run the job, and the first one's completion is then
refused, so the effects happen once."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import event

from studyhall.database import DatabaseManager
from studyhall.jobs import Worker, enqueue, register, retry_delay, schedule
from studyhall.jobs.claim import claim, skip_locked_problem
from studyhall.jobs.registry import SCHEDULE
from studyhall.models import Job, JobStatus
from studyhall.models.types import utcnow
from tests.jobs import handlers
from tests.jobs.handlers import effect_counts


def job(database, job_id):
    with database.unit_of_work() as session:
        return session.get(Job, job_id)


def test_effects_and_completion_commit_together(jobs_db):
    with DatabaseManager.get_session():
        ids = [enqueue("test.effect", {"note": f"n{i}"}) for i in range(3)]

    assert Worker(jobs_db).run_pending() == 3

    assert effect_counts(jobs_db.engine) == dict.fromkeys(ids, 1)
    for job_id in ids:
        done = job(jobs_db, job_id)
        assert done.status is JobStatus.DONE
        assert done.attempts == 1 and done.finished_at is not None
        assert done.lease_expires_at is None and done.last_error is None
    assert Worker(jobs_db).run_pending() == 0


def test_a_job_due_later_waits(jobs_db):
    with DatabaseManager.get_session():
        later = enqueue("test.effect", {}, run_after=utcnow() + timedelta(hours=1))
    assert Worker(jobs_db).run_pending() == 0
    assert job(jobs_db, later).status is JobStatus.QUEUED


def test_a_worker_claims_only_the_kinds_it_handles(jobs_db):
    with DatabaseManager.get_session():
        unknown = enqueue("nobody.handles.this", {})
        known = enqueue("test.effect", {})
    assert Worker(jobs_db).run_pending() == 1
    assert job(jobs_db, unknown).status is JobStatus.QUEUED
    assert job(jobs_db, known).status is JobStatus.DONE


def test_failures_retry_with_backoff_then_the_job_is_dead_with_its_error(jobs_db):
    with DatabaseManager.get_session():
        job_id = enqueue("test.fail", {}, max_attempts=3)
    worker = Worker(jobs_db)

    worker.run_pending()
    failed = job(jobs_db, job_id)
    assert failed.status is JobStatus.QUEUED and failed.attempts == 1
    assert "RuntimeError: boom on attempt 1" in failed.last_error
    assert failed.run_after > failed.updated_at  # pushed back
    assert effect_counts(jobs_db.engine) == {}  # the failed run's effects were rolled back

    deadline = time.monotonic() + 10
    while job(jobs_db, job_id).status is not JobStatus.DEAD and time.monotonic() < deadline:
        worker.run_pending()
        time.sleep(0.02)

    dead = job(jobs_db, job_id)
    assert dead.status is JobStatus.DEAD
    assert dead.attempts == 3
    assert "boom on attempt 3" in dead.last_error
    assert dead.finished_at is not None
    assert effect_counts(jobs_db.engine) == {}


def test_retry_delay_grows_exponentially_with_jitter_and_a_cap():
    delays = {
        attempt: [retry_delay(attempt, 1.0, 60.0) for _ in range(200)]
        for attempt in (1, 2, 3, 4, 8, 20)
    }
    for attempt, seen in delays.items():
        ceiling = min(60.0, 2.0 ** (attempt - 1))
        assert all(ceiling / 2 <= d <= ceiling for d in seen), attempt
        assert len(set(seen)) > 100  # jitter: workers that failed together retry apart
    assert max(delays[20]) <= 60.0


def test_a_lease_that_expires_mid_run_lets_another_worker_run_the_job_once(jobs_db):
    with DatabaseManager.get_session():
        job_id = enqueue("test.gated", {})

    first = threading.Thread(target=Worker(jobs_db, name="first").run_pending, args=(1,))
    first.start()
    assert handlers.AT_GATES[1].wait(30)
    time.sleep(handlers.SHORT_LEASE.total_seconds() + 0.3)  # the first run's lease expires

    # A second worker takes the job over (attempt 2) and waits at its own gate.
    second = threading.Thread(target=Worker(jobs_db, name="second").run_pending, args=(1,))
    second.start()
    assert handlers.AT_GATES[2].wait(30)

    # The first run now writes its effect and tries to complete while the second runs:
    # the job's lease is the second's, so the first is refused and rolled back.
    handlers.GATES[1].set()
    first.join(30)
    assert not first.is_alive()
    assert effect_counts(jobs_db.engine) == {}
    running = job(jobs_db, job_id)
    assert running.status is JobStatus.RUNNING and running.lease_owner.startswith("second")

    # The second run completes, with its effect.
    handlers.GATES[2].set()
    second.join(30)
    assert not second.is_alive()
    assert effect_counts(jobs_db.engine) == {job_id: 1}
    done = job(jobs_db, job_id)
    assert done.status is JobStatus.DONE and done.attempts == 2
    assert done.lease_owner.startswith("second")


@pytest.mark.parametrize("threads", [4])
def test_concurrent_workers_run_every_job_exactly_once(jobs_db, threads):
    with DatabaseManager.get_session():
        ids = [enqueue("test.effect", {"i": i}) for i in range(60)]
    workers = [Worker(jobs_db, name=f"w{i}") for i in range(threads)]
    counts: list[int] = []
    runners = [
        threading.Thread(target=lambda w=w: counts.append(w.run_pending())) for w in workers
    ]
    for runner in runners:
        runner.start()
    for runner in runners:
        runner.join(120)
    assert sum(counts) == 60
    assert effect_counts(jobs_db.engine) == dict.fromkeys(ids, 1)


def test_a_claim_skips_a_locked_job_instead_of_waiting(jobs_db):
    if jobs_db.settings.backend == "sqlite":
        pytest.skip("SQLite has no row locks: claims take turns on the write lock")
    with DatabaseManager.get_session():
        locked = enqueue("test.effect", {})
        free = enqueue("test.effect", {})
    with jobs_db.engine.connect() as connection, connection.begin():
        table = Job.__table__
        connection.execute(table.select().where(table.c.id == locked).with_for_update())
        claimed = []
        runner = threading.Thread(target=lambda: claimed.append(claim(jobs_db, "other")))
        runner.start()
        runner.join(20)  # a claim that waited for the lock would still be waiting
        assert not runner.is_alive()
        assert [job.id for job in claimed] == [free]


def test_a_scheduled_kind_is_enqueued_once_per_period_by_any_number_of_workers(jobs_db):
    schedule("test.effect", timedelta(hours=1))
    try:
        workers = [Worker(jobs_db, name=f"w{i}") for i in range(3)]
        for worker in workers:
            worker.start()
        wait = time.monotonic() + 10
        while time.monotonic() < wait and not effect_counts(jobs_db.engine):
            time.sleep(0.05)
        time.sleep(0.5)  # every worker's first loop has run
        for worker in workers:
            assert worker.stop(30)
    finally:
        SCHEDULE.pop("test.effect")
    with jobs_db.unit_of_work() as session:
        # Only this test's kind: the built-in handlers, once loaded, schedule their own.
        keys = [job.dedupe_key for job in session.query(Job).filter(Job.kind == "test.effect")]
    period = int(time.time() // 3600)
    assert keys in ([f"test.effect@{period}"], [f"test.effect@{period - 1}"])
    assert list(effect_counts(jobs_db.engine).values()) == [1]


def test_a_job_whose_lease_expired_on_its_last_attempt_is_dead(jobs_db):
    with DatabaseManager.get_session():
        job_id = enqueue("test.effect", {}, max_attempts=2)
    with jobs_db.unit_of_work() as session:  # as a worker killed on its second run leaves it
        row = session.get(Job, job_id)
        row.status, row.attempts = JobStatus.RUNNING, 2
        row.lease_owner, row.lease_expires_at = "gone#0/abc", utcnow() - timedelta(seconds=1)

    assert Worker(jobs_db).run_pending() == 0

    dead = job(jobs_db, job_id)
    assert dead.status is JobStatus.DEAD and dead.attempts == 2
    assert "lease expired 2 times" in dead.last_error
    assert effect_counts(jobs_db.engine) == {}


def test_a_kind_has_one_handler():
    def other(job):
        pass

    with pytest.raises(ValueError, match="'test.effect' already has the handler effect"):
        register("test.effect", other)


@pytest.mark.parametrize(
    ("is_mariadb", "version", "refused"),
    [
        (True, (10, 5, 22), True),
        (True, (10, 6, 0), False),
        (True, (11, 4, 2), False),
        (False, (5, 7, 44), True),
        (False, (8, 0, 36), False),
    ],
)
def test_a_server_without_skip_locked_is_refused_with_what_to_upgrade(
    is_mariadb, version, refused
):
    problem = skip_locked_problem(is_mariadb, version)
    if not refused:
        assert problem is None
    else:
        assert "SKIP LOCKED" in problem
        assert ("MariaDB 10.6" if is_mariadb else "MySQL 8.0") in problem


def test_the_worker_checks_the_server_at_start(jobs_db):
    worker = Worker(jobs_db)
    worker.start()  # the test servers are recent enough: no error
    assert worker.stop(30)


def test_on_mariadb_the_claim_runs_at_read_committed_in_few_round_trips(jobs_db):
    if not jobs_db.settings.is_mysql:
        pytest.skip("READ COMMITTED for the claim is MariaDB's (its REPEATABLE READ gap locks)")
    with DatabaseManager.get_session():
        enqueue("test.effect", {})
    levels, session_levels = [], []

    def after(conn, cursor, statement, parameters, context, executemany):
        if "FOR UPDATE SKIP LOCKED" in statement:
            probe = cursor.connection.cursor()
            probe.execute(
                "SELECT trx_isolation_level FROM information_schema.innodb_trx "
                "WHERE trx_mysql_thread_id = CONNECTION_ID()"
            )
            levels.append(probe.fetchone()[0])
            probe.execute(
                "SELECT VARIABLE_VALUE FROM information_schema.SESSION_VARIABLES "
                "WHERE VARIABLE_NAME IN ('TX_ISOLATION', 'TRANSACTION_ISOLATION')"
            )
            session_levels.extend(row[0] for row in probe.fetchall())
            probe.close()

    event.listen(jobs_db.engine, "after_cursor_execute", after)
    try:
        claimed = claim(jobs_db, "probe")
    finally:
        event.remove(jobs_db.engine, "after_cursor_execute", after)
    assert claimed is not None
    assert levels == ["READ COMMITTED"]
    # Only this transaction's level is set (SET TRANSACTION, one statement), not the
    # session's: setting and resetting that costs 4 round trips and a ping per claim.
    assert session_levels and set(session_levels) == {"REPEATABLE-READ"}


def test_on_mariadb_handlers_run_at_read_committed_like_on_postgresql(jobs_db):
    if not jobs_db.settings.is_mysql:
        pytest.skip("PostgreSQL runs at READ COMMITTED by default; SQLite is serializable")
    # A leased completion at REPEATABLE READ deadlocked (1213) once with 4 threads.
    handlers.LEVELS.clear()
    with DatabaseManager.get_session():
        enqueue("test.isolation", {})
        enqueue("test.isolation_inline", {})
    assert Worker(jobs_db).run_pending() == 2
    assert handlers.LEVELS == ["READ COMMITTED", "READ COMMITTED"]
