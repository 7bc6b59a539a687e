from __future__ import annotations

import pytest

from studyhall.database import DatabaseManager
from studyhall.database.session_context import (
    SessionContext,
    get_current_session,
    has_active_session,
    reset_current_session,
    set_current_session,
)
from studyhall.errors import NoActiveSessionError
from tests.database.notes import add_note, committed_ids


def test_no_session_error_says_how_to_open_one():
    assert not has_active_session()
    with pytest.raises(NoActiveSessionError) as info:
        get_current_session()
    assert isinstance(info.value, RuntimeError)
    assert "with DatabaseManager.get_session():" in str(info.value)
    assert "@with_db_session" in str(info.value)


def test_set_and_reset_by_token(notes_db):
    session = notes_db.session_factory()
    token = set_current_session(session)
    assert get_current_session() is session
    reset_current_session(token)
    assert not has_active_session()
    session.close()


def test_nesting_restores_the_outer_session(notes_db):
    outer, inner = notes_db.session_factory(), notes_db.session_factory()
    with SessionContext(outer) as s1:
        assert get_current_session() is s1 is outer
        with SessionContext(inner) as s2:
            assert get_current_session() is s2 is inner
        assert get_current_session() is outer
    assert not has_active_session()


def test_commit_on_success(notes_db, db_settings):
    with SessionContext(notes_db.session_factory()) as session:
        add_note(session, 1)
    assert committed_ids(db_settings) == [1]


def test_no_commit_without_auto_commit(notes_db, db_settings):
    with SessionContext(notes_db.session_factory(), auto_commit=False) as session:
        add_note(session, 1)
    assert committed_ids(db_settings) == []


@pytest.mark.parametrize("error", [ValueError("boom"), KeyboardInterrupt(), SystemExit(3)])
def test_rollback_on_any_exception(notes_db, db_settings, error):
    session = notes_db.session_factory()
    with pytest.raises(type(error)), SessionContext(session):
        add_note(session, 1)
        session.flush()
        raise error
    assert committed_ids(db_settings) == []
    assert not has_active_session()
    assert notes_db.engine.pool.checkedout() == 0


def test_get_session_commits_and_rolls_back(notes_db, db_settings):
    with DatabaseManager.get_session() as session:
        assert get_current_session() is session
        add_note(session, 1)
    with pytest.raises(LookupError), DatabaseManager.get_session() as session:
        add_note(session, 2)
        raise LookupError
    assert committed_ids(db_settings) == [1]
