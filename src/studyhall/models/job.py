"""Background jobs: one row per unit of work to do later, claimed by workers with a lease.

A job is `queued` until its `run_after`; a worker claims it (`running`), holding a lease
(`lease_owner`, a token new at every claim, until `lease_expires_at`); the handler's
unit of work marks it `done` only while that token is still the job's, so a run whose
lease was taken over cannot complete. A failed run puts it back to `queued` later, and
after `max_attempts` runs it is `dead`, its `last_error` kept. `dedupe_key` is unique:
enqueueing a key that exists adds nothing.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Index, Integer, String, Text
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import Mapped, mapped_column

from studyhall.models.base import Base
from studyhall.models.types import StrEnumType, utcnow

KIND_LENGTH = 100
KEY_LENGTH = 200
LEASE_OWNER_LENGTH = 100
DEFAULT_MAX_ATTEMPTS = 5

# Microseconds on MySQL/MariaDB too (their DATETIME keeps whole seconds by default): run
# times, leases and retries are often shorter than a second.
# SQLAlchemy 2.0 types mysql.DATETIME's constructor as untyped; 2.1 types it.
_DATETIME_FSP6 = mysql.DATETIME(fsp=6)  # type: ignore[no-untyped-call, unused-ignore]
Timestamp = DateTime().with_variant(_DATETIME_FSP6, "mysql", "mariadb")
# SQLite makes only an INTEGER PRIMARY KEY its auto-incrementing row id.
JobId = BigInteger().with_variant(Integer(), "sqlite")


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    DEAD = "dead"


class Job(Base):
    """A background job of `kind` with a JSON `payload` (see the module's docstring)."""

    __tablename__ = "jobs"
    __repr_fields__ = ("kind", "status", "attempts")
    __table_args__ = (
        # The claim: due queued jobs in run_after order, and running ones whose lease ended.
        Index("ix_jobs_status_run_after", "status", "run_after"),
    )

    id: Mapped[int] = mapped_column(JobId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(KIND_LENGTH))
    payload: Mapped[Any] = mapped_column(JSON, nullable=True)
    status: Mapped[JobStatus] = mapped_column(StrEnumType(JobStatus), default=JobStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=DEFAULT_MAX_ATTEMPTS)
    run_after: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(LEASE_OWNER_LENGTH))
    lease_expires_at: Mapped[datetime | None] = mapped_column(Timestamp)
    last_error: Mapped[str | None] = mapped_column(Text)
    dedupe_key: Mapped[str | None] = mapped_column(String(KEY_LENGTH), index=True, unique=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(Timestamp)


__all__ = [
    "DEFAULT_MAX_ATTEMPTS",
    "KEY_LENGTH",
    "KIND_LENGTH",
    "Job",
    "JobStatus",
]
