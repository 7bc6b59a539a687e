"""Job queue throughput and wake-up: studyhall's workers, procrastinate, a bare SKIP LOCKED loop.

Per backend (MariaDB, PostgreSQL), in a throwaway database:

- studyhall: one `studyhall-db worker --threads C` process (C = 1, then 4), started and
  idle; the benchmark enqueues N no-op jobs (`enqueue_many` of 500 jobs per unit of work,
  one call per batch as procrastinate's `batch_defer` on the other side) and waits until
  all are done: jobs/s enqueue-to-done. Twice: with an inline no-op kind (claim, handler
  and completion in one transaction: the mode for short jobs) and with a leased one (the
  claim commits, then the handler's unit completes it). With C = 1, the wake-up of an
  idle worker: one (inline) job enqueued with `enqueue` after 0.6 s without work, from
  just before the enqueue to the start of its handler (median of --wakeups).
- procrastinate (PostgreSQL only), the peer, in the same run: the same N no-op jobs
  (`batch_defer` in batches of 500, an async no-op task), one `procrastinate worker`
  process with concurrency C, and the same wake-up measure with one `defer`
  (`benchmarks/jobs_procrastinate.py`).
  It runs in an environment of its own, never studyhall's: `--procrastinate-python PATH`,
  or else a venv made under /tmp with `pip install procrastinate` (a network install,
  which is why this benchmark is not in `make bench`'s default list). When that fails the
  reason is printed and the rest runs.
- bare: N rows claimed by C threads with `SELECT ... FOR UPDATE SKIP LOCKED LIMIT 1` and
  an UPDATE to done, one transaction per row (READ COMMITTED on MariaDB), nothing else:
  the ceiling for a queue with one claim per transaction.

    python -m benchmarks.jobs                      # 5,000 jobs
    python -m benchmarks.jobs --jobs 1000 --backend postgresql

Prints ratios studyhall / procrastinate at the same concurrency (targets: >= 1.0x, and a
wake-up <= 10 ms on PostgreSQL) and studyhall / bare, with the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import URL, make_url

from benchmarks.common import MARIADB_URL, machine
from studyhall.config import DatabaseSettings
from studyhall.database import DatabaseManager
from studyhall.db.backends import drop_database, ensure_database
from studyhall.jobs import RunningJob, enqueue, enqueue_many, handler
from studyhall.models import Job, JobStatus

POSTGRESQL_URL = os.environ.get(
    "STUDYHALL_BENCH_POSTGRESQL_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/"
)
REPO = Path(__file__).resolve().parents[1]
MODULE = "benchmarks.jobs"  # what the workers import for the handlers
NOOP = "bench.noop"  # inline
NOOP_LEASED = "bench.noop_leased"
WAKE = "bench.wake"  # inline
BATCH = 500
IDLE = 0.6  # seconds without work before each wake-up job
PROCRASTINATE_VENV = Path(tempfile.gettempdir()) / "studyhall-bench-procrastinate"


@handler(NOOP, inline=True)
def noop(job: RunningJob) -> None:
    """Does nothing: the queue's own cost is measured."""


@handler(NOOP_LEASED)
def noop_leased(job: RunningJob) -> None:
    """Does nothing, under a lease: two transactions per job."""


@handler(WAKE, inline=True)
def wake(job: RunningJob) -> None:
    """Seconds from just before the enqueue to the start of this run, appended to a file."""
    started = time.time()
    with open(job.payload["file"], "a") as output:
        output.write(f"{started - job.payload['sent']}\n")


def settings_for(backend: str) -> DatabaseSettings:
    url = make_url(MARIADB_URL if backend == "mariadb" else POSTGRESQL_URL)
    url = url.set(database=f"studyhall_jobsbench_{uuid.uuid4().hex[:10]}")
    return DatabaseSettings(url=url, source="DATABASE_URL")


def start_worker(settings: DatabaseSettings, threads: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": settings.url.render_as_string(hide_password=False),
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        "LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "studyhall.cli", "worker", "--import", MODULE]
    return subprocess.Popen(
        [*command, "--threads", str(threads)], env=env, stdout=subprocess.DEVNULL
    )


def done(kind: str) -> int:
    with DatabaseManager.get_session(read_only=True) as session:
        query = select(func.count()).where(Job.kind == kind, Job.status == JobStatus.DONE)
        return session.scalar(query) or 0


def rerun(kind: str) -> int:
    """Jobs of `kind` that took more than one attempt (a deadlock, a conflict)."""
    with DatabaseManager.get_session(read_only=True) as session:
        return session.scalar(select(func.count()).where(Job.kind == kind, Job.attempts > 1)) or 0


def wait_for(kind: str, count: int, timeout: float) -> float:
    """Poll until `count` jobs of `kind` are done; the time.monotonic() when seen."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done(kind) >= count:
            return time.monotonic()
        time.sleep(0.01)
    raise TimeoutError(f"{count} {kind} jobs not done in {timeout} s")


def studyhall_run(
    settings: DatabaseSettings, kind: str, jobs: int, threads: int, wakeups: int
) -> tuple[float, list[float]]:
    """jobs/s enqueue-to-done of `kind` with one worker process of `threads` threads;
    wake-ups (ms)."""
    worker = start_worker(settings, threads)
    try:
        base = done(kind)
        enqueue(kind)  # warm-up: the worker is up (and listening) once this is done
        wait_for(kind, base + 1, 60)
        base += 1
        started = time.monotonic()
        for first in range(0, jobs, BATCH):
            enqueue_many(kind, [None] * min(BATCH, jobs - first))
        rate = jobs / (wait_for(kind, base + jobs, 600) - started)
        woken = measure_wakeups(wakeups) if wakeups else []
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(60)
    return rate, woken


def measure_wakeups(count: int) -> list[float]:
    file = Path(tempfile.mkdtemp(prefix="studyhall-jobsbench-")) / "wake.txt"
    base = done(WAKE)
    for n in range(count):
        time.sleep(IDLE)
        enqueue(WAKE, {"sent": time.time(), "file": str(file)})
        wait_for(WAKE, base + n + 1, 30)
    values = [float(line) * 1000 for line in file.read_text().split()]
    file.unlink()
    return values


def bare_run(url: URL, backend: str, jobs: int, threads: int) -> float:
    """jobs/s of `threads` threads claiming and finishing prefilled rows, nothing else."""
    engine = create_engine(url, pool_size=threads + 1)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("DROP TABLE IF EXISTS bare_jobs")
            key = "SERIAL" if backend == "postgresql" else "INT AUTO_INCREMENT"
            connection.exec_driver_sql(
                f"CREATE TABLE bare_jobs (id {key} PRIMARY KEY, status VARCHAR(10) NOT NULL)"
            )
            connection.exec_driver_sql("CREATE INDEX bare_jobs_status ON bare_jobs (status, id)")
            connection.execute(
                text("INSERT INTO bare_jobs (status) VALUES ('queued')"),
                [{}] * jobs,
            )
        claim = text(
            "SELECT id FROM bare_jobs WHERE status = 'queued' ORDER BY id LIMIT 1 "
            "FOR UPDATE SKIP LOCKED"
        )
        finish = text("UPDATE bare_jobs SET status = 'done' WHERE id = :id")

        def loop() -> None:
            with engine.connect() as connection:
                if backend == "mariadb":
                    connection = connection.execution_options(isolation_level="READ COMMITTED")
                while True:
                    with connection.begin():
                        row = connection.execute(claim).first()
                        if row is None:
                            return
                        connection.execute(finish, {"id": row[0]})

        workers = [threading.Thread(target=loop) for _ in range(threads)]
        started = time.monotonic()
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join()
        return jobs / (time.monotonic() - started)
    finally:
        with engine.begin() as connection:
            connection.exec_driver_sql("DROP TABLE bare_jobs")
        engine.dispose()


def procrastinate_python(given: str | None) -> str:
    """The interpreter of procrastinate's own environment; ValueError with why not."""
    if given:
        return given
    python = PROCRASTINATE_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run(
            [sys.executable, "-m", "venv", str(PROCRASTINATE_VENV)],
            check=True,
            capture_output=True,
        )
    probe = subprocess.run([str(python), "-c", "import procrastinate"], capture_output=True)
    if probe.returncode != 0:
        install = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "procrastinate"],
            capture_output=True,
            text=True,
        )
        if install.returncode != 0:
            raise ValueError(f"pip install procrastinate failed: {install.stderr.strip()[-500:]}")
    return str(python)


def procrastinate_run(python: str, jobs: int, concurrency: int, wakeups: int) -> dict[str, object]:
    """procrastinate's figures, measured in a throwaway PostgreSQL database of its own."""
    settings = settings_for("postgresql")
    ensure_database(settings)
    try:
        dsn = settings.url.set(drivername="postgresql").render_as_string(hide_password=False)
        completed = subprocess.run(
            [
                python,
                str(REPO / "benchmarks" / "jobs_procrastinate.py"),
                "bench",
                "--jobs",
                str(jobs),
                "--concurrency",
                str(concurrency),
                "--wakeups",
                str(wakeups),
            ],
            env={**os.environ, "PROCRASTINATE_BENCH_DSN": dsn},
            capture_output=True,
            text=True,
            check=False,
        )
        if completed.returncode != 0:
            raise ValueError(f"procrastinate run failed: {completed.stderr.strip()[-800:]}")
        result: dict[str, object] = json.loads(completed.stdout.strip().splitlines()[-1])
        return result
    finally:
        drop_database(settings)


def backend_run(backend: str, args: argparse.Namespace, peer: str | None) -> dict[str, object]:
    """One backend's figures; on PostgreSQL with `peer` (procrastinate's Python) its runs
    alternate with studyhall's, concurrency by concurrency, so both see the same load."""
    settings = settings_for(backend)
    ensure_database(settings)
    figures: dict[str, object] = {}
    try:
        database = DatabaseManager.initialize(settings)
        DatabaseManager.create_tables()
        for threads in args.concurrency:
            wakeups = args.wakeups if threads == 1 else 0
            rate, woken = studyhall_run(settings, NOOP, args.jobs, threads, wakeups)
            figures[f"studyhall {threads}"] = rate
            if woken:
                figures["studyhall wake"] = statistics.median(woken)
            figures[f"studyhall leased {threads}"], _ = studyhall_run(
                settings, NOOP_LEASED, args.jobs, threads, 0
            )
            if backend == "postgresql" and peer is not None:
                try:
                    theirs = procrastinate_run(peer, args.jobs, threads, wakeups)
                except (ValueError, OSError, subprocess.SubprocessError) as exc:
                    print(f"procrastinate not measured: {exc}")
                    peer = None
                else:
                    figures["procrastinate version"] = theirs["version"]
                    figures[f"procrastinate {threads}"] = theirs["jobs_per_s"][str(threads)]  # type: ignore[index]
                    if "wake_median_ms" in theirs:
                        figures["procrastinate wake"] = theirs["wake_median_ms"]
            figures[f"bare {threads}"] = bare_run(database.engine.url, backend, args.jobs, threads)
        figures["rerun"] = rerun(NOOP) + rerun(NOOP_LEASED)
    finally:
        DatabaseManager.cleanup()
        drop_database(settings)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--backend",
        choices=("mariadb", "postgresql"),
        nargs="+",
        default=["mariadb", "postgresql"],
    )
    parser.add_argument("--jobs", type=int, default=5000, help="no-op jobs per run (5,000)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--wakeups", type=int, default=20, help="wake-ups measured (20)")
    parser.add_argument(
        "--procrastinate-python",
        metavar="PATH",
        help="a Python with procrastinate installed (default: a venv made under "
        f"{PROCRASTINATE_VENV} with pip)",
    )
    parser.add_argument("--no-procrastinate", action="store_true")
    args = parser.parse_args(argv)
    print(
        f"job queue: {args.jobs:,} no-op jobs per run, concurrency {args.concurrency}, "
        f"{args.wakeups} wake-ups after {IDLE} s idle"
    )
    print(machine())
    peer = None
    if "postgresql" in args.backend and not args.no_procrastinate:
        try:
            peer = procrastinate_python(args.procrastinate_python)
        except (ValueError, OSError, subprocess.SubprocessError) as exc:
            print(f"procrastinate not measured: {exc}")
    results = {backend: backend_run(backend, args, peer) for backend in args.backend}
    report(results, args.concurrency)
    return 0


def report(results: dict[str, dict[str, object]], concurrencies: list[int]) -> None:
    print(f"machine after: {machine()}")
    for backend, figures in results.items():
        print(f"\n{backend}:")
        for c in concurrencies:
            ours = float(figures[f"studyhall {c}"])  # type: ignore[arg-type]
            leased = float(figures[f"studyhall leased {c}"])  # type: ignore[arg-type]
            bare = float(figures[f"bare {c}"])  # type: ignore[arg-type]
            line = (
                f"  concurrency {c}: studyhall inline {ours:,.0f} jobs/s (leased {leased:,.0f}), "
                f"bare SKIP LOCKED {bare:,.0f} (studyhall inline / bare {ours / bare:.2f}x)"
            )
            if f"procrastinate {c}" in figures:
                theirs = float(figures[f"procrastinate {c}"])  # type: ignore[arg-type]
                line += (
                    f", procrastinate {figures['procrastinate version']} {theirs:,.0f} "
                    f"(studyhall inline / procrastinate {ours / theirs:.2f}x, target >= 1.0x; "
                    f"leased {leased / theirs:.2f}x)"
                )
            print(line)
        print(f"  studyhall jobs that took more than one attempt: {figures['rerun']}")
        wake = figures.get("studyhall wake")
        if wake is not None:
            line = f"  idle worker wake-up, median: studyhall {wake:.1f} ms"
            if backend == "postgresql":
                line += " (target <= 10 ms)"
            if "procrastinate wake" in figures:
                line += f", procrastinate {figures['procrastinate wake']:.1f} ms"
            print(line)


if __name__ == "__main__":
    sys.exit(main())
