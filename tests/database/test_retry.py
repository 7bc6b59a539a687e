from __future__ import annotations

import asyncio
import threading
from dataclasses import replace

import pytest
from sqlalchemy import event, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from studyhall.database import (
    DatabaseManager,
    get_current_async_session,
    get_current_session,
    with_db_session,
)
from studyhall.errors import ConfigurationError
from tests.database.async_notes import add_note as add_note_async
from tests.database.async_notes import run as run_async
from tests.database.notes import Note, add_note, committed_ids, create_notes, notes


@pytest.fixture
def notes_db(db_settings):
    database = DatabaseManager.initialize(replace(db_settings, pool_size=4))
    create_notes(database.engine)
    with DatabaseManager.get_session() as session:
        add_note(session, 1, "a")
        add_note(session, 2, "b")
    return database


@pytest.mark.parametrize("backend", ["mariadb", "postgresql"], indirect=True)
def test_a_real_deadlock_is_retried(notes_db, db_settings, caplog):
    barrier = threading.Barrier(2)
    attempts = {"first": 0, "second": 0}
    errors = []

    @with_db_session(retries=3)
    def lock_both(name, first, second, audit_id):
        attempts[name] += 1
        session = get_current_session()
        session.execute(update(notes).where(notes.c.id == first).values(body=name))
        if attempts[name] == 1:
            barrier.wait(timeout=10)  # both hold their first row: a deadlock follows
        session.execute(update(notes).where(notes.c.id == second).values(body=name))
        add_note(session, audit_id, name)

    def run(*args):
        try:
            lock_both(*args)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=run, args=("first", 1, 2, 10)),
        threading.Thread(target=run, args=("second", 2, 1, 20)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(attempts.values()) == [1, 2]  # exactly one was retried, once
    assert committed_ids(db_settings) == [1, 2, 10, 20]  # no duplicate audit rows
    assert "lock_both (attempt 2 of 4)" in caplog.text


@pytest.mark.parametrize("backend", ["mariadb", "postgresql"], indirect=True)
def test_a_deadlock_inside_a_nested_unit_is_retried(notes_db, db_settings):
    # MySQL rolls back the whole transaction on a deadlock, savepoints included: the
    # deadlock, not the failed ROLLBACK TO SAVEPOINT, must reach the retry loop.
    barrier = threading.Barrier(2)
    attempts = {"nested": 0, "heavy": 0}
    errors = []

    @with_db_session(retries=3)
    def nested_victim():
        attempts["nested"] += 1
        session = get_current_session()
        add_note(session, 10, "audit")
        with DatabaseManager.get_session("nested"):
            session.execute(update(notes).where(notes.c.id == 1).values(body="nested"))
            if attempts["nested"] == 1:
                barrier.wait(timeout=10)
            session.execute(update(notes).where(notes.c.id == 2).values(body="nested"))

    @with_db_session(retries=3)
    def heavy():
        attempts["heavy"] += 1
        session = get_current_session()
        for note_id in range(100, 140):  # the larger transaction: InnoDB spares it
            add_note(session, note_id)
        session.execute(update(notes).where(notes.c.id == 2).values(body="heavy"))
        if attempts["heavy"] == 1:
            barrier.wait(timeout=10)
        session.execute(update(notes).where(notes.c.id == 1).values(body="heavy"))

    def run(fn):
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(fn,)) for fn in (nested_victim, heavy)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(attempts.values()) == [1, 2]
    assert committed_ids(db_settings) == [1, 2, 10, *range(100, 140)]


def test_a_non_retryable_error_is_raised_at_once(notes_db):
    calls = []

    @with_db_session(retries=5)
    def duplicate():
        calls.append(1)
        add_note(get_current_session(), 1)

    with pytest.raises(IntegrityError):
        duplicate()
    assert calls == [1]


def test_a_failure_during_commit_is_never_retried(notes_db, db_settings):
    calls = []
    database = DatabaseManager.database()

    def deadlock_at_commit(session):
        raise OperationalError("COMMIT", {}, _Deadlock())

    @with_db_session(retries=5)
    def write():
        calls.append(1)
        get_current_session().add(Note(id=3, body="c"))

    event.listen(database.session_factory.class_, "before_commit", deadlock_at_commit)
    try:
        with pytest.raises(OperationalError):
            write()
    finally:
        event.remove(database.session_factory.class_, "before_commit", deadlock_at_commit)
    assert calls == [1]
    assert committed_ids(db_settings) == [1, 2]


class _Deadlock(Exception):
    """Looks like MySQL's deadlock error (1213) to the retry classifier."""

    def __init__(self) -> None:
        super().__init__(1213, "Deadlock found when trying to get lock")


def test_joined_calls_never_retry_on_their_own(notes_db):
    calls = []

    @with_db_session(retries=3)
    def inner():
        calls.append(1)
        raise OperationalError("SELECT", {}, _Deadlock())

    @with_db_session
    def outer():
        inner()

    with pytest.raises(OperationalError):
        outer()
    assert calls == [1]


def test_retries_are_validated():
    with pytest.raises(ConfigurationError, match="retries=-1"):
        with_db_session(retries=-1)


def test_retry_runs_the_whole_function_in_a_fresh_transaction(notes_db, db_settings):
    calls = []

    @with_db_session(retries=2)
    def flaky():
        calls.append(get_current_session())
        add_note(get_current_session(), 7 + len(calls))
        if len(calls) == 1:
            raise OperationalError("UPDATE", {}, _Deadlock())
        return get_current_session().scalars(select(notes.c.id)).all()

    assert flaky() == [1, 2, 9]  # the first attempt's row 8 was rolled back
    assert calls[0] is not calls[1]
    assert committed_ids(db_settings) == [1, 2, 9]


def test_an_async_function_is_retried_too(notes_db, db_settings):
    calls = []

    @with_db_session(retries=2)
    async def flaky():
        calls.append(get_current_async_session())
        await add_note_async(get_current_async_session(), 7 + len(calls))
        await asyncio.sleep(0)
        if len(calls) == 1:
            raise OperationalError("UPDATE", {}, _Deadlock())
        return len(calls)

    assert run_async(flaky) == 2
    assert committed_ids(db_settings) == [1, 2, 9]
