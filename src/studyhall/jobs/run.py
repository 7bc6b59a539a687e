"""Running one claimed job: the handler and the job's completion in one unit of work.

`run_next` claims the next due job and runs it: an inline kind in the claim's own
transaction (the claim already wrote `done`; the row lock is the lease), a leased kind in
a unit of its own after the claim committed (`run_job`). On MariaDB / MySQL both run at
READ COMMITTED, as on PostgreSQL (a completion at REPEATABLE READ could deadlock with
other workers through the index's gap locks).

A leased run's completion is fenced by the lease token: `UPDATE jobs SET status='done'
... WHERE id = ? AND lease_owner = <this run's token> AND status = 'running'`. When the
lease expired and another worker claimed the job meanwhile, the token is no longer the
job's, nothing is updated, and the run's unit of work is rolled back with its effects
(LeaseLostError): only one run's effects ever commit. A failure is recorded in a unit of
its own, fenced the same way: the job is queued again after a backoff, or dead after its
last attempt. An inline run's failure rolled its claim back with it, so its record is
fenced by the attempt count the claim had seen: when another worker claimed the job in
between, the count moved on and nothing is written over that run.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Collection
from datetime import timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Update, update
from sqlalchemy.orm import Session

from studyhall.db.engine import Database
from studyhall.errors import LeaseLostError
from studyhall.jobs.claim import claim_in, read_committed, wanted_kinds
from studyhall.jobs.registry import HANDLERS, Handler, RunningJob
from studyhall.jobs.retry import retry_delay
from studyhall.log import get_logger
from studyhall.models import Job, JobStatus
from studyhall.models.types import utcnow

log = get_logger(__name__)

_jobs = Job.metadata.tables[Job.__tablename__]
# What is kept of a failure's traceback: its end, where the error is.
ERROR_LENGTH = 4000


class Outcome(StrEnum):
    DONE = "done"
    RETRY = "retry"
    DEAD = "dead"
    LOST = "lost"  # the lease passed to another worker: this run's effects were undone


def run_next(
    database: Database, owner: str, kinds: Collection[str] | None = None
) -> Outcome | None:
    """Claim the next due job of `kinds` (default: every kind with a handler) for `owner`
    and run it; how it ended, or None when none was due."""
    wanted = wanted_kinds(kinds)
    if not wanted:
        return None
    inline: RunningJob | None = None
    started = 0.0
    try:
        with database.unit_of_work("requires_new") as session:
            job = claim_in(session, database, owner, wanted)
            if job is None:
                return None
            handler = HANDLERS[job.kind]
            if handler.inline:
                inline, started = job, time.perf_counter()
                handler.function(job)
    except Exception as exc:
        if inline is None:  # the claim failed: nothing ran
            raise
        took = time.perf_counter() - started
        return record_failure(database, inline, HANDLERS[inline.kind], exc, took)
    if inline is None:
        return run_job(database, job, handler)
    _log_done(job, started)
    return Outcome.DONE


def run_job(database: Database, job: RunningJob, handler: Handler) -> Outcome:
    """Run `handler` on the claimed (leased) `job` and record how it ended."""
    started = time.perf_counter()
    try:
        with database.unit_of_work("requires_new") as session:
            if database.settings.is_mysql:
                read_committed(session)
            handler.function(job)
            _complete(session, job)
    except LeaseLostError:
        log.warning(
            "job %d %s attempt %d: its lease passed to another worker before it completed; "
            "this run was rolled back",
            job.id,
            job.kind,
            job.attempt,
        )
        return Outcome.LOST
    except Exception as exc:
        return record_failure(database, job, handler, exc, time.perf_counter() - started)
    _log_done(job, started)
    return Outcome.DONE


def _log_done(job: RunningJob, started: float) -> None:
    log.info(
        "job %d %s done in %.1f ms (attempt %d)",
        job.id,
        job.kind,
        (time.perf_counter() - started) * 1000,
        job.attempt,
    )


def _fenced(job: RunningJob) -> Update:
    return update(_jobs).where(
        _jobs.c.id == job.id,
        _jobs.c.lease_owner == job.lease_token,
        _jobs.c.status == JobStatus.RUNNING,
    )


def _complete(session: Session, job: RunningJob) -> None:
    now = utcnow()
    result = session.execute(
        _fenced(job).values(
            status=JobStatus.DONE, lease_expires_at=None, finished_at=now, updated_at=now
        )
    )
    if result.rowcount != 1:  # type: ignore[attr-defined, unused-ignore]
        raise LeaseLostError(
            f"Job {job.id} was claimed by another worker after this run's lease expired; "
            "this run is rolled back. Give its kind a longer lease if its runs take longer."
        )


def _fenced_inline(job: RunningJob) -> Update:
    """An inline run's claim was rolled back with it: the row is as the claim found it
    (`attempts` one less), unless another worker claimed it since."""
    return update(_jobs).where(
        _jobs.c.id == job.id,
        _jobs.c.attempts == job.attempt - 1,
        _jobs.c.status.in_((JobStatus.QUEUED, JobStatus.RUNNING)),
    )


def record_failure(
    database: Database, job: RunningJob, handler: Handler, exc: Exception, took: float = 0.0
) -> Outcome:
    """Record that `job`'s run raised `exc`: queued again after a backoff, or dead after
    its last attempt; LOST (nothing written) when the job has moved on meanwhile."""
    error = "".join(traceback.format_exception(exc))[-ERROR_LENGTH:]
    now = utcnow()
    if job.attempt >= job.max_attempts:
        outcome = Outcome.DEAD
        values: dict[str, Any] = {"status": JobStatus.DEAD, "finished_at": now}
        delay = 0.0
    else:
        outcome = Outcome.RETRY
        delay = retry_delay(job.attempt, handler.retry_base, handler.retry_cap)
        values = {"status": JobStatus.QUEUED, "run_after": now + timedelta(seconds=delay)}
    fenced = _fenced(job)
    if handler.inline:
        fenced = _fenced_inline(job)
        values.update(attempts=job.attempt, lease_owner=job.lease_token)
    with database.unit_of_work("requires_new") as session:
        if database.settings.is_mysql:
            read_committed(session)
        result = session.execute(
            fenced.values(lease_expires_at=None, last_error=error, updated_at=now, **values)
        )
        recorded = result.rowcount == 1  # type: ignore[attr-defined, unused-ignore]
    summary = f"{type(exc).__name__}: {exc}"
    if not recorded:
        log.warning(
            "job %d %s attempt %d failed (%s), but its lease had passed to another worker",
            job.id,
            job.kind,
            job.attempt,
            summary,
        )
        return Outcome.LOST
    if outcome is Outcome.DEAD:
        log.error("job %d %s dead after %d attempts: %s", job.id, job.kind, job.attempt, summary)
    else:
        log.warning(
            "job %d %s failed in %.1f ms (attempt %d of %d), retry in %.2f s: %s",
            job.id,
            job.kind,
            took * 1000,
            job.attempt,
            job.max_attempts,
            delay,
            summary,
        )
    return outcome


__all__ = ["Outcome", "record_failure", "run_job", "run_next"]
