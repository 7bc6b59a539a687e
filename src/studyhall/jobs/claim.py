"""Claiming a due job: a lease for one worker, or for an inline kind the open transaction.

PostgreSQL and MariaDB (10.6+) lock the row with `SELECT ... FOR UPDATE SKIP LOCKED`, so
workers claiming at once take different jobs instead of queueing behind one row. On
PostgreSQL (and SQLite) that SELECT is the subquery of one `UPDATE ... RETURNING`; MariaDB
has no UPDATE ... RETURNING, so it selects, then updates, at READ COMMITTED (under
REPEATABLE READ concurrent claims can deadlock through gap locks on the index). SQLite has
no row locks: a writable unit of work there begins with BEGIN IMMEDIATE, so claims take
turns on the write lock.

A job is due when it is queued and its `run_after` has come, or running with a lease that
expired (its worker died, or overran the lease). A claim increments `attempts` and writes
a new token; a due running job that used up its attempts is dead instead. A leased kind's
claim writes `running` with the lease's expiry and commits; an inline kind's claim writes
`done` in the same statement and does not commit: its handler runs in that transaction
(`run.run_next`), so the completion commits with the handler's effects, or the claim
rolls back with them.

The claim statements are built once per set of kinds and take the time, the token and
the leases' expiries as parameters.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Iterable
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    RowMapping,
    Update,
    and_,
    bindparam,
    case,
    literal,
    null,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from studyhall.db.engine import Database
from studyhall.errors import ConfigurationError
from studyhall.jobs.registry import HANDLERS, RunningJob
from studyhall.log import get_logger
from studyhall.models import Job, JobStatus
from studyhall.models.types import utcnow

log = get_logger(__name__)

_jobs = Job.metadata.tables[Job.__tablename__]
_TIMESTAMP = _jobs.c.lease_expires_at.type

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


def wanted_kinds(kinds: Collection[str] | None, *, inline: bool = True) -> tuple[str, ...]:
    """The kinds of `kinds` (default: every kind) that have a handler, sorted; without the
    inline ones when not `inline`."""
    wanted = HANDLERS if kinds is None else set(kinds) & set(HANDLERS)
    return tuple(sorted(k for k in wanted if inline or not HANDLERS[k].inline))


def claim(
    database: Database, owner: str, kinds: Collection[str] | None = None
) -> RunningJob | None:
    """Lease the next due job of the leased kinds of `kinds` (default: every leased kind)
    to `owner` and commit; None when none is due. Inline kinds are claimed only by
    `run.run_next`, which runs them in the claim's transaction."""
    wanted = wanted_kinds(kinds, inline=False)
    if not wanted:
        return None
    with database.unit_of_work("requires_new") as session:
        return claim_in(session, database, owner, wanted)


def claim_in(
    session: Session, database: Database, owner: str, wanted: tuple[str, ...]
) -> RunningJob | None:
    """Claim the next due job of `wanted` (a `wanted_kinds` tuple) in `session`'s
    transaction, which must not have run a statement yet; None when none is due."""
    if database.settings.is_mysql:
        read_committed(session)
        take = _select_then_update
    else:
        take = _update_returning
    while True:
        now = utcnow()
        token = _lease_token(owner)
        row = take(session, now, wanted, token)
        if row is None:
            return None
        if row["attempts"] > row["max_attempts"]:
            # Commits with the claim that follows in this transaction; if that is an
            # inline run that fails, both roll back and the next claim buries it again.
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


def read_committed(session: Session) -> None:
    """MariaDB / MySQL: run this transaction (not the session) at READ COMMITTED; the
    first statement of the transaction. Setting the session's level instead would cost a
    SET and a reset per unit, and a ping at checkout."""
    session.execute(_READ_COMMITTED)


def _parameters(now: datetime, wanted: Iterable[str], token: str) -> dict[str, Any]:
    parameters: dict[str, Any] = {"now": now, "kinds": list(wanted), "token": token}
    for index, kind in enumerate(wanted):
        parameters[f"expires_{index}"] = now + HANDLERS[kind].lease
    return parameters


@lru_cache(maxsize=64)
def _claim_statement(wanted: tuple[str, ...], inline: tuple[str, ...]) -> Update:
    """PostgreSQL, SQLite: one UPDATE ... WHERE id = (the due job, locked) RETURNING it.

    CASEs on the kind, so that one statement claims whatever kind comes first: a leased
    kind becomes running until its lease's expiry (`expires_<index in wanted>`), an
    inline kind (of `inline`) done: its transaction stays open while its handler runs."""
    status: Any = literal(JobStatus.RUNNING, _jobs.c.status.type)
    finished: Any = null()
    if inline:
        is_inline = _jobs.c.kind.in_(inline)
        status = case((is_inline, literal(JobStatus.DONE, _jobs.c.status.type)), else_=status)
        finished = case((is_inline, bindparam("now", type_=_TIMESTAMP)), else_=null())
    leased = [
        (_jobs.c.kind == kind, bindparam(f"expires_{index}", type_=_TIMESTAMP))
        for index, kind in enumerate(wanted)
        if kind not in inline
    ]
    due = _DUE.with_only_columns(_jobs.c.id).scalar_subquery()
    return (
        update(_jobs)
        .where(_jobs.c.id == due)
        .values(
            status=status,
            lease_owner=bindparam("token"),
            lease_expires_at=case(*leased, else_=null()) if leased else null(),
            attempts=_jobs.c.attempts + 1,
            finished_at=finished,
            updated_at=bindparam("now", type_=_TIMESTAMP),
        )
        .returning(*_jobs.c)
    )


def _update_returning(
    session: Session, now: datetime, wanted: tuple[str, ...], token: str
) -> RowMapping | None:
    statement = _claim_statement(wanted, tuple(k for k in wanted if HANDLERS[k].inline))
    return session.execute(statement, _parameters(now, wanted, token)).mappings().first()


_CLAIM_BY_ID = (
    update(_jobs)
    .where(_jobs.c.id == bindparam("job_id"))
    .values(
        status=bindparam("status"),
        lease_owner=bindparam("token"),
        lease_expires_at=bindparam("expires"),
        attempts=bindparam("attempts"),
        finished_at=bindparam("finished"),
        updated_at=bindparam("now"),
    )
)


def _select_then_update(
    session: Session, now: datetime, wanted: tuple[str, ...], token: str
) -> RowMapping | None:
    """MariaDB / MySQL (no UPDATE ... RETURNING, and no UPDATE of a table its own subquery
    reads): lock the due job (at READ COMMITTED, set by the caller), then update it by id."""
    row = session.execute(_DUE, {"now": now, "kinds": list(wanted)}).mappings().first()
    if row is None:
        return None
    inline = HANDLERS[row["kind"]].inline
    values = {
        "status": JobStatus.DONE if inline else JobStatus.RUNNING,
        "lease_owner": token,
        "lease_expires_at": None if inline else now + HANDLERS[row["kind"]].lease,
        "attempts": row["attempts"] + 1,
        "finished_at": now if inline else None,
        "updated_at": now,
    }
    session.execute(
        _CLAIM_BY_ID,
        {
            "job_id": row["id"],
            "status": values["status"],
            "token": token,
            "expires": values["lease_expires_at"],
            "attempts": values["attempts"],
            "finished": values["finished_at"],
            "now": now,
        },
    )
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


__all__ = [
    "check_server",
    "claim",
    "claim_in",
    "read_committed",
    "skip_locked_problem",
    "wanted_kinds",
]
