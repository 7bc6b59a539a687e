"""The async engine: the sync engine's settings and listeners, on asyncio drivers."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from sqlalchemy import text
from sqlalchemy.pool import AsyncAdaptedQueuePool

from studyhall.db.aio import AsyncDatabase, async_url
from studyhall.db.aio.engine import async_engine_options
from studyhall.db.backends import engine_options
from studyhall.db.backends.pooling import needs_reset
from studyhall.errors import ConflictError, DatabaseStatementError

DRIVERS = {"sqlite": "aiosqlite", "mariadb": "asyncmy", "postgresql": "psycopg"}


def run_on(settings, main):
    async def and_dispose():
        database = AsyncDatabase(settings)
        try:
            return await main(database)
        finally:
            await database.dispose()

    return asyncio.run(and_dispose())


def test_the_url_names_the_backends_async_driver(db_settings, backend):
    url = async_url(db_settings)
    assert url.get_driver_name() == DRIVERS[backend]
    assert url.get_backend_name() == db_settings.url.get_backend_name()
    assert url.database == db_settings.url.database


def test_the_options_are_the_sync_engines_with_the_asyncio_pool(db_settings, backend):
    sync, adapted = engine_options(db_settings), async_engine_options(db_settings)
    assert adapted["poolclass"] is AsyncAdaptedQueuePool
    for name in ("pool_size", "max_overflow", "pool_timeout", "pool_recycle", "hide_parameters"):
        assert adapted[name] == sync[name]
    assert adapted["pool_pre_ping"] is False  # studyhall's ping window pings instead
    if backend == "mariadb":
        assert "write_timeout" not in adapted["connect_args"]  # asyncmy has none
        assert adapted["connect_args"]["read_timeout"] == db_settings.read_timeout
    if backend == "postgresql":
        assert adapted["connect_args"] == sync["connect_args"]  # libpq's own arguments


def test_a_unit_runs_and_returns_its_connection(db_settings, backend):
    async def main(database):
        async with database.unit_of_work() as session:
            assert (await session.execute(text("SELECT 1"))).scalar() == 1
            assert type(session.sync_session).__name__ == "StudyhallSession"
        return database.engine.pool.checkedout()

    assert run_on(db_settings, main) == 0


def test_mariadb_runs_in_strict_mode(db_settings, backend):
    if backend != "mariadb":
        pytest.skip("MariaDB's sql_mode")

    async def main(database):
        async with database.unit_of_work() as session:
            return (await session.execute(text("SELECT @@SESSION.sql_mode"))).scalar()

    assert "STRICT_ALL_TABLES" in run_on(db_settings, main)


def test_driver_errors_are_translated(db_settings):
    async def main(database):
        async with database.unit_of_work() as session:
            await session.execute(text("SELECT * FROM no_such_table"))

    with pytest.raises(DatabaseStatementError, match="Fix the statement"):
        run_on(db_settings, main)


def test_sqlite_writers_take_the_lock_at_begin(db_settings, backend):
    if backend != "sqlite":
        pytest.skip("SQLite's BEGIN IMMEDIATE")

    async def main(database):
        async with database.unit_of_work() as session:
            await session.execute(text("CREATE TABLE t (id INTEGER)"))
        async with database.unit_of_work() as writer:
            await writer.execute(text("SELECT 1"))  # BEGIN IMMEDIATE: the write lock now
            async with database.unit_of_work("requires_new", read_only=True) as reader:
                await reader.execute(text("SELECT 1"))  # a deferred BEGIN: no wait
            other = AsyncDatabase(db_settings, connect_args={"timeout": 0.05})
            try:
                async with other.unit_of_work("requires_new") as second:
                    await second.execute(text("SELECT 1"))
            finally:
                await other.dispose()

    with pytest.raises(ConflictError):
        run_on(db_settings, main)


def test_every_async_driver_skips_the_reset_after_a_commit(db_settings, backend):
    async def main(database):
        async with database.unit_of_work() as session:
            await session.execute(text("SELECT 1"))
        raw = await database.engine.raw_connection()
        try:
            return needs_reset(raw.dbapi_connection)  # what the reset on return reads
        finally:
            raw.close()

    assert run_on(db_settings, main) is False


async def _server_rollbacks(session):
    row = (await session.execute(text("SHOW SESSION STATUS LIKE 'Com_rollback'"))).one()
    return int(row[1])


def test_asyncmy_sends_no_rollback_after_a_committed_unit(db_settings, backend):
    if backend != "mariadb":
        pytest.skip("asyncmy's reset, counted by MariaDB itself")
    settings = dataclasses.replace(db_settings, pool_size=1, max_overflow=0)

    async def main(database):
        async with database.unit_of_work() as session:
            before = await _server_rollbacks(session)
        for _ in range(3):
            async with database.unit_of_work() as session:
                await session.execute(text("SELECT 1"))
        async with database.unit_of_work() as session:
            return await _server_rollbacks(session) - before

    assert run_on(settings, main) == 0


def test_asyncmy_resets_a_connection_used_directly_after_a_commit(db_settings, backend):
    if backend != "mariadb":
        pytest.skip("asyncmy's statement tracking")
    settings = dataclasses.replace(db_settings, pool_size=1, max_overflow=0)

    async def main(database):
        async with database.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            await conn.commit()
            driver = (await conn.get_raw_connection()).driver_connection
            clean = needs_reset((await conn.get_raw_connection()).dbapi_connection)
            cursor = driver.cursor()
            await cursor.execute("SELECT 1")  # opens a snapshot behind SQLAlchemy's back
            await cursor.fetchall()
            await cursor.close()
            return clean, needs_reset((await conn.get_raw_connection()).dbapi_connection)

    assert run_on(settings, main) == (False, True)
