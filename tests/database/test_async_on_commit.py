"""on_commit in async units of work: coroutine callbacks are awaited in the owner's task
after the outermost real COMMIT; sync ones run as in sync units (tests/database/test_on_commit.py
in async form)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from studyhall.database import (
    DatabaseManager,
    get_current_async_session,
    has_active_async_session,
    on_commit,
    with_db_session,
)
from studyhall.errors import AsyncContextError
from tests.database.async_notes import add_note, run
from tests.database.notes import committed_ids


def test_coroutine_callbacks_are_awaited_after_the_outermost_commit_in_order(
    notes_db, db_settings
):
    calls = []

    async def first():
        await asyncio.sleep(0)  # really awaited: a callback that only ran to its first await
        calls.append(("first", committed_ids(db_settings)))  # would not get here

    @with_db_session
    async def inner():
        await add_note(get_current_async_session(), 2)

        async def second():
            calls.append(("second", committed_ids(db_settings)))

        on_commit(second)

    async def main():
        async with DatabaseManager.get_async_session() as session:
            await add_note(session, 1)
            on_commit(first)
            on_commit(lambda: calls.append(("sync", committed_ids(db_settings))))
            await inner()
            assert calls == []  # the joined call committed nothing
        return calls

    # Sync callbacks run at the unit's end, as in sync units; coroutine ones after it.
    assert run(main) == [
        ("sync", [1, 2]),
        ("first", [1, 2]),
        ("second", [1, 2]),
    ]


def test_a_callback_returning_an_awaitable_has_it_awaited(notes_db, db_settings):
    calls = []

    async def record(what):
        await asyncio.sleep(0)
        calls.append(what)

    async def main():
        async with DatabaseManager.get_async_session() as session:
            owner = asyncio.current_task()

            async def in_owner_task():
                calls.append(asyncio.current_task() is owner)

            await add_note(session, 1)
            on_commit(lambda: record("lambda"))
            on_commit(in_owner_task)
        return calls

    assert run(main) == ["lambda", True]


def test_dropped_on_rollback_and_with_their_savepoint(notes_db, db_settings):
    calls = []

    async def append(what):
        calls.append(what)

    async def main():
        with pytest.raises(ValueError):
            async with DatabaseManager.get_async_session() as session:
                await add_note(session, 1)
                on_commit(lambda: append("rolled back"))
                raise ValueError
        async with DatabaseManager.get_async_session() as session:
            on_commit(lambda: append("outer"))
            with pytest.raises(ValueError):
                async with DatabaseManager.get_async_session("nested"):
                    await add_note(session, 2)
                    on_commit(lambda: append("savepoint rolled back"))
                    raise ValueError
            async with DatabaseManager.get_async_session("nested"):
                await add_note(session, 3)
                on_commit(lambda: append("kept"))
        return calls

    assert run(main) == ["outer", "kept"]
    assert committed_ids(db_settings) == [3]


def test_a_failing_coroutine_callback_is_logged_and_the_commit_stands(
    notes_db, db_settings, caplog
):
    calls = []

    async def broken():
        await asyncio.sleep(0)
        raise RuntimeError("mail server down")

    async def after():
        calls.append("after")

    async def main():
        async with DatabaseManager.get_async_session() as session:
            await add_note(session, 1)
            on_commit(broken)
            on_commit(after)

    with caplog.at_level(logging.ERROR, logger="studyhall"):
        run(main)
    assert committed_ids(db_settings) == [1]
    assert calls == ["after"]
    assert "on_commit callback" in caplog.text and "mail server down" in caplog.text


def test_callbacks_of_a_requires_new_unit_run_at_its_commit_outside_the_outer_unit(
    notes_db, db_settings
):
    seen = []

    @with_db_session
    async def record(note_id):
        seen.append(has_active_async_session())  # a unit of its own, not the outer one
        await add_note(get_current_async_session(), note_id)

    async def main():
        with pytest.raises(ValueError):
            async with DatabaseManager.get_async_session() as outer:
                async with DatabaseManager.get_async_session("requires_new"):
                    on_commit(lambda: record(9))
                assert seen == [True]  # awaited at the inner unit's own COMMIT
                assert get_current_async_session() is outer
                await add_note(outer, 1)
                raise ValueError

    run(main)
    assert committed_ids(db_settings) == [9]  # committed on its own; the outer rolled back


def test_a_callback_opens_its_own_unit_of_work(notes_db, db_settings):
    @with_db_session
    async def follow_up():
        await add_note(get_current_async_session(), 9)

    async def main():
        async with DatabaseManager.get_async_session() as session:
            await add_note(session, 1)
            on_commit(follow_up)

    run(main)
    assert committed_ids(db_settings) == [1, 9]


def test_callbacks_still_run_when_the_owner_is_cancelled_after_commit_began(notes_db, db_settings):
    ran = asyncio.Event
    calls = []

    async def main():
        done = ran()

        async def callback():
            calls.append(committed_ids(db_settings))
            done.set()

        async def unit():
            async with DatabaseManager.get_async_session() as session:
                await add_note(session, 1)
                on_commit(callback)
                # The owner's end begins with its first await: cancel the task there.
                asyncio.get_running_loop().call_soon(task.cancel)

        task = asyncio.get_running_loop().create_task(unit())
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(done.wait(), timeout=30)
        return calls

    assert run(main) == [[1]]  # committed, and the callback ran in a task of its own


def test_a_coroutine_callback_in_a_sync_unit_is_refused(notes_db):
    async def never():
        pass

    with DatabaseManager.get_session(), pytest.raises(AsyncContextError, match="async"):
        on_commit(never)


def test_an_awaitable_returned_in_a_sync_unit_is_logged_and_not_run(notes_db, caplog):
    calls = []

    async def record():
        calls.append("ran")

    with caplog.at_level(logging.ERROR, logger="studyhall"):
        with DatabaseManager.get_session():
            on_commit(lambda: record())
    assert calls == []
    assert "returned an awaitable in a synchronous unit of work" in caplog.text
