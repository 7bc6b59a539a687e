from __future__ import annotations

import asyncio
import inspect
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
from sqlalchemy import select

from studyhall.database import (
    DatabaseManager,
    get_current_async_session,
    get_current_session,
    with_db_session,
)
from studyhall.database.session_context import has_active_session
from studyhall.errors import CrossThreadSessionError, TransactionRolledBackError
from tests.database.async_notes import add_note as add_note_async
from tests.database.async_notes import run as run_async
from tests.database.notes import add_note, committed_ids, create_notes, notes


def test_wraps_name_doc_and_signature():
    @with_db_session
    def lookup(student_id: int, *, active: bool = True) -> str:
        """Find a student."""
        return ""

    assert lookup.__name__ == "lookup"
    assert lookup.__doc__ == "Find a student."
    assert inspect.signature(lookup) == inspect.signature(lookup.__wrapped__)
    assert list(inspect.signature(lookup).parameters) == ["student_id", "active"]


def test_opens_commits_and_closes(notes_db, db_settings):
    @with_db_session
    def write():
        add_note(get_current_session(), 1)
        return get_current_session()

    session = write()
    assert committed_ids(db_settings) == [1]
    assert not has_active_session()
    assert session.get_transaction() is None


def test_inner_call_joins_and_only_the_outer_commits(notes_db, db_settings):
    seen = []

    @with_db_session
    def inner(note_id):
        seen.append(get_current_session())
        add_note(get_current_session(), note_id)

    @with_db_session
    def outer():
        inner(1)
        assert committed_ids(db_settings) == []  # not committed by the inner call
        inner(2)
        seen.append(get_current_session())

    outer()
    assert seen[0] is seen[1] is seen[2]
    assert committed_ids(db_settings) == [1, 2]


def test_inner_exception_rolls_back_the_whole_unit(notes_db, db_settings):
    @with_db_session
    def inner():
        add_note(get_current_session(), 2)
        raise ValueError("inner failed")

    @with_db_session
    def outer():
        add_note(get_current_session(), 1)
        inner()

    with pytest.raises(ValueError, match="inner failed"):
        outer()
    assert committed_ids(db_settings) == []


def test_swallowed_inner_exception_still_rolls_back_and_says_so(notes_db, db_settings):
    @with_db_session
    def inner():
        add_note(get_current_session(), 2)
        raise ValueError("inner failed")

    @with_db_session
    def outer():
        add_note(get_current_session(), 1)
        try:
            inner()
        except ValueError:
            pass
        add_note(get_current_session(), 3)

    with pytest.raises(TransactionRolledBackError, match="rolled back"):
        outer()
    assert committed_ids(db_settings) == []


@pytest.fixture
def wide_db(db_settings):
    """A manager whose pool holds a connection for each of 32 threads."""
    database = DatabaseManager.initialize(replace(db_settings, pool_size=32, pool_timeout=60))
    create_notes(database.engine)
    return database


def test_32_threads_each_see_only_their_own_session(wide_db, db_settings):
    threads = 32
    # SQLite has one writer at a time (a writable unit begins IMMEDIATE): there one thread
    # writes and the others read in read-only units; on a server every thread writes.
    writers = 1 if db_settings.backend == "sqlite" else threads
    rows_exist = threading.Barrier(threads)  # every writer has flushed its row
    everyone_looked = threading.Barrier(threads)  # nobody commits before all have read

    def look(session):
        rows_exist.wait(timeout=30)
        visible = session.scalars(select(notes.c.id).order_by(notes.c.id)).all()
        everyone_looked.wait(timeout=30)
        assert get_current_session() is session
        return session, visible

    @with_db_session
    def write(note_id):
        session = get_current_session()
        add_note(session, note_id)
        session.flush()
        return look(session)

    @with_db_session(read_only=True)
    def read(_):
        return look(get_current_session())

    def work(n):
        return write(n) if n <= writers else read(n)

    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(work, range(1, threads + 1)))
    assert len({id(session) for session, _ in results}) == threads
    for n, (_, visible) in enumerate(results, start=1):
        # Every writer's row existed, uncommitted, when each thread looked: a thread sees
        # its own row and none of the others'.
        assert visible == ([n] if n <= writers else []), (n, visible)
    assert committed_ids(db_settings) == list(range(1, writers + 1))


def test_32_asyncio_tasks_each_see_only_their_own_session(notes_db, db_settings):
    tasks = 32

    async def run_all():
        inside = asyncio.Barrier(tasks)

        @with_db_session
        async def work(note_id):
            session = get_current_async_session()
            await inside.wait()  # every task is now inside its unit of work at once
            # Awaited: an async unit never blocks the loop (SQLite's lock waits in
            # aiosqlite's thread), so the other tasks go on meanwhile.
            await add_note_async(session, note_id)
            assert get_current_async_session() is session
            return session

        return await asyncio.gather(*(work(i) for i in range(1, tasks + 1)))

    sessions = run_async(run_all)
    assert len({id(s) for s in sessions}) == tasks
    assert committed_ids(db_settings) == list(range(1, tasks + 1))


def test_a_session_used_from_another_thread_is_refused(notes_db, db_settings):
    with DatabaseManager.get_session() as session:
        add_note(session, 1)
        with ThreadPoolExecutor(1) as pool:
            future = pool.submit(lambda: session.execute(select(notes.c.id)).all())
            with pytest.raises(CrossThreadSessionError, match="another thread"):
                future.result()
    assert committed_ids(db_settings) == [1]


def test_a_child_task_opens_its_own_unit_instead_of_joining_its_parent(notes_db, db_settings):
    @with_db_session
    async def child(note_id):
        await add_note_async(get_current_async_session(), note_id)
        return get_current_async_session()

    async def bare_child():
        return get_current_async_session()

    @with_db_session
    async def parent():
        mine = get_current_async_session()
        sessions = await asyncio.gather(child(1), child(2))
        with pytest.raises(CrossThreadSessionError, match="Decorate the coroutine"):
            await asyncio.create_task(bare_child())
        assert get_current_async_session() is mine
        return mine, sessions

    mine, sessions = run_async(parent)
    assert len({id(mine), *map(id, sessions)}) == 3
    assert committed_ids(db_settings) == [1, 2]


def test_a_function_sent_to_a_thread_with_its_context_opens_its_own_unit(notes_db, db_settings):
    @with_db_session
    def in_thread(note_id):
        add_note(get_current_session(), note_id)
        return get_current_session()

    @with_db_session
    async def parent():
        assert not await asyncio.to_thread(has_active_session)
        return get_current_async_session(), await asyncio.to_thread(in_thread, 5)

    mine, theirs = run_async(parent)
    assert mine.sync_session is not theirs
    assert committed_ids(db_settings) == [5]
