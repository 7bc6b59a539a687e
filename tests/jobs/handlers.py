"""Job handlers for the tests, registered on import (`studyhall-db worker --import
tests.jobs.handlers` loads them into a worker process).

Their effects go to a table of the tests' own, `job_effects`, in the handler's unit of work:
a row per run that committed, so "exactly once" is one row per job.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, func, insert, select, text

from studyhall.db.transaction import get_current_session
from studyhall.jobs import RunningJob, handler

metadata = MetaData()
effects = Table(
    "job_effects",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("job_id", Integer, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("pid", Integer, nullable=False),
    Column("note", String(50)),
)

# Opened by a test to let attempt N of a `test.gated` job go on.
GATES = {1: threading.Event(), 2: threading.Event()}
# Set when attempt N of a `test.gated` job is waiting at its gate.
AT_GATES = {1: threading.Event(), 2: threading.Event()}
SHORT_LEASE = timedelta(seconds=1)


def record_effect(job: RunningJob, note: str | None = None) -> None:
    get_current_session().execute(
        insert(effects).values(job_id=job.id, attempt=job.attempt, pid=os.getpid(), note=note)
    )


def effect_counts(engine: Engine) -> dict[int, int]:
    """Committed effects per job id."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(effects.c.job_id, func.count()).group_by(effects.c.job_id)
        )
        return {job_id: count for job_id, count in rows}


@handler("test.effect")
def effect(job: RunningJob) -> None:
    record_effect(job, note=(job.payload or {}).get("note"))


@handler("test.fail", retry_base=0.05, retry_cap=0.2)
def fail(job: RunningJob) -> None:
    record_effect(job)  # rolled back with the failure
    raise RuntimeError(f"boom on attempt {job.attempt}")


@handler("test.gated", lease=SHORT_LEASE)
def gated(job: RunningJob) -> None:
    """Attempts 1 and 2 wait at their gates before writing (past their leases)."""
    if job.attempt in GATES:
        AT_GATES[job.attempt].set()
        GATES[job.attempt].wait(30)
    record_effect(job)


@handler("test.hang", lease=SHORT_LEASE)
def hang(job: RunningJob) -> None:
    """Writes its effect, says so in the marker file, and on attempt 1 never ends."""
    record_effect(job)
    if job.attempt == 1:
        Path(job.payload["marker"]).write_text(str(os.getpid()))
        time.sleep(3600)


@handler("test.slow")
def slow(job: RunningJob) -> None:
    """Says it started (marker file), sleeps, then writes its effect."""
    Path(job.payload["marker"]).write_text("started")
    time.sleep(job.payload["seconds"])
    record_effect(job)


@handler("test.probe")
def probe(job: RunningJob) -> None:
    """Appends the job id and the wall-clock time it started to a file."""
    with open(job.payload["path"], "a") as file:
        file.write(f"{job.id} {time.time()}\n")


# Inline kinds: claimed, run and completed in one transaction (the row lock is the lease).
INLINE_GATE = threading.Event()
INLINE_AT_GATE = threading.Event()


@handler("test.inline_effect", inline=True)
def inline_effect(job: RunningJob) -> None:
    record_effect(job, note=(job.payload or {}).get("note"))


@handler("test.inline_fail", inline=True, retry_base=0.05, retry_cap=0.2)
def inline_fail(job: RunningJob) -> None:
    record_effect(job)  # rolled back with the failure, and the claim with it
    raise RuntimeError(f"inline boom on attempt {job.attempt}")


@handler("test.inline_gated", inline=True)
def inline_gated(job: RunningJob) -> None:
    """Writes its effect, then waits at INLINE_GATE before the transaction commits."""
    record_effect(job)
    INLINE_AT_GATE.set()
    INLINE_GATE.wait(30)


@handler("test.inline_hang", inline=True)
def inline_hang(job: RunningJob) -> None:
    """Writes its effect; the first run (no marker file yet) says so and never ends."""
    record_effect(job)
    marker = Path(job.payload["marker"])
    if not marker.exists():
        marker.write_text(str(os.getpid()))
        time.sleep(3600)


# The isolation level each run of `test.isolation*` saw (MariaDB / MySQL).
LEVELS: list[str] = []
_LEVEL = text(
    "SELECT trx_isolation_level FROM information_schema.innodb_trx "
    "WHERE trx_mysql_thread_id = CONNECTION_ID()"
)


def _record_level(job: RunningJob) -> None:
    record_effect(job)  # InnoDB lists the transaction once it has written
    LEVELS.append(get_current_session().execute(_LEVEL).scalar_one())


handler("test.isolation")(_record_level)
handler("test.isolation_inline", inline=True)(_record_level)
