"""The pytest plugin and its public API roll every test back, whatever the code commits."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from studyhall.config import DatabaseSettings
from studyhall.database import (
    DatabaseManager,
    SessionError,
    get_current_session,
    submit_with_session,
    with_db_session,
)
from studyhall.db import default
from studyhall.db.engine import Database
from studyhall.testing import rolled_back
from tests.database.notes import add_note, committed_ids, create_notes, notes

# A user's test module: it knows only the plugin's fixtures and studyhall's public API.
PLUGIN_USER = """
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from studyhall.database import (
    DatabaseManager,
    SessionError,
    get_current_session,
    on_commit,
    submit_with_session,
    with_db_session,
)
from tests.database.notes import add_note, create_notes, notes

CALLBACKS = []


@pytest.fixture(scope="session", autouse=True)
def notes_table(db_engine):
    create_notes(db_engine)


def ids(session):
    return session.scalars(select(notes.c.id).order_by(notes.c.id)).all()


@with_db_session
def save(note_id):
    add_note(get_current_session(), note_id)
    on_commit(lambda: CALLBACKS.append(note_id))


@with_db_session(isolation_level="SERIALIZABLE", retries=2)
def save_serializable(note_id):
    add_note(get_current_session(), note_id)


def test_commits_for_real(db_session):
    save(1)
    with DatabaseManager.get_session("requires_new") as other:
        add_note(other, 2)
    with pytest.raises(ValueError), DatabaseManager.get_session() as failing:
        add_note(failing, 3)
        raise ValueError
    with DatabaseManager.get_session() as s:
        with pytest.raises(KeyError), DatabaseManager.get_session("nested"):
            add_note(s, 4)
            raise KeyError
    save_serializable(5)
    assert ids(db_session) == [1, 2, 5]
    assert CALLBACKS == [1]


def test_a_requires_new_unit_used_before_the_unit_around_it(db_session):
    with DatabaseManager.get_session() as outer:
        with DatabaseManager.get_session("requires_new") as inner:
            add_note(inner, 6)
            add_note(outer, 7)
        add_note(outer, 8)
    assert ids(db_session) == [6, 7, 8]


def test_another_thread_is_refused_with_what_to_do(db_session):
    with ThreadPoolExecutor(1) as pool:
        with pytest.raises(SessionError, match="real commits"):
            submit_with_session(pool, save, 9).result()


def test_sees_nothing_of_the_tests_before(db_session):
    assert ids(db_session) == []
"""


def left_behind(settings: DatabaseSettings) -> tuple[list[int], int]:
    """What a fresh connection finds: the committed note ids, and how many other
    connections still hold the database (SQLite: 1 when its write lock is still taken)."""
    ids = committed_ids(settings)
    if settings.backend == "sqlite":
        probe = sqlite3.connect(settings.database or "", timeout=0, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
        except sqlite3.OperationalError:
            return ids, 1
        finally:
            probe.close()
        return ids, 0
    if settings.backend == "postgresql":
        query = (
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = :name AND pid <> pg_backend_pid()"
        )
    else:
        query = (
            "SELECT count(*) FROM information_schema.processlist "
            "WHERE db = :name AND id <> CONNECTION_ID()"
        )
    engine = create_engine(settings.url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            others = conn.execute(text(query), {"name": settings.database}).scalar_one()
    finally:
        engine.dispose()
    return ids, int(others)


def test_plugin_rolls_back_each_test_and_leaves_nothing_behind(
    pytester: pytest.Pytester, db_settings: DatabaseSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", db_settings.url.render_as_string(hide_password=False))
    pytester.makepyfile(test_user=PLUGIN_USER)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=4)
    assert left_behind(db_settings) == ([], 0)
    assert default.current() is None  # the process's default is restored


@with_db_session
def save(note_id: int) -> None:
    add_note(get_current_session(), note_id)


def test_rolled_back_is_the_public_api_under_the_fixtures(
    database: Database, db_settings: DatabaseSettings
) -> None:
    create_notes(database.engine)
    with rolled_back(database) as bound:
        assert DatabaseManager.database() is bound is default.current()
        assert bound.engine is database.engine and bound.settings == database.settings
        save(1)
        with DatabaseManager.get_session("requires_new") as session:
            add_note(session, 2)
        with DatabaseManager.get_session() as session:
            assert session.scalars(notes.select().with_only_columns(notes.c.id)).all() == [1, 2]
        assert committed_ids(db_settings) == []  # not committed: the test's one transaction
        with ThreadPoolExecutor(1) as pool:
            with pytest.raises(SessionError, match="another thread"):
                submit_with_session(pool, save, 3).result()
    assert default.current() is database
    assert database.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    DatabaseManager.cleanup()
    assert left_behind(db_settings) == ([], 0)


def test_bound_to_runs_every_unit_in_savepoints_of_the_callers_transaction(
    database: Database, db_settings: DatabaseSettings
) -> None:
    create_notes(database.engine)
    with database.engine.connect() as connection:
        outer = connection.begin()
        bound = database.bound_to(connection)
        with default.using(bound):
            save(1)
            with pytest.raises(ValueError), DatabaseManager.get_session() as session:
                add_note(session, 2)
                raise ValueError
            # The documented limit of one connection: a requires_new unit is a savepoint
            # inside the unit around it, so that unit's rollback undoes it too.
            with pytest.raises(KeyError), DatabaseManager.get_session():
                with DatabaseManager.get_session("requires_new") as session:
                    add_note(session, 3)
                raise KeyError
        bound.dispose()  # the engine is the caller's: its pool stays
        assert connection.execute(notes.select().with_only_columns(notes.c.id)).all() == [(1,)]
        assert outer.is_active
        outer.rollback()
    assert committed_ids(db_settings) == []
    with database.unit_of_work() as session:  # the engine still works
        add_note(session, 4)
    assert committed_ids(db_settings) == [4]
