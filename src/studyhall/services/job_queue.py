"""`enqueue`, `enqueue_many`: add background jobs in the caller's unit of work (an outbox).

The job is a row written in the same transaction as the caller's other changes, so it
exists if and only if that unit of work commits: no job for work that was rolled back,
no work committed without its job. The COMMIT wakes workers: this process's through
`DOORBELL` (an `on_commit` callback), other processes' on PostgreSQL through a
notification on `studyhall_jobs`, which the server delivers at COMMIT (one per
transaction however many jobs) and drops on a rollback. The INSERT sends it itself
(`pg_notify` in its RETURNING), so waking costs no round trip of its own. Elsewhere
workers in other processes find the job at their next poll.

The workers, their handlers and the claim are `studyhall.jobs`, a layer above: services
enqueue by kind and never import a handler.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Insert, func, insert, literal
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.orm import Session

from studyhall.db.decorators import with_db_session
from studyhall.db.transaction import get_current_session, on_commit
from studyhall.models import Job, JobStatus
from studyhall.models.job import DEFAULT_MAX_ATTEMPTS, KEY_LENGTH, KIND_LENGTH
from studyhall.models.types import utcnow

# The PostgreSQL channel that wakes workers in other processes.
CHANNEL = "studyhall_jobs"

_jobs = Job.metadata.tables[Job.__tablename__]
# In the RETURNING of PostgreSQL's INSERTs: notifies the channel for each row inserted
# (none on a key conflict); the server folds a transaction's identical notifications.
_NOTIFY = func.pg_notify(literal(CHANNEL), literal(""))
# session.info: the (sub)transaction whose commit wakes the workers already.
WOKEN = "studyhall.jobs.woken"


class Doorbell:
    """Wakes this process's idle workers without polling: a generation counter.

    A worker reads `generation` before it looks for work and, finding none, waits for it
    to change: a ring between the look and the wait is not lost.
    """

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self.generation = 0

    def ring(self) -> None:
        """Wake every waiting worker."""
        with self._condition:
            self.generation += 1
            self._condition.notify_all()

    def wait(self, seen: int, timeout: float) -> bool:
        """Wait until the generation is no longer `seen`, or `timeout` seconds; True if rung."""
        with self._condition:
            return self._condition.wait_for(lambda: self.generation != seen, timeout)


DOORBELL = Doorbell()


@with_db_session
def enqueue(
    kind: str,
    payload: Any = None,
    *,
    key: str | None = None,
    run_after: datetime | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> int | None:
    """Add a job of `kind` with a JSON-serializable `payload`; its id, or None when a job
    with `key` exists already (then nothing is added and the unit of work goes on).

    Joins the active unit of work, else opens one. `run_after` (naive UTC) delays it;
    `max_attempts` bounds its runs before it is dead.
    """
    _check(kind, max_attempts)
    if key is not None and not 0 < len(key) <= KEY_LENGTH:
        raise ValueError(f"A job key is 1 to {KEY_LENGTH} characters; it was {key!r}.")
    session = get_current_session()
    values = _row(kind, payload, run_after, max_attempts, utcnow())
    values["dedupe_key"] = key
    job_id = _insert(session, session.get_bind().dialect.name, values)
    if job_id is None:
        return None
    _wake_at_commit(session)
    return job_id


@with_db_session
def enqueue_many(
    kind: str,
    payloads: Iterable[Any],
    *,
    run_after: datetime | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> list[int]:
    """Add one job of `kind` per JSON-serializable payload, with multi-row INSERTs (one
    statement per 1,000 jobs or so, where `enqueue` sends one per job); their ids, in the
    payloads' order. Joins the active unit of work like `enqueue`, and wakes the workers
    once at its commit. No keys: deduplicate with `enqueue(key=...)`.
    """
    _check(kind, max_attempts)
    now = utcnow()
    rows = [_row(kind, payload, run_after, max_attempts, now) for payload in payloads]
    if not rows:
        return []
    session = get_current_session()
    dialect = session.get_bind().dialect.name
    # SQLAlchemy keeps RETURNING in the parameters' order by batch on PostgreSQL and
    # MariaDB; on SQLite it would insert row by row for that. There the rows of one INSERT
    # take increasing row ids in VALUES order (the write lock is held), so sorting does.
    in_order = dialect != "sqlite"
    returned = [_jobs.c.id, *([_NOTIFY] if dialect == "postgresql" else [])]
    statement = insert(_jobs).returning(*returned, sort_by_parameter_order=in_order)
    ids = [int(job_id) for job_id in session.scalars(statement, rows)]
    _wake_at_commit(session)
    return ids if in_order else sorted(ids)


def _check(kind: str, max_attempts: int) -> None:
    if not kind or len(kind) > KIND_LENGTH:
        raise ValueError(f"A job kind is 1 to {KIND_LENGTH} characters; it was {kind!r}.")
    if max_attempts < 1:
        raise ValueError(f"max_attempts must be at least 1; it was {max_attempts}.")


def _row(
    kind: str, payload: Any, run_after: datetime | None, max_attempts: int, now: datetime
) -> dict[str, Any]:
    return {
        "kind": kind,
        "payload": payload,
        "status": JobStatus.QUEUED,
        "attempts": 0,
        "max_attempts": max_attempts,
        "run_after": run_after or now,
        "dedupe_key": None,
        "created_at": now,
        "updated_at": now,
    }


def _wake_at_commit(session: Session) -> None:
    """Ring this process's workers once the unit commits: once per (sub)transaction,
    however many jobs (other processes' are notified by the INSERT).

    The on_commit callback goes with a savepoint that rolls back (as the notification
    does), so the mark is the innermost transaction: a later job outside it rings again.
    """
    transaction = session.get_nested_transaction() or session.get_transaction()
    if transaction is not None and session.info.get(WOKEN) is transaction:
        return
    on_commit(DOORBELL.ring, session)
    session.info[WOKEN] = session.get_nested_transaction() or session.get_transaction()


def _insert(session: Session, dialect: str, values: dict[str, Any]) -> int | None:
    """INSERT the row; with a key, one that adds nothing (and fails nothing) on a conflict."""
    if dialect == "postgresql":
        plain = postgresql.insert(_jobs)
        statement: Insert = (
            plain if values["dedupe_key"] is None else plain.on_conflict_do_nothing()
        )
        new_id = session.execute(statement.returning(_jobs.c.id, _NOTIFY), values).scalar()
        return None if new_id is None else int(new_id)
    if values["dedupe_key"] is None:
        result = session.execute(insert(_jobs), values)
        return int(result.inserted_primary_key[0])  # type: ignore[attr-defined, unused-ignore]
    if dialect in ("mysql", "mariadb"):
        # No RETURNING for a conflict here; the row id is 0 when nothing was inserted.
        upsert = mysql.insert(_jobs).values(values).on_duplicate_key_update(id=_jobs.c.id)
        inserted = session.execute(upsert).lastrowid  # type: ignore[attr-defined, unused-ignore]
        return int(inserted) if inserted else None
    statement = sqlite.insert(_jobs).values(values).on_conflict_do_nothing()
    new_id = session.execute(statement.returning(_jobs.c.id)).scalar_one_or_none()
    return None if new_id is None else int(new_id)


__all__ = ["CHANNEL", "DOORBELL", "Doorbell", "enqueue", "enqueue_many"]
