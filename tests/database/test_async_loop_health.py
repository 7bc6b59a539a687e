"""Event-loop health: one task's slow query never stalls the others' units of work.

While one task waits 2 s for `SELECT SLEEP(2)` / `pg_sleep(2)`, 100 other tasks, started
over 1.5 s, run a short unit each on a warm pool; their p99 latency must stay under 1/40 of
the slow query's own duration (50 ms of 2 s): a ratio against a baseline measured in the
same run, not a fixed time.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest
from sqlalchemy import text

from studyhall.db.aio import AsyncDatabase

SLOW = {"mariadb": "SELECT SLEEP(2)", "postgresql": "SELECT pg_sleep(2)"}
TASKS = 100
SPREAD = 1.5  # seconds over which the short units start


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def test_short_units_run_while_a_slow_query_waits(db_settings, backend):
    if backend not in SLOW:
        pytest.skip("a server's sleep: SQLite runs in the driver's thread")
    settings = dataclasses.replace(db_settings, pool_size=20, max_overflow=0)

    async def main() -> tuple[float, list[float], bool]:
        database = AsyncDatabase(settings)
        try:
            # Warm the pool: the latencies measured are units', not connects.
            warm = [database.unit_of_work("requires_new") for _ in range(settings.pool_size)]
            for unit in warm:
                await (await unit.__aenter__()).execute(text("SELECT 1"))
            for unit in reversed(warm):
                await unit.__aexit__(None, None, None)

            async def slow() -> float:
                started = time.perf_counter()
                async with database.unit_of_work() as session:
                    await session.execute(text(SLOW[backend]))
                return time.perf_counter() - started

            async def short(number: int) -> float:
                # Spread over the slow query's 2 s: each unit meets a loop that is serving it.
                await asyncio.sleep(number * SPREAD / TASKS)
                started = time.perf_counter()
                async with database.unit_of_work() as session:
                    await session.execute(text("SELECT 1"))
                return time.perf_counter() - started

            slow_task = asyncio.create_task(slow())
            await asyncio.sleep(0.2)  # the slow query is on the server now
            latencies = await asyncio.gather(*(short(number) for number in range(TASKS)))
            still_waiting = not slow_task.done()
            return await slow_task, list(latencies), still_waiting
        finally:
            await database.dispose()

    slow_took, latencies, overlapped = asyncio.run(main())
    print(f"{backend}: p99 {p99(latencies) * 1e3:.1f} ms of short units during {slow_took:.2f} s")
    assert overlapped  # the short units ran while the slow query waited
    assert slow_took >= 1.9
    assert p99(latencies) < slow_took / 40, (p99(latencies), slow_took)
