"""Rollback-only is real: once a joined call fails, nothing more of its unit of work runs.

Findings 1-3 of the issue "The core keeps every promise": a swallowed inner failure used to
roll back at once and let the session begin a new transaction, so later work committed.
"""

from __future__ import annotations

import os

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.pool import NullPool

from studyhall.database import (
    DatabaseManager,
    SessionContext,
    get_current_session,
    on_commit,
    with_db_session,
)
from studyhall.errors import SessionError, TransactionRolledBackError
from tests.database.notes import add_note, committed_ids, notes


@with_db_session
def failing_insert(note_id: int) -> None:
    add_note(get_current_session(), note_id)
    raise ValueError(f"inner {note_id} fails")


def test_swallowed_joined_failure_refuses_later_work_and_commit(notes_db, db_settings):
    seen: list[str] = []

    @with_db_session
    def outer() -> None:
        session = get_current_session()
        add_note(session, 1)
        with pytest.raises(ValueError):
            failing_insert(2)
        with pytest.raises(TransactionRolledBackError, match="inner 2 fails") as refused:
            add_note(session, 3)
        seen.append(str(refused.value))
        with pytest.raises(TransactionRolledBackError):
            session.commit()
        with pytest.raises(TransactionRolledBackError):
            session.rollback()
        with pytest.raises(TransactionRolledBackError):
            session.flush()
        with pytest.raises(TransactionRolledBackError):
            session.scalars(select(notes.c.id)).all()

    with pytest.raises(TransactionRolledBackError):
        outer()
    assert committed_ids(db_settings) == []
    assert "ValueError" in seen[0]


def test_nested_unit_with_swallowed_joined_failure_is_undone_whole(notes_db, db_settings):
    @with_db_session(propagation="nested")
    def nested() -> None:
        session = get_current_session()
        add_note(session, 1)
        with pytest.raises(ValueError):
            failing_insert(2)
        add_note(session, 3)  # refused: the nested unit already failed

    @with_db_session
    def outer() -> None:
        session = get_current_session()
        add_note(session, 0)
        with pytest.raises(TransactionRolledBackError):
            nested()
        add_note(session, 4)  # the outer unit is intact and goes on

    outer()
    assert committed_ids(db_settings) == [0, 4]


def test_nested_unit_whose_body_swallows_the_refusal_still_fails(notes_db, db_settings):
    @with_db_session(propagation="nested")
    def nested() -> None:
        session = get_current_session()
        add_note(session, 1)
        with pytest.raises(ValueError):
            failing_insert(2)
        with pytest.raises(TransactionRolledBackError):
            add_note(session, 3)

    @with_db_session
    def outer() -> None:
        add_note(get_current_session(), 0)
        with pytest.raises(TransactionRolledBackError, match="nested"):
            nested()
        add_note(get_current_session(), 4)

    outer()
    assert committed_ids(db_settings) == [0, 4]


def test_mark_dies_with_the_transaction_not_the_session(notes_db, db_settings):
    session = notes_db.session_factory()
    with pytest.raises(TransactionRolledBackError):
        with SessionContext(session, auto_commit=True):
            add_note(session, 1)
            with pytest.raises(ValueError):
                failing_insert(2)
    with SessionContext(session, auto_commit=True):
        add_note(session, 5)
    assert committed_ids(db_settings) == [5]


def test_joined_commit_is_refused_and_fails_the_unit(notes_db, db_settings):
    @with_db_session
    def sneaky_commit() -> None:
        add_note(get_current_session(), 2)
        get_current_session().commit()

    @with_db_session
    def outer() -> None:
        add_note(get_current_session(), 1)
        with pytest.raises(SessionError, match="owner"):
            sneaky_commit()

    with pytest.raises(TransactionRolledBackError):
        outer()
    assert committed_ids(db_settings) == []


def test_joined_get_session_commit_is_refused(notes_db, db_settings):
    with pytest.raises(TransactionRolledBackError):
        with DatabaseManager.get_session() as session:
            add_note(session, 1)
            with pytest.raises(SessionError, match="owner"):
                with DatabaseManager.get_session() as joined:
                    joined.commit()
    assert committed_ids(db_settings) == []


def test_owner_may_commit_and_go_on_when_nothing_failed(notes_db, db_settings):
    with DatabaseManager.get_session() as session:
        add_note(session, 1)
        session.commit()
        add_note(session, 2)
    assert committed_ids(db_settings) == [1, 2]


def test_on_commit_callbacks_of_a_failed_unit_never_run(notes_db, db_settings):
    ran: list[str] = []

    @with_db_session
    def outer() -> None:
        on_commit(lambda: ran.append("outer"))
        with pytest.raises(ValueError):
            failing_insert(2)

    with pytest.raises(TransactionRolledBackError):
        outer()
    assert ran == []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_never_joins_the_parents_unit(notes_db, db_settings):
    read, write = os.pipe()
    with DatabaseManager.get_session() as session:
        add_note(session, 1)
        session.flush()
        pid = os.fork()
        if pid == 0:  # the child: its own unit, its own connection
            code = 1
            try:

                @with_db_session(read_only=True)
                def child_work() -> bool:
                    # Joined, it would see the parent's uncommitted note 1.
                    seen = get_current_session().scalars(select(notes.c.id)).all()
                    return get_current_session() is session or 1 in seen

                code = 2 if child_work() else 0
            except BaseException:
                code = 3
            finally:
                os.write(write, bytes([code]))
                os._exit(0)
        os.waitpid(pid, 0)
        child_code = os.read(read, 1)[0]
        # The parent's unit is untouched by the child and still works.
        assert session.scalars(select(notes.c.id).order_by(notes.c.id)).all()[:1] == [1]
    os.close(read)
    os.close(write)
    assert child_code == 0
    assert 1 in committed_ids(db_settings)


@pytest.mark.parametrize("backend", ["mariadb"], indirect=True)
def test_a_swallowed_conflict_is_retried_by_the_owner(notes_db, db_settings):
    with notes_db.engine.begin() as conn:
        conn.execute(notes.insert().values(id=1, body="hot"))
    holder = create_engine(db_settings.url, poolclass=NullPool).connect()
    holder.execute(text("UPDATE notes SET body = 'held' WHERE id = 1"))  # holds the row lock
    attempts: list[int] = []

    @with_db_session
    def bump() -> None:
        session = get_current_session()
        session.execute(text("SET SESSION innodb_lock_wait_timeout = 1"))
        session.execute(text("UPDATE notes SET body = 'bumped' WHERE id = 1"))

    @with_db_session(retries=2)
    def owner() -> None:
        attempts.append(1)
        try:
            bump()  # a lock wait timeout (1205) on the first attempt
        except Exception:
            holder.rollback()  # the holder gives up its lock; the caller swallows the error
        add_note(get_current_session(), 2)

    try:
        owner()
    finally:
        holder.close()
    assert len(attempts) == 2  # the first attempt was marked rollback-only, then retried
    assert committed_ids(db_settings) == [1, 2]
