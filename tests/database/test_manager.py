from __future__ import annotations

import itertools
import logging
import re
import socket
import threading
from dataclasses import replace

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.pool import NullPool

from studyhall.config import load_settings
from studyhall.database import DatabaseManager
from studyhall.db import schema
from studyhall.db.backends import drop_database
from studyhall.db.backends.sqlite import BUSY_TIMEOUT as SQLITE_BUSY_TIMEOUT
from studyhall.errors import (
    ConfigurationError,
    ConflictError,
    DatabaseUnavailableError,
    UnsafeOperationError,
)
from tests.conftest import throwaway_settings


def test_initialize_builds_one_database_when_threads_race(db_settings, monkeypatch):
    threads = 16
    resolved = []
    every_thread_called = threading.Event()

    def resolve():
        resolved.append(threading.get_ident())
        # Hold the first caller here until every thread has called initialize(): without
        # the lock (or its second check), the others see nothing built yet and build too.
        every_thread_called.wait(timeout=30)
        return db_settings

    monkeypatch.setattr(DatabaseManager, "validate_environment", staticmethod(resolve))
    start = threading.Barrier(threads)
    called = itertools.count(1)
    results = []

    def call():
        start.wait(timeout=30)
        if next(called) == threads:
            every_thread_called.set()
        results.append(DatabaseManager.initialize())

    workers = [threading.Thread(target=call) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert every_thread_called.is_set()
    assert len(results) == threads
    assert len(resolved) == 1, f"{len(resolved)} threads resolved the settings and built"
    only = DatabaseManager.database()
    assert all(database is only for database in results)
    assert DatabaseManager.initialize() is only and len(resolved) == 1  # idempotent


def test_validate_environment_returns_settings(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "sqlite:///x.sqlite3")
    assert DatabaseManager.validate_environment().backend == "sqlite"


def test_cleanup_disposes_and_allows_reinitializing(database, db_settings):
    first = DatabaseManager.initialize()
    DatabaseManager.cleanup()
    second = DatabaseManager.initialize(db_settings)
    assert first is not second
    with DatabaseManager.get_session() as session:
        assert session.execute(text("SELECT 1")).scalar() == 1


def test_ensure_database_exists_creates_it_once(backend, tmp_path):
    settings = throwaway_settings(backend, tmp_path / "nested" / "dir")
    try:
        assert DatabaseManager.ensure_database_exists(settings) is True
        assert DatabaseManager.ensure_database_exists(settings) is False
        engine = create_engine(settings.url, poolclass=NullPool)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar() == 1
            if backend == "mariadb":
                charset = conn.execute(
                    text(
                        "SELECT default_character_set_name FROM information_schema.schemata "
                        "WHERE schema_name = DATABASE()"
                    )
                ).scalar()
                assert charset == "utf8mb4"
        engine.dispose()
    finally:
        drop_database(settings)


def test_ensure_database_exists_is_safe_when_racing(backend, tmp_path):
    settings = throwaway_settings(backend, tmp_path)
    barrier = threading.Barrier(4)
    outcomes, errors = [], []

    def create():
        barrier.wait()
        try:
            outcomes.append(DatabaseManager.ensure_database_exists(settings))
        except Exception as exc:  # noqa: BLE001 - the test reports any failure
            errors.append(exc)

    threads = [threading.Thread(target=create) for _ in range(4)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert outcomes.count(True) <= 1 and len(outcomes) == 4
    finally:
        drop_database(settings)


def test_create_tables_is_idempotent(database):
    created = DatabaseManager.create_tables()
    assert DatabaseManager.create_tables() == []
    assert set(created) <= set(inspect(database.engine).get_table_names())


def test_drop_without_force_and_without_terminal_drops_nothing(tables, monkeypatch):
    monkeypatch.setattr(DatabaseManager, "ask", staticmethod(lambda prompt: None))
    before = set(inspect(tables.engine).get_table_names())
    with pytest.raises(UnsafeOperationError, match="without confirmation"):
        DatabaseManager.drop_tables()
    assert set(inspect(tables.engine).get_table_names()) == before


def test_drop_with_a_wrong_answer_drops_nothing(tables, monkeypatch):
    monkeypatch.setattr(DatabaseManager, "ask", staticmethod(lambda prompt: "production"))
    before = set(inspect(tables.engine).get_table_names())
    with pytest.raises(UnsafeOperationError, match="is not the database name"):
        DatabaseManager.drop_tables()
    assert set(inspect(tables.engine).get_table_names()) == before


def test_drop_after_typing_the_name(tables, db_settings, monkeypatch):
    prompts = []
    monkeypatch.setattr(
        DatabaseManager, "ask", staticmethod(lambda p: prompts.append(p) or db_settings.database)
    )
    DatabaseManager.drop_tables()
    assert db_settings.database in prompts[0]
    assert (
        set(inspect(tables.engine).get_table_names())
        & set(t.name for t in _metadata().sorted_tables)
        == set()
    )


def _metadata():
    from studyhall.models import Base

    return Base.metadata


FOREIGN_KEY_STATE = {
    "mariadb": ("SELECT @@foreign_key_checks", 1),
    "sqlite": ("PRAGMA foreign_keys", 1),
    "postgresql": ("SHOW session_replication_role", "origin"),
}


def test_forced_drop_leaves_foreign_key_checks_on_everywhere(db_settings, backend):
    database = DatabaseManager.initialize(replace(db_settings, pool_size=3, max_overflow=0))
    DatabaseManager.create_tables()
    # Open three distinct connections so the pool holds three, before and after the drop.
    held = [database.engine.connect() for _ in range(3)]
    for conn in held:
        conn.close()
    DatabaseManager.drop_tables(force=True)
    query, expected = FOREIGN_KEY_STATE[backend]
    held = [database.engine.connect() for _ in range(3)]
    try:
        assert [c.exec_driver_sql(query).scalar() for c in held] == [expected] * 3
    finally:
        for conn in held:
            conn.close()


def test_populate_sample_data_through_the_manager(tables):
    summary = DatabaseManager.populate_sample_data()
    assert summary.loaded and summary.rows["users"] > 0
    assert not DatabaseManager.populate_sample_data().loaded  # the second load changes nothing


def test_initializing_again_with_other_settings_is_refused(database, db_settings):
    assert DatabaseManager.initialize(db_settings) is database  # the same settings: fine
    other = replace(db_settings, pool_size=db_settings.pool_size + 1)
    with pytest.raises(ConfigurationError, match="cleanup"):
        DatabaseManager.initialize(other)
    assert DatabaseManager.database() is database


def test_drop_forgets_the_migration_record_too(tables):
    # create_tables() recorded the head revision on the new database.
    assert "alembic_version" in inspect(tables.engine).get_table_names()
    dropped = DatabaseManager.drop_tables(force=True)
    assert "alembic_version" in dropped
    assert inspect(tables.engine).get_table_names() == []


# The seed's Basic Setup, `initialize(); create_tables()`, on a database that does not
# exist yet: initialize() validates, creates the database (the SQLite folder too), then
# builds the engine.


@pytest.fixture
def missing(backend, tmp_path, monkeypatch):
    """Settings of a database that does not exist yet, in DATABASE_URL; dropped after.

    On SQLite nothing is configured: the embedded ./instance/ path, in an empty folder.
    """
    if backend == "sqlite":
        settings = DatabaseManager.validate_environment()
        assert settings.source == "embedded" and not (tmp_path / "instance").exists()
    else:
        settings = throwaway_settings(backend, tmp_path)
        monkeypatch.setenv("DATABASE_URL", settings.url.render_as_string(hide_password=False))
    yield settings
    DatabaseManager.cleanup()
    drop_database(settings)


def test_basic_setup_works_on_a_database_that_does_not_exist_yet(missing):
    DatabaseManager.initialize()
    created = DatabaseManager.create_tables()
    assert set(created) == set(_metadata().tables)
    with DatabaseManager.get_session() as session:
        assert session.execute(text("SELECT 1")).scalar() == 1


def test_initialize_with_explicit_settings_creates_the_database(missing):
    DatabaseManager.initialize(missing)
    assert DatabaseManager.create_tables()
    assert DatabaseManager.ensure_database_exists() is False  # made by initialize()


def test_initialize_creating_the_database_is_thread_safe(missing):
    barrier = threading.Barrier(8)
    results, errors = [], []

    def call():
        barrier.wait()
        try:
            results.append(DatabaseManager.initialize())
        except Exception as exc:  # noqa: BLE001 - the test reports any failure
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len({id(db) for db in results}) == 1
    assert DatabaseManager.create_tables()


def test_initialize_on_an_unreachable_server_still_returns_and_fails_on_use(
    backend, tmp_path, caplog
):
    # An app may start before its database: initialize() warns, and the first use says why.
    if backend == "sqlite":
        blocker = tmp_path / "a-file"
        blocker.write_text("not a folder")
        url = f"sqlite:///{blocker / 'studyhall.sqlite3'}"
    else:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        url = throwaway_settings(backend, tmp_path).url.set(host="127.0.0.1", port=port)
        url = url.render_as_string(hide_password=False)
    settings = load_settings({"DATABASE_URL": str(url)})
    with caplog.at_level(logging.WARNING):
        database = DatabaseManager.initialize(settings)
    assert "cannot be used yet" in caplog.text
    with pytest.raises(DatabaseUnavailableError):
        with DatabaseManager.get_session() as session:
            session.execute(text("SELECT 1"))
    assert DatabaseManager.initialize() is database


# DDL waits a short, bounded time for other transactions' locks, and says who holds them.

HOLDER_ID = {
    "mariadb": "SELECT CONNECTION_ID()",
    "postgresql": "SELECT pg_backend_pid()",
}


def _run_in_thread(call, timeout=60):
    """Run `call` in a thread; (finished, result or exception)."""
    outcome = []

    def target():
        try:
            outcome.append(call())
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            outcome.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    return thread, outcome


def test_forced_drop_behind_an_open_transaction_gives_up_soon_and_names_the_holder(
    tables, backend
):
    holder = tables.engine.connect()
    try:
        # A transaction that touched a table: MySQL and PostgreSQL then hold a lock on it
        # until it ends; on SQLite only a writer blocks DDL.
        if backend == "sqlite":
            holder.exec_driver_sql("INSERT INTO subjects (name) VALUES ('held')")
        else:
            holder.exec_driver_sql("SELECT COUNT(*) FROM schools").scalar()
        holder_id = None
        if backend in HOLDER_ID:
            holder_id = holder.exec_driver_sql(HOLDER_ID[backend]).scalar()
        thread, outcome = _run_in_thread(
            lambda: DatabaseManager.drop_tables(force=True, lock_timeout=1)
        )
        # A hang (a day, on MariaDB) would go on; the bound is generous for a slow machine.
        assert not thread.is_alive(), "drop_tables(force=True) is still waiting for the lock"
    finally:
        holder.rollback()
        holder.close()
    thread.join(60)
    (error,) = outcome
    assert isinstance(error, ConflictError), repr(error)
    message = str(error)
    assert "held a lock on them for more than 1 s" in message
    assert "run this again" in message
    if holder_id is not None:
        assert str(holder_id) in message
    # Nothing was dropped, and once the holder is gone the drop works.
    assert set(_metadata().tables) <= set(inspect(tables.engine).get_table_names())
    assert set(DatabaseManager.drop_tables(force=True)) >= set(_metadata().tables)


LOCK_WAIT_SETTING = {
    "mariadb": ("SELECT @@SESSION.lock_wait_timeout", "SELECT @@GLOBAL.lock_wait_timeout"),
    "postgresql": ("SHOW lock_timeout", "SELECT '0'"),
    "sqlite": ("PRAGMA busy_timeout", f"SELECT {int(SQLITE_BUSY_TIMEOUT * 1000)}"),
}


def test_ddl_leaves_the_pooled_connections_lock_wait_as_it_was(db_settings, backend):
    database = DatabaseManager.initialize(replace(db_settings, pool_size=1, max_overflow=0))
    DatabaseManager.create_tables(lock_timeout=2)
    DatabaseManager.drop_tables(force=True, lock_timeout=2)
    query, expected = LOCK_WAIT_SETTING[backend]
    with database.engine.connect() as conn:
        assert conn.exec_driver_sql(query).scalar() == conn.exec_driver_sql(expected).scalar()


def test_two_forced_drops_at_once_both_end_cleanly(tables):
    barrier = threading.Barrier(2)

    def drop():
        barrier.wait()
        return DatabaseManager.drop_tables(force=True)

    runs = [_run_in_thread(drop, timeout=0) for _ in range(2)]
    for thread, _ in runs:
        thread.join(60)
        assert not thread.is_alive()
    outcomes = [outcome[0] for _, outcome in runs]
    assert not [o for o in outcomes if isinstance(o, BaseException)], outcomes
    # One drops everything (Alembic's record too); the other then finds nothing to drop.
    assert sorted(map(len, outcomes)) == [0, len(_metadata().tables) + 1]
    assert inspect(tables.engine).get_table_names() == []


def test_two_create_tables_at_once_both_end_cleanly(database):
    barrier = threading.Barrier(2)

    def create():
        barrier.wait()
        return DatabaseManager.create_tables()

    runs = [_run_in_thread(create, timeout=0) for _ in range(2)]
    for thread, _ in runs:
        thread.join(60)
        assert not thread.is_alive()
    outcomes = [outcome[0] for _, outcome in runs]
    assert not [o for o in outcomes if isinstance(o, BaseException)], outcomes
    assert sorted(map(len, outcomes)) == [0, len(_metadata().tables)]
    assert set(_metadata().tables) <= set(inspect(database.engine).get_table_names())


def test_ddl_waiting_for_another_create_or_drop_gives_up_naming_it(tables, backend):
    if backend == "sqlite":
        pytest.skip("SQLite's DDL lock is its write lock, tested above")
    holder = tables.engine.connect()
    try:
        # What a long create or drop holds while it runs: studyhall's DDL lock.
        if backend == "mariadb":
            name = schema._ddl_lock_name(holder)
            assert holder.execute(text("SELECT GET_LOCK(:n, 1)"), {"n": name}).scalar() == 1
        else:
            holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": schema._ADVISORY_KEY})
        holder_id = holder.exec_driver_sql(HOLDER_ID[backend]).scalar()
        with pytest.raises(ConflictError) as info:
            DatabaseManager.create_tables(lock_timeout=1)
    finally:
        holder.invalidate()  # ends its session, and the lock with it
        holder.close()
    assert re.search(rf"\b{holder_id}\b", str(info.value)), str(info.value)
    assert "run this again" in str(info.value)
    assert DatabaseManager.drop_tables(force=True)  # and now it can
