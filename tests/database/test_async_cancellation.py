"""Cancellation at any await of an async unit of work: rolled back, connection returned
(invalidated when a query was cut short), never half committed.

Each unit writes two rows in one transaction, so an odd row count is a half-written unit.
Tasks are cancelled, or time out (`asyncio.timeout`), at random points; afterwards the
pool holds no checked-out connection and the server no more sessions than the pool
allows. The soak of 10,000 units is `benchmarks/async_soak.py`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import random
import time

import pytest
import sqlalchemy
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.pool import NullPool

from studyhall.db.aio import AsyncDatabase
from tests.database.notes import create_notes, notes

UNITS = 500
AT_ONCE = 20
POOL = 5

SESSIONS = {
    "mariadb": (
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST "
        "WHERE DB = :name AND ID <> CONNECTION_ID()"
    ),
    "postgresql": (
        "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = :name AND pid <> pg_backend_pid()"
    ),
}


async def unit(database: AsyncDatabase, number: int) -> None:
    async with database.unit_of_work() as session:
        await session.execute(notes.insert().values(id=2 * number, body="a"))
        await asyncio.sleep(random.random() / 1000)
        await session.execute(notes.insert().values(id=2 * number + 1, body="b"))
        await asyncio.sleep(0)


async def timed_unit(database: AsyncDatabase, number: int) -> None:
    async with asyncio.timeout(random.random() / 200):
        await unit(database, number)


async def cancel_some(database: AsyncDatabase, units: int, seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    outcomes = {"committed": 0, "cancelled": 0, "timed_out": 0}
    for start in range(0, units, AT_ONCE):
        tasks = []
        for number in range(start, min(start + AT_ONCE, units)):
            run = timed_unit if rng.random() < 0.3 else unit
            tasks.append(asyncio.create_task(run(database, number)))
        for task in tasks:
            if rng.random() < 0.5:
                await asyncio.sleep(rng.random() / 500)
                task.cancel()
        for result in await asyncio.gather(*tasks, return_exceptions=True):
            if result is None:
                outcomes["committed"] += 1
            elif isinstance(result, asyncio.CancelledError):
                outcomes["cancelled"] += 1
            elif isinstance(result, TimeoutError):
                outcomes["timed_out"] += 1
            else:
                raise result
    return outcomes


async def server_sessions(settings, backend: str, at_most: int) -> int:
    """The server's sessions on the test database once they settle, waiting at most 5 s:
    the connection of an interrupted query is closed by a task of the loop (SQLAlchemy's
    terminate), and its server process ends a moment after."""
    engine = create_engine(settings.url, poolclass=NullPool)
    deadline = time.monotonic() + 5
    try:
        with engine.connect() as conn:
            while True:
                count = int(conn.scalar(text(SESSIONS[backend]), {"name": settings.database}))
                if count <= at_most or time.monotonic() > deadline:
                    return count
                await asyncio.sleep(0.05)  # the loop runs the closing tasks meanwhile
    finally:
        engine.dispose()


# SQLAlchemy 2.0's aiosqlite adapter cannot close a connection invalidated by a
# cancellation (no terminate; its close awaits): it is left to the garbage collector,
# with a ResourceWarning. 2.1 closes it.
OLD_AIOSQLITE = tuple(int(part) for part in sqlalchemy.__version__.split(".")[:2]) < (2, 1)


def test_cancelled_units_leave_nothing_behind(db_settings, backend):
    if backend == "sqlite" and OLD_AIOSQLITE:
        pytest.skip("SQLAlchemy 2.0's aiosqlite adapter leaves cancelled connections to gc")
    settings = dataclasses.replace(db_settings, pool_size=POOL, max_overflow=0)
    engine = create_engine(settings.url, poolclass=NullPool)
    create_notes(engine)
    seen: dict[str, int] = {}

    async def main() -> None:
        database = AsyncDatabase(settings)
        try:
            seen.update(await cancel_some(database, UNITS, seed=14))
            seen["checked_out"] = database.engine.pool.checkedout()
            if backend in SESSIONS:
                seen["server_sessions"] = await server_sessions(settings, backend, POOL)
        finally:
            await database.dispose()

    asyncio.run(main())
    gc.collect()  # a connection left un-returned would warn here (warnings are errors)
    with engine.connect() as conn:
        rows = conn.scalar(select(func.count()).select_from(notes))
    engine.dispose()
    assert seen["checked_out"] == 0
    assert seen["cancelled"] + seen["timed_out"] > UNITS // 10, seen  # the test cancels
    assert seen["committed"] > 0, seen
    assert rows % 2 == 0, f"{rows} rows: a unit was half written"
    assert rows >= 2 * seen["committed"]  # every unit that returned is committed
    if backend in SESSIONS:
        assert seen["server_sessions"] <= POOL, seen


def test_a_cancellation_during_commit_waits_for_its_reply(db_settings, backend):
    engine = create_engine(db_settings.url, poolclass=NullPool)
    create_notes(engine)

    async def main() -> tuple[bool, float]:
        database = AsyncDatabase(db_settings)
        try:
            unit_task = asyncio.create_task(unit(database, 1))
            # Cancel repeatedly while the unit ends: the COMMIT (or ROLLBACK) finishes.
            started = time.perf_counter()
            while not unit_task.done():
                unit_task.cancel()
                await asyncio.sleep(0)
            await asyncio.gather(unit_task, return_exceptions=True)
            return database.engine.pool.checkedout() == 0, time.perf_counter() - started
        finally:
            await database.dispose()

    returned, _ = asyncio.run(main())
    with engine.connect() as conn:
        rows = conn.scalar(select(func.count()).select_from(notes))
    engine.dispose()
    assert returned
    assert rows in (0, 2)


@pytest.mark.parametrize("where", ["in_query", "in_body"])
def test_the_interrupted_connection_is_not_reused(db_settings, backend, where):
    if backend == "sqlite":
        pytest.skip("a server's session: SQLite has none")
    sleep = "SELECT SLEEP(5)" if backend == "mariadb" else "SELECT pg_sleep(5)"
    who = "SELECT CONNECTION_ID()" if backend == "mariadb" else "SELECT pg_backend_pid()"

    async def main() -> tuple[int, int]:
        database = AsyncDatabase(dataclasses.replace(db_settings, pool_size=1, max_overflow=0))
        try:

            async def slow() -> int:
                async with database.unit_of_work() as session:
                    first = int((await session.execute(text(who))).scalar_one())
                    ids.append(first)
                    if where == "in_query":
                        await session.execute(text(sleep))
                    else:
                        await asyncio.sleep(5)
                    return first

            ids: list[int] = []
            task = asyncio.create_task(slow())
            while not ids:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.2)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            async with database.unit_of_work() as session:
                second = int((await session.execute(text(who))).scalar_one())
            return ids[0], second
        finally:
            await database.dispose()

    first, second = asyncio.run(main())
    if where == "in_query":
        assert first != second  # a query cut short: its connection's state is unknown
    else:
        assert first == second  # cancelled between queries: rolled back and reused
