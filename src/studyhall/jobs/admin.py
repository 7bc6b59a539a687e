"""What operators ask of the queue: counts by kind and status, and dead jobs run again."""

from __future__ import annotations

from sqlalchemy import func, select, update

from studyhall.db.decorators import with_db_session
from studyhall.db.transaction import get_current_session
from studyhall.models import Job, JobStatus
from studyhall.models.types import utcnow

_jobs = Job.metadata.tables[Job.__tablename__]


@with_db_session(read_only=True)
def job_counts() -> dict[tuple[str, JobStatus], int]:
    """Jobs per (kind, status); pairs without jobs are left out."""
    rows = get_current_session().execute(
        select(_jobs.c.kind, _jobs.c.status, func.count()).group_by(_jobs.c.kind, _jobs.c.status)
    )
    return {(kind, JobStatus(status)): count for kind, status, count in rows}


@with_db_session
def retry_dead(kind: str | None = None) -> int:
    """Queue every dead job (of `kind`) again with its attempts reset; how many.

    Their last error stays, for the record, until a run ends differently.
    """
    now = utcnow()
    statement = (
        update(_jobs)
        .where(_jobs.c.status == JobStatus.DEAD)
        .values(
            status=JobStatus.QUEUED,
            attempts=0,
            run_after=now,
            lease_owner=None,
            lease_expires_at=None,
            finished_at=None,
            updated_at=now,
        )
    )
    if kind is not None:
        statement = statement.where(_jobs.c.kind == kind)
    result = get_current_session().execute(statement)
    return int(result.rowcount)  # type: ignore[attr-defined, unused-ignore]


__all__ = ["job_counts", "retry_dead"]
