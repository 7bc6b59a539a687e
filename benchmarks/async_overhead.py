"""What the async unit of work costs, and how the async flavour serves many tasks.

1. Per unit (one primary-key SELECT, then COMMIT), alternating in short rounds:
     bare     `async with AsyncSession(engine) as s, s.begin():` on a plain
              `create_async_engine` with the same driver and pool options
     unit     `async with AsyncDatabase.unit_of_work() as s:` (studyhall's async engine)
     decorated  an `async def` under `@with_db_session`
   Printed: microseconds per unit (median of the per-round means) and the ratio to bare
   (median of the per-round ratios; target <= 1.0x is "no dearer than bare").
2. Concurrency: 200 tasks on a pool of 20 (async, `@with_db_session` units) for
   `--seconds`, beside the sync app's units (`@with_db_session` on a plain function) with
   200 threads on a pool of 20 on the same database in the same run: units per second and
   p50 / p99 latency of a unit.

Run: `.venv/bin/python -m benchmarks.async_overhead [--n 3000] [--seconds 5]
[--backends mariadb,postgresql]`. Each backend gets a throwaway `studyhall_bench_*`
database, dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from benchmarks.common import MARIADB_URL, machine
from benchmarks.session_overhead import BenchItem, key, prepare
from studyhall.config import DatabaseSettings
from studyhall.database import (
    DatabaseManager,
    get_current_async_session,
    get_current_session,
    with_db_session,
)
from studyhall.db.aio import AsyncDatabase, async_url
from studyhall.db.aio.engine import async_engine_options
from studyhall.db.backends import drop_database

URLS = {
    "mariadb": MARIADB_URL,
    "postgresql": os.environ.get(
        "STUDYHALL_BENCH_POSTGRESQL_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/"
    ),
}
ROUND = 50
TASKS = 200
POOL = 20


def settings_for(backend: str) -> DatabaseSettings:
    url = make_url(URLS[backend]).set(database=f"studyhall_bench_{uuid.uuid4().hex[:10]}")
    return DatabaseSettings(url=url, source="DATABASE_URL", pool_size=POOL, max_overflow=0)


def query(k: int) -> Any:
    return select(BenchItem.name).where(BenchItem.id == k)


@with_db_session
async def decorated(k: int) -> None:
    (await get_current_async_session().execute(query(k))).scalar_one()


@with_db_session
def sync_unit(k: int) -> None:
    get_current_session().execute(query(k)).scalar_one()


async def per_unit(settings: DatabaseSettings, n: int) -> dict[str, list[float]]:
    # The same driver, pool and connect arguments, without studyhall's listeners.
    plain = create_async_engine(async_url(settings), **async_engine_options(settings))
    ours = AsyncDatabase(settings)
    database = DatabaseManager.database().async_database()

    async def bare(k: int) -> None:
        async with AsyncSession(plain) as session, session.begin():
            (await session.execute(query(k))).scalar_one()

    async def unit(k: int) -> None:
        async with ours.unit_of_work() as session:
            (await session.execute(query(k))).scalar_one()

    variants: dict[str, Callable[[int], Awaitable[None]]] = {
        "bare": bare,
        "unit": unit,
        "decorated": decorated,
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    try:
        for fn in variants.values():  # warm up: connections, statement caches
            for i in range(ROUND):
                await fn(key(i))
        for round_number in range(max(1, n // ROUND)):
            names = list(variants)
            shift = round_number % len(names)
            for name in names[shift:] + names[:shift]:
                fn = variants[name]
                started = time.perf_counter()
                for i in range(ROUND):
                    await fn(key(i))
                times[name].append((time.perf_counter() - started) / ROUND * 1e6)
    finally:
        await plain.dispose()
        await ours.dispose()
        await database.dispose()
    return times


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


async def async_load(seconds: float) -> tuple[int, list[float]]:
    latencies: list[float] = []
    stop = time.perf_counter() + seconds

    async def worker(offset: int) -> None:
        i = offset
        while time.perf_counter() < stop:
            started = time.perf_counter()
            await decorated(key(i))
            latencies.append(time.perf_counter() - started)
            i += 1

    await asyncio.gather(*(worker(t) for t in range(TASKS)))
    await DatabaseManager.dispose_async()
    return len(latencies), latencies


def sync_load(seconds: float) -> tuple[int, list[float]]:
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def worker(offset: int) -> None:
        mine: list[float] = []
        i = offset
        while time.perf_counter() < stop:
            started = time.perf_counter()
            sync_unit(key(i))
            mine.append(time.perf_counter() - started)
            i += 1
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(TASKS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(latencies), latencies


def bench(backend: str, n: int, seconds: float) -> None:
    settings = settings_for(backend)
    try:
        server = make_url(URLS[backend])
        engine = create_engine(
            server.set(database="postgres") if backend == "postgresql" else server
        )
        with engine.connect() as conn:
            version = conn.scalar(text("SELECT VERSION()"))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - a missing server skips its part
        print(f"\n{backend} skipped: {type(exc).__name__}")
        return
    prepare(settings)
    DatabaseManager.cleanup()
    DatabaseManager.initialize(settings)
    try:
        times = asyncio.run(per_unit(settings, n))
        print(f"\n{backend} ({str(version).split(',')[0][:40]}): {n} units per variant")
        print(f"{'variant':<12}{'us/unit':>9}{'x bare':>8}")
        for name, values in times.items():
            ratio = statistics.median(t / b for t, b in zip(values, times["bare"], strict=True))
            print(f"{name:<12}{statistics.median(values):>9.1f}{ratio:>8.2f}")
        rows = []
        for label, run in (
            ("async, 200 tasks", lambda: asyncio.run(async_load(seconds))),
            ("sync, 200 threads", lambda: sync_load(seconds)),
            ("async again", lambda: asyncio.run(async_load(seconds))),
            ("sync again", lambda: sync_load(seconds)),
        ):
            count, latencies = run()
            rows.append(
                (label, count / seconds, p(latencies, 0.5) * 1e3, p(latencies, 0.99) * 1e3)
            )
        print(f"pool of {POOL}, {seconds:g} s each")
        print(f"{'load':<20}{'units/s':>9}{'p50 ms':>9}{'p99 ms':>9}")
        for label, rate, p50, p99 in rows:
            print(f"{label:<20}{rate:>9.0f}{p50:>9.1f}{p99:>9.1f}")
    finally:
        DatabaseManager.cleanup()
        drop_database(settings)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=3000, help="units per variant (default 3000)")
    parser.add_argument("--seconds", type=float, default=5.0, help="per load (default 5)")
    parser.add_argument("--backends", default="mariadb,postgresql")
    args = parser.parse_args(argv)
    print(f"async_overhead on {machine()}")
    for backend in args.backends.split(","):
        bench(backend, args.n, args.seconds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
