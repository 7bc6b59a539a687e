from __future__ import annotations

import logging

import pytest
from sqlalchemy.exc import IntegrityError

from studyhall.database import DatabaseManager, get_current_session, on_commit, with_db_session
from tests.database.notes import Note, add_note, committed_ids


def test_runs_after_the_outermost_commit_in_order(notes_db, db_settings):
    calls = []

    @with_db_session
    def inner():
        add_note(get_current_session(), 2)
        on_commit(lambda: calls.append(("second", committed_ids(db_settings))))

    with DatabaseManager.get_session() as session:
        add_note(session, 1)
        on_commit(lambda: calls.append(("first", committed_ids(db_settings))))
        inner()
        assert calls == []  # the inner call did not commit anything
    assert calls == [("first", [1, 2]), ("second", [1, 2])]


def test_dropped_on_rollback(notes_db):
    calls = []
    with pytest.raises(ValueError), DatabaseManager.get_session() as session:
        add_note(session, 1)
        on_commit(lambda: calls.append("ran"))
        raise ValueError
    assert calls == []


def test_dropped_with_its_savepoint_only(notes_db, db_settings):
    calls = []
    with DatabaseManager.get_session() as session:
        on_commit(lambda: calls.append("outer"))
        with pytest.raises(ValueError), DatabaseManager.get_session("nested"):
            add_note(session, 2)
            on_commit(lambda: calls.append("rolled back"))
            raise ValueError
        with DatabaseManager.get_session("nested"):
            add_note(session, 3)
            on_commit(lambda: calls.append("kept"))
    assert calls == ["outer", "kept"]
    assert committed_ids(db_settings) == [3]


def test_dropped_when_the_outer_rolls_back_after_a_savepoint_was_released(notes_db, db_settings):
    calls = []
    with pytest.raises(ValueError), DatabaseManager.get_session() as session:
        add_note(session, 1)
        on_commit(lambda: calls.append("outer"))
        with DatabaseManager.get_session("nested"):
            add_note(session, 2)
            on_commit(lambda: calls.append("released savepoint"))
        raise ValueError
    assert calls == []
    assert committed_ids(db_settings) == []


def test_dropped_with_its_savepoint_when_a_flush_fails_there(notes_db, db_settings):
    calls = []
    with DatabaseManager.get_session() as session:
        session.add(Note(id=1, body="a"))
        on_commit(lambda: calls.append("outer"))
        with pytest.raises(IntegrityError), DatabaseManager.get_session("nested"):
            on_commit(lambda: calls.append("failed savepoint"))
            session.add(Note(id=1, body="duplicate"))
            session.flush()
    assert calls == ["outer"]
    assert committed_ids(db_settings) == [1]


def test_requires_new_runs_its_callbacks_at_its_own_commit(notes_db):
    calls = []
    with DatabaseManager.get_session():
        with DatabaseManager.get_session("requires_new"):
            on_commit(lambda: calls.append("inner"))
        assert calls == ["inner"]
        on_commit(lambda: calls.append("outer"))
    assert calls == ["inner", "outer"]


def test_failing_callback_is_logged_and_does_not_undo_the_commit(notes_db, db_settings, caplog):
    calls = []

    def broken():
        raise RuntimeError("mail server down")

    with caplog.at_level(logging.ERROR, logger="studyhall"):
        with DatabaseManager.get_session() as session:
            add_note(session, 1)
            on_commit(broken)
            on_commit(lambda: calls.append("after"))
    assert committed_ids(db_settings) == [1]
    assert calls == ["after"]
    assert "on_commit callback" in caplog.text and "mail server down" in caplog.text


def test_a_callback_may_open_its_own_unit_of_work(notes_db, db_settings):
    @with_db_session
    def follow_up():
        add_note(get_current_session(), 9)

    with DatabaseManager.get_session() as session:
        add_note(session, 1)
        on_commit(follow_up)
    assert committed_ids(db_settings) == [1, 9]


def test_callbacks_of_a_requires_new_unit_never_join_the_outer_one(notes_db, db_settings, caplog):
    @with_db_session
    def record(note_id):
        add_note(get_current_session(), note_id)

    @with_db_session
    def broken():
        add_note(get_current_session(), 8)
        raise RuntimeError("audit failed")

    with caplog.at_level(logging.ERROR, logger="studyhall"):
        with DatabaseManager.get_session() as outer:
            with DatabaseManager.get_session("requires_new"):
                on_commit(broken)
            add_note(outer, 1)  # a failing callback must not undo the outer unit
    assert committed_ids(db_settings) == [1]
    assert "audit failed" in caplog.text

    with pytest.raises(ValueError), DatabaseManager.get_session() as outer:
        with DatabaseManager.get_session("requires_new"):
            on_commit(lambda: record(9))
        assert get_current_session() is outer
        raise ValueError
    assert committed_ids(db_settings) == [1, 9]  # committed on its own, after the inner COMMIT
