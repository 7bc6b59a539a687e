"""Chaos for the job queue: worker processes killed with -9 at random moments, restarted.

Enqueues N jobs whose handler writes one effect row in the job's unit of work, runs W
`studyhall-db worker` processes on them, kills a random one with SIGKILL K times (each
time at a random moment, so mid-claim, mid-handler or mid-COMMIT) and starts it again,
until every job is done. Then checks that every job's effect is present exactly once:
none lost, none duplicated, none dead. `--inline` runs an inline kind instead (claim,
handler and completion in one transaction; a killed run is rolled back by the server).

    python -m benchmarks.job_chaos --backend mariadb --jobs 10000 --workers 4 --kills 20

Exit status 1 when any violation is found.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Column, Integer, MetaData, Table, func, insert, select
from sqlalchemy.engine import URL, make_url

from benchmarks.common import MARIADB_URL, machine
from studyhall.config import DatabaseSettings
from studyhall.database import DatabaseManager
from studyhall.db.backends import drop_database, ensure_database
from studyhall.db.transaction import get_current_session
from studyhall.jobs import RunningJob, enqueue, handler
from studyhall.models import Job, JobStatus

POSTGRESQL_URL = os.environ.get(
    "STUDYHALL_BENCH_POSTGRESQL_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/"
)
REPO = Path(__file__).resolve().parents[1]
# What the workers import for the handler (not __name__, which is __main__ under -m).
MODULE = "benchmarks.job_chaos"
KIND = "chaos.effect"
KIND_INLINE = "chaos.effect_inline"
# Short, so that a killed worker's job is run again soon.
LEASE = timedelta(seconds=2)
BATCH = 1000
# Seconds a restarted worker gets to start (import, connect) before it may be killed again.
WARM_UP = 2.0

metadata = MetaData()
effects = Table(
    "chaos_effects",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("job_id", Integer, nullable=False),
    Column("pid", Integer, nullable=False),
)


def chaos_effect(job: RunningJob) -> None:
    """One effect row per run; only the run that completes the job commits it."""
    get_current_session().execute(insert(effects).values(job_id=job.id, pid=os.getpid()))
    pause = job.payload.get("sleep", 0)
    if pause:
        time.sleep(pause)  # widens the window in which a kill lands mid-transaction


handler(KIND, lease=LEASE, retry_base=0.1, retry_cap=1.0)(chaos_effect)
handler(KIND_INLINE, inline=True, retry_base=0.1, retry_cap=1.0)(chaos_effect)


def settings_for(backend: str, folder: Path) -> DatabaseSettings:
    name = f"studyhall_chaos_{uuid.uuid4().hex[:10]}"
    if backend == "sqlite":
        url = URL.create("sqlite+pysqlite", database=str(folder / f"{name}.sqlite3"))
    else:
        url = make_url(MARIADB_URL if backend == "mariadb" else POSTGRESQL_URL)
        url = url.set(database=name)
    return DatabaseSettings(url=url, source="DATABASE_URL")


def start_worker(settings: DatabaseSettings, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": settings.url.render_as_string(hide_password=False),
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        "LOG_LEVEL": "WARNING",
    }
    with open(log, "ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "studyhall.cli", "worker", "--import", MODULE],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=output,
        )


def counts(kind: str) -> dict[str, int]:
    """This run's jobs by status (workers may enqueue scheduled jobs of other kinds)."""
    with DatabaseManager.get_session(read_only=True) as session:
        rows = session.execute(
            select(Job.status, func.count()).where(Job.kind == kind).group_by(Job.status)
        )
        return {str(status): count for status, count in rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--backend", choices=("sqlite", "mariadb", "postgresql"), default="mariadb"
    )
    parser.add_argument("--jobs", type=int, default=10_000, help="jobs (default 10,000)")
    parser.add_argument("--workers", type=int, default=4, help="worker processes (default 4)")
    parser.add_argument("--kills", type=int, default=20, help="kill -9 + restarts (default 20)")
    parser.add_argument(
        "--sleep",
        type=float,
        default=0.002,
        help="seconds each run holds its transaction open (default 0.002)",
    )
    parser.add_argument("--timeout", type=float, default=900, help="seconds (default 900)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: time)")
    parser.add_argument("--inline", action="store_true", help="an inline kind, not a leased one")
    args = parser.parse_args(argv)
    kind = KIND_INLINE if args.inline else KIND
    seed = args.seed if args.seed is not None else int(time.time())
    chance = random.Random(seed)
    print(
        f"job chaos on {args.backend}: {args.jobs:,} {kind} jobs, {args.workers} workers, "
        f"{args.kills} kills, seed {seed}"
    )
    print(machine())

    folder = Path(tempfile.mkdtemp(prefix="studyhall-chaos-"))
    settings = settings_for(args.backend, folder)
    ensure_database(settings)
    workers: list[subprocess.Popen[bytes]] = []
    try:
        database = DatabaseManager.initialize(settings)
        DatabaseManager.create_tables()
        metadata.create_all(database.engine)
        for start in range(0, args.jobs, BATCH):
            with DatabaseManager.get_session():
                for _ in range(start, min(args.jobs, start + BATCH)):
                    enqueue(kind, {"sleep": args.sleep})

        started = time.monotonic()
        logs = [folder / f"worker-{i}.log" for i in range(args.workers)]
        workers = [start_worker(settings, log) for log in logs]
        up_since = [time.monotonic()] * len(workers)
        # Marks in the first three quarters of the run: a kill still finds jobs to cut into,
        # and a mark near the end cannot be passed over by the last jobs finishing at once.
        span = range(1, max(2, args.jobs * 3 // 4))
        marks = sorted(chance.sample(span, min(args.kills, len(span))))
        kills = 0
        deadline = started + args.timeout
        while time.monotonic() < deadline:
            status = counts(kind)
            done = status.get(JobStatus.DONE, 0)
            if done + status.get(JobStatus.DEAD, 0) >= args.jobs:
                break
            # Kills are spread over the run (each when the done count passes a random mark)
            # and land on workers at work (up for a while, so not still starting).
            ready = [i for i, t in enumerate(up_since) if time.monotonic() - t > WARM_UP]
            if kills < len(marks) and done >= marks[kills] and ready:
                time.sleep(chance.uniform(0, 0.2))
                victim = chance.choice(ready)
                workers[victim].send_signal(signal.SIGKILL)
                workers[victim].wait(30)
                kills += 1
                print(
                    f"kill -9 #{kills} at {time.monotonic() - started:.2f} s "
                    f"(worker {victim}, {done:,} of {args.jobs:,} done); restarted"
                )
                workers[victim] = start_worker(settings, logs[victim])
                up_since[victim] = time.monotonic()
            else:
                time.sleep(0.2)
        elapsed = time.monotonic() - started
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            worker.wait(60)
        return report(kind, args.jobs, kills, elapsed, counts(kind))
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait(30)
        DatabaseManager.cleanup()
        drop_database(settings)


def report(kind: str, total: int, kills: int, elapsed: float, status: dict[str, int]) -> int:
    """Print what happened and the violations; the exit status."""
    ours = Job.kind == kind
    with DatabaseManager.get_session(read_only=True) as session:
        per_job = (
            select(effects.c.job_id, func.count().label("n")).group_by(effects.c.job_id).subquery()
        )
        duplicated = session.scalar(select(func.count()).where(per_job.c.n > 1)) or 0
        done_ids = select(Job.id).where(ours, Job.status == JobStatus.DONE)
        lost = session.scalar(
            select(func.count())
            .select_from(Job)
            .where(ours, Job.status == JobStatus.DONE, Job.id.not_in(select(per_job.c.job_id)))
        )
        orphans = session.scalar(
            select(func.count()).select_from(per_job).where(per_job.c.job_id.not_in(done_ids))
        )
        unfinished = session.scalar(
            select(func.count()).select_from(Job).where(ours, Job.status != JobStatus.DONE)
        )
        rerun = session.scalar(select(func.count()).select_from(Job).where(ours, Job.attempts > 1))
    done = status.get(JobStatus.DONE, 0)
    print(
        f"done {done:,} of {total:,} in {elapsed:.1f} s ({done / elapsed:,.0f} jobs/s) after "
        f"{kills} kills; {rerun} jobs ran more than once (a run killed, or its lease overrun"
        + (
            "; an inline run killed is rolled back with its attempt, so not counted)"
            if kind == KIND_INLINE
            else ")"
        )
    )
    print(f"statuses: {dict(sorted(status.items()))}")
    print(
        f"lost (done without effect): {lost}; duplicated effects: {duplicated}; "
        f"effects of jobs not done: {orphans}; not done: {unfinished}"
    )
    violations = (lost or 0) + duplicated + (orphans or 0) + (unfinished or 0)
    if done + (unfinished or 0) != total:
        violations += 1
        print(f"jobs of this run in the table: {done + (unfinished or 0)}, enqueued {total}")
    print(f"violations: {violations}")
    return 0 if violations == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
