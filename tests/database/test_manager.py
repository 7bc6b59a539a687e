from __future__ import annotations

import threading
from dataclasses import replace

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.pool import NullPool

from studyhall.database import DatabaseManager
from studyhall.database.dialects import drop_database
from studyhall.database.errors import ConfigurationError, UnsafeOperationError
from tests.conftest import throwaway_settings


def test_initialize_is_idempotent_and_thread_safe(db_settings, monkeypatch):
    built = []
    original = DatabaseManager.validate_environment
    monkeypatch.setattr(
        DatabaseManager,
        "validate_environment",
        staticmethod(lambda: built.append(1) or db_settings),
    )
    barrier = threading.Barrier(16)
    results = []

    def call():
        barrier.wait()
        results.append(DatabaseManager.initialize())

    threads = [threading.Thread(target=call) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(built) == 1
    assert len({id(db) for db in results}) == 1
    assert len({id(db.engine) for db in results}) == 1
    assert original is not None


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
    with tables.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        conn.exec_driver_sql("INSERT INTO alembic_version VALUES ('0001')")
    dropped = DatabaseManager.drop_tables(force=True)
    assert "alembic_version" in dropped
    assert inspect(tables.engine).get_table_names() == []
