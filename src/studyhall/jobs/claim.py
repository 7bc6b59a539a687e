"""Claiming a due job: a lease for one worker, taken in one short transaction.

PostgreSQL and MariaDB (10.6+) lock the row with `SELECT ... FOR UPDATE SKIP LOCKED`, so
workers claiming at once take different jobs instead of queueing behind one row. On
PostgreSQL (and SQLite) that SELECT is the subquery of one `UPDATE ... RETURNING`; MariaDB
has no UPDATE ... RETURNING, so it selects, then updates, at READ COMMITTED (under
REPEATABLE READ concurrent claims can deadlock through gap locks on the index). SQLite has
no row locks: a writable unit of work there begins with BEGIN IMMEDIATE, so claims take
turns on the write lock.

A job is due when it is queued and its `run_after` has come, or running with a lease that
expired (its worker died, or overran the lease). A claim increments `attempts` and writes
a new lease token; a due running job that used up its attempts is dead instead.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, and_, bindparam, case, or_, select, text, update
from sqlalchemy.orm import Session

from studyhall.db.engine import Database
from studyhall.errors import ConfigurationError
from studyhall.jobs.registry import HANDLERS, RunningJob
from studyhall.log import get_logger
from studyhall.models import Job, JobStatus
from studyhall.models.types import utcnow

log = get_logger(__name__)

_jobs = Job.metadata.tables[Job.__tablename__]

_DUE = (
    select(_jobs)
    .where(
        or_(
            and_(_jobs.c.status == JobStatus.QUEUED, _jobs.c.run_after <= bindparam("now")),
            and_(
                _jobs.c.status == JobStatus.RUNNING,
                _jobs.c.lease_expires_at <= bindparam("now"),
            ),
        ),
        _jobs.c.kind.in_(bindparam("kinds", expanding=True)),
    )
    .order_by(_jobs.c.run_after, _jobs.c.id)
    .limit(1)
    .with_for_update(skip_locked=True)
)

_READ_COMMITTED = text("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")

EXHAUSTED = (
    "Its lease expired {attempts} times without the job completing (a worker died or "
    "overran the lease each time)."
)


def claim(
    database: Database, owner: str, kinds: Collection[str] | None = None
) -> RunningJob | None:
    """Lease the next due job of `kinds` (default: every kind with a handler) to `owner`;
    None when none is due."""
    wanted = sorted(HANDLERS if kinds is None else set(kinds) & set(HANDLERS))
    if not wanted:
        return None
    take = _select_then_update if database.settings.is_mysql else _update_returning
    while True:
        with database.unit_of_work("requires_new") as session:
            now = utcnow()
            token = _lease_token(owner)
            row = take(session, now, wanted, token)
            if row is None:
                return None
            if row["attempts"] > row["max_attempts"]:
                _bury(session, row, now)
                continue
            return RunningJob(
                id=row["id"],
                kind=row["kind"],
                payload=row["payload"],
                attempt=row["attempts"],
                max_attempts=row["max_attempts"],
                key=row["dedupe_key"],
                lease_token=token,
            )


def _claimed_values(now: datetime, wanted: list[str], token: str) -> dict[str, Any]:
    # Each kind's lease; a CASE, so that one statement claims whatever kind comes first.
    expiry = case(*[(_jobs.c.kind == kind, now + HANDLERS[kind].lease) for kind in wanted])
    return {
        "status": JobStatus.RUNNING,
        "lease_owner": token,
        "lease_expires_at": expiry,
        "attempts": _jobs.c.attempts + 1,
        "updated_at": now,
    }


def _update_returning(
    session: Session, now: datetime, wanted: list[str], token: str
) -> RowMapping | None:
    """PostgreSQL, SQLite: one UPDATE ... WHERE id = (the due job, locked) RETURNING it."""
    due = _DUE.with_only_columns(_jobs.c.id).scalar_subquery()
    statement = (
        update(_jobs)
        .where(_jobs.c.id == due)
        .values(_claimed_values(now, wanted, token))
        .returning(*_jobs.c)
    )
    return session.execute(statement, {"now": now, "kinds": wanted}).mappings().first()


def _select_then_update(
    session: Session, now: datetime, wanted: list[str], token: str
) -> RowMapping | None:
    """MariaDB / MySQL (no UPDATE ... RETURNING, and no UPDATE of a table its own subquery
    reads): lock the due job at READ COMMITTED, then update it by id."""
    # This transaction only: `isolation_level=` would set the session's level and reset
    # it on return (a SET and a COMMIT each), and ping at checkout.
    session.execute(_READ_COMMITTED)
    row = session.execute(_DUE, {"now": now, "kinds": wanted}).mappings().first()
    if row is None:
        return None
    values = _claimed_values(now, [row["kind"]], token)
    values["lease_expires_at"] = now + HANDLERS[row["kind"]].lease
    values["attempts"] = row["attempts"] + 1
    session.execute(update(_jobs).where(_jobs.c.id == row["id"]).values(values))
    return {**row, **values}  # type: ignore[return-value]


def _bury(session: Session, row: RowMapping, now: datetime) -> None:
    """A due running job whose lease expired on its last attempt is dead, not run again."""
    runs = row["attempts"] - 1
    error = EXHAUSTED.format(attempts=runs)
    session.execute(
        update(_jobs)
        .where(_jobs.c.id == row["id"])
        .values(
            status=JobStatus.DEAD,
            attempts=runs,
            lease_expires_at=None,
            last_error=error,
            finished_at=now,
            updated_at=now,
        )
    )
    log.error("job %d %s dead: %s", row["id"], row["kind"], error)


def skip_locked_problem(is_mariadb: bool, version: tuple[int, ...]) -> str | None:
    """Why a MySQL-family server of `version` cannot run claims, or None when it can."""
    needed, name = ((10, 6), "MariaDB 10.6") if is_mariadb else ((8, 0), "MySQL 8.0")
    if tuple(version[:2]) >= needed:
        return None
    shown = ".".join(map(str, version))
    return (
        f"Workers claim jobs with SELECT ... FOR UPDATE SKIP LOCKED, which this server "
        f"({'MariaDB' if is_mariadb else 'MySQL'} {shown}) does not have: upgrade it to "
        f"{name} or later."
    )


def check_server(database: Database) -> None:
    """ConfigurationError when the server cannot run claims (MySQL-family too old)."""
    if not database.settings.is_mysql:
        return
    with database.engine.connect() as connection:
        dialect = connection.dialect
        version = tuple(p for p in dialect.server_version_info or () if isinstance(p, int))
        problem = skip_locked_problem(bool(getattr(dialect, "is_mariadb", False)), version)
    if problem is not None:
        raise ConfigurationError(problem)


def _lease_token(owner: str) -> str:
    # The owner names the worker (shown by the row); the random part makes each claim's
    # token unique, so a worker that claims the same job again is still told apart.
    return f"{owner[:80]}/{secrets.token_hex(6)}"


__all__ = ["check_server", "claim", "skip_locked_problem"]
