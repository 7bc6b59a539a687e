"""The unit of work under asyncio: the sync matrices (propagation, read_only, on_commit,
retries) in async form, and the refusal of sync code on the loop."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from studyhall.database import (
    DatabaseManager,
    get_current_async_session,
    get_current_session,
    has_active_async_session,
    on_commit,
    with_db_session,
)
from studyhall.errors import (
    AsyncContextError,
    CrossThreadSessionError,
    NoActiveSessionError,
    ReadOnlyTransactionError,
    TransactionRolledBackError,
)
from tests.database.async_notes import add_note, run
from tests.database.notes import Note, committed_ids, notes
from tests.database.notes import add_note as add_note_sync
from tests.database.test_propagation import CASES, INNER, MATRIX, OUTER


@pytest.mark.parametrize(("mode", "outer_fails", "inner_fails"), CASES)
def test_nesting_matrix(notes_db, db_settings, mode, outer_fails, inner_fails):
    expected_ids, expected_error = MATRIX[mode][(outer_fails, inner_fails)]

    @with_db_session(propagation=mode)
    async def inner():
        session = get_current_async_session()
        await add_note(session, INNER)
        await session.flush()
        if inner_fails:
            raise ValueError("inner fails")

    @with_db_session
    async def outer():
        outer_session = get_current_async_session()
        try:
            await inner()  # first: SQLite lets one connection write at a time
        except ValueError:
            pass
        assert get_current_async_session() is outer_session
        await add_note(outer_session, OUTER)
        await outer_session.flush()
        if outer_fails:
            raise RuntimeError("outer fails")

    if expected_error is None:
        run(outer)
    else:
        with pytest.raises(expected_error):
            run(outer)
    assert committed_ids(db_settings) == sorted(expected_ids)


def test_get_async_session_takes_the_same_propagation(notes_db, db_settings):
    async def main():
        async with DatabaseManager.get_async_session() as outer:
            await add_note(outer, OUTER)
            with pytest.raises(ValueError):
                async with DatabaseManager.get_async_session("nested") as inner:
                    assert inner is outer
                    await add_note(inner, INNER)
                    raise ValueError
            async with DatabaseManager.get_async_session("required") as joined:
                assert joined is outer
        assert not has_active_async_session()

    run(main)
    assert committed_ids(db_settings) == [OUTER]


def test_mandatory_without_a_unit_raises(notes_db):
    @with_db_session(propagation="mandatory")
    async def needs_one():
        return 1

    with pytest.raises(NoActiveSessionError, match="get_async_session"):
        run(needs_one)


def test_read_only_refuses_writes_and_allows_reads(notes_db, db_settings):
    @with_db_session
    async def write(note_id):
        await add_note(get_current_async_session(), note_id)

    @with_db_session(read_only=True)
    async def read():
        return (await get_current_async_session().scalars(select(notes.c.id))).all()

    @with_db_session(read_only=True)
    async def sneaky_write():
        get_current_async_session().add(Note(id=5, body="no"))

    async def main():
        await write(1)
        assert await read() == [1]
        with pytest.raises(ReadOnlyTransactionError, match="read-only"):
            await sneaky_write()
        with pytest.raises(ReadOnlyTransactionError):
            async with DatabaseManager.get_async_session() as session:
                await add_note(session, 3)
                await sneaky_write()  # joins; its pending row is refused at its end

    run(main)
    assert committed_ids(db_settings) == [1]


def test_a_swallowed_joined_failure_rolls_back_the_unit(notes_db, db_settings):
    @with_db_session
    async def inner():
        raise ValueError("inner failed")

    @with_db_session
    async def outer():
        await add_note(get_current_async_session(), 1)
        try:
            await inner()
        except ValueError:
            pass
        with pytest.raises(TransactionRolledBackError):
            await add_note(get_current_async_session(), 2)

    with pytest.raises(TransactionRolledBackError, match="inner failed"):
        run(outer)
    assert committed_ids(db_settings) == []


def test_on_commit_runs_after_the_commit_and_is_dropped_on_rollback(notes_db, db_settings):
    seen = []

    @with_db_session
    async def write(note_id, fail=False):
        await add_note(get_current_async_session(), note_id)
        on_commit(lambda: seen.append((note_id, committed_ids(db_settings))))
        if fail:
            raise RuntimeError("rolled back")

    async def main():
        await write(1)
        with pytest.raises(RuntimeError):
            await write(2, fail=True)

    run(main)
    assert seen == [(1, [1])]  # after the COMMIT, which another connection sees
    assert committed_ids(db_settings) == [1]


def test_a_callback_dropped_with_its_savepoint(notes_db, db_settings):
    seen = []

    async def main():
        async with DatabaseManager.get_async_session() as session:
            await add_note(session, 1)
            on_commit(lambda: seen.append("outer"))
            with pytest.raises(ValueError):
                async with DatabaseManager.get_async_session("nested"):
                    on_commit(lambda: seen.append("savepoint"))
                    raise ValueError
        return seen

    assert run(main) == ["outer"]


def test_an_async_function_is_retried_in_a_fresh_transaction(notes_db, db_settings):
    from tests.database.test_retry import _Deadlock

    sessions = []

    @with_db_session(retries=2)
    async def flaky():
        session = get_current_async_session()
        sessions.append(session)
        await add_note(session, 7 + len(sessions))
        await asyncio.sleep(0)
        if len(sessions) == 1:
            raise OperationalError("UPDATE", {}, _Deadlock())
        return len(sessions)

    assert run(flaky) == 2
    assert sessions[0] is not sessions[1]
    assert committed_ids(db_settings) == [9]


def test_tasks_each_get_their_own_unit(notes_db, db_settings):
    tasks = 16

    @with_db_session
    async def work(note_id):
        session = get_current_async_session()
        await add_note(session, note_id)
        await asyncio.sleep(0)
        assert get_current_async_session() is session
        return session

    @with_db_session
    async def parent():
        mine = get_current_async_session()
        children = await asyncio.gather(*(work(i) for i in range(1, tasks + 1)))
        assert get_current_async_session() is mine
        return mine, children

    mine, children = run(parent)
    assert len({id(mine), *map(id, children)}) == tasks + 1
    assert committed_ids(db_settings) == list(range(1, tasks + 1))


def test_a_bare_child_task_cannot_use_its_parents_session(notes_db):
    async def bare_child():
        return get_current_async_session()

    @with_db_session
    async def parent():
        with pytest.raises(CrossThreadSessionError, match="Decorate the coroutine"):
            await asyncio.create_task(bare_child())

    run(parent)


def test_sync_code_on_the_loop_is_refused_with_advice(notes_db, db_settings):
    @with_db_session
    def sync_join():
        add_note_sync(get_current_session(), 2)

    @with_db_session
    async def outer():
        with pytest.raises(AsyncContextError, match="get_current_async_session"):
            get_current_session()
        with pytest.raises(AsyncContextError, match="run_sync"):
            sync_join()
        with pytest.raises(AsyncContextError), DatabaseManager.get_session():
            pass
        await add_note(get_current_async_session(), 1)

    run(outer)
    assert committed_ids(db_settings) == [1]


def test_sync_code_run_through_run_sync_joins_the_unit(notes_db, db_settings):
    @with_db_session
    def sync_join(note_id):
        session = get_current_session()
        add_note_sync(session, note_id)
        return session

    @with_db_session(propagation="requires_new")
    def sync_own():
        pass

    @with_db_session
    async def outer():
        session = get_current_async_session()
        joined = await session.run_sync(lambda _: sync_join(1))
        assert joined is session.sync_session
        with pytest.raises(AsyncContextError, match="requires_new"):
            await session.run_sync(lambda _: sync_own())
        assert committed_ids(db_settings) == []  # not committed by the joined call

    run(outer)
    assert committed_ids(db_settings) == [1]


def test_a_sync_failure_inside_run_sync_marks_the_unit_rollback_only(notes_db, db_settings):
    @with_db_session
    def sync_fails():
        add_note_sync(get_current_session(), 2)
        raise ValueError("sync failed")

    @with_db_session
    async def outer():
        session = get_current_async_session()
        await add_note(session, 1)
        with pytest.raises(ValueError):
            await session.run_sync(lambda _: sync_fails())

    with pytest.raises(TransactionRolledBackError, match="sync failed"):
        run(outer)
    assert committed_ids(db_settings) == []
