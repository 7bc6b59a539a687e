"""The procrastinate side of `benchmarks/jobs.py`, run by the Python that has procrastinate.

Not part of studyhall and never imported by it: `benchmarks/jobs.py` runs this file with
the interpreter of its own procrastinate environment (a venv it makes under /tmp, or
`--procrastinate-python`), so procrastinate is no dependency of studyhall. Imports only
procrastinate, psycopg and the standard library.

    PROCRASTINATE_BENCH_DSN=postgresql://... python jobs_procrastinate.py bench --jobs 5000
    python jobs_procrastinate.py worker --concurrency 4    (started by `bench`)

`bench` applies procrastinate's schema to the (empty, throwaway) database in
PROCRASTINATE_BENCH_DSN (a libpq connection string), and per
concurrency starts one worker process, defers the no-op jobs in batches and waits until
they all succeeded (jobs/s enqueue-to-done), then with concurrency 1 the wake-up of an
idle worker. The last line it prints is JSON with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import procrastinate
import psycopg

BATCH = 500
DSN = os.environ.get("PROCRASTINATE_BENCH_DSN", "")
app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=DSN))


@app.task(name="bench.noop")
async def noop() -> None:
    """Does nothing: the queue's own cost is measured."""


@app.task(name="bench.wake")
async def wake(sent: float, file: str) -> None:
    """Seconds from just before the defer to the start of this run, appended to `file`."""
    started = time.time()
    with open(file, "a") as output:
        output.write(f"{started - sent}\n")


def succeeded(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as connection:
        row = connection.execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE status = 'succeeded'"
        ).fetchone()
        return int(row[0]) if row else 0


def wait_for(dsn: str, count: int, timeout: float) -> float:
    """Poll until `count` jobs succeeded; the time.monotonic() when seen."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if succeeded(dsn) >= count:
            return time.monotonic()
        time.sleep(0.01)
    raise TimeoutError(f"procrastinate: {count} jobs not done in {timeout} s")


def start_worker(concurrency: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, __file__, "worker", "--concurrency", str(concurrency)],
        stdout=subprocess.DEVNULL,
    )


def bench(dsn: str, jobs: int, concurrencies: list[int], wakeups: int) -> dict[str, object]:
    result: dict[str, object] = {"version": procrastinate.__version__, "jobs_per_s": {}}
    with app.open():
        app.schema_manager.apply_schema()
        for concurrency in concurrencies:
            worker = start_worker(concurrency)
            try:
                base = succeeded(dsn)
                noop.defer()  # warm-up: the worker is up and listening once this is done
                wait_for(dsn, base + 1, 60)
                base += 1
                started = time.monotonic()
                for first in range(0, jobs, BATCH):
                    noop.batch_defer(*([{}] * min(BATCH, jobs - first)))
                done = wait_for(dsn, base + jobs, 600)
                result["jobs_per_s"][str(concurrency)] = jobs / (done - started)  # type: ignore[index]
                if concurrency == 1 and wakeups:
                    result["wake_ms"] = measure_wakeups(dsn, wakeups)
            finally:
                worker.send_signal(signal.SIGINT)
                worker.wait(60)
    return result


def measure_wakeups(dsn: str, count: int) -> list[float]:
    file = Path(f"/tmp/procrastinate-wake-{os.getpid()}.txt")
    file.unlink(missing_ok=True)
    base = succeeded(dsn)
    for n in range(count):
        time.sleep(0.6)  # idle: nothing queued, the worker waits for a notification
        wake.defer(sent=time.time(), file=str(file))
        wait_for(dsn, base + n + 1, 30)
    values = [float(line) * 1000 for line in file.read_text().split()]
    file.unlink()
    return values


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("mode", choices=("bench", "worker"))
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--wakeups", type=int, default=20)
    args = parser.parse_args()
    if args.mode == "worker":
        app.run_worker(concurrency=args.concurrency[0], install_signal_handlers=True)
        return 0
    result = bench(DSN, args.jobs, args.concurrency, args.wakeups)
    if "wake_ms" in result:
        result["wake_median_ms"] = statistics.median(result["wake_ms"])  # type: ignore[arg-type]
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
