"""An async unit of work reuses an AsyncSession a finished unit closed, only when nothing
can tell (studyhall.db.aio.spare_sessions), on every backend."""

from __future__ import annotations

import asyncio
import weakref

import pytest
from sqlalchemy import event, select

from studyhall.database import DatabaseManager, get_current_async_session, with_db_session
from tests.database.async_notes import add_note, run
from tests.database.notes import committed_ids


@with_db_session
async def session_id() -> int:
    session = get_current_async_session()
    await session.execute(select(1))
    return id(session)


# asyncio's reader callback of a socket transport (asyncmy's) keeps a copy of the context
# that opened the connection: the session of the unit that opened it is held as long as the
# connection lives, and never reused (nothing else is).


def test_a_loops_units_reuse_a_session(database):
    async def main():
        return [await session_id() for _ in range(8)]

    assert len(set(run(main)[1:])) == 1


def test_async_with_reuses_too_though_the_caller_still_holds_the_last_one(database):
    async def main():
        ids = []
        for _ in range(8):
            async with DatabaseManager.get_async_session() as session:
                await session.execute(select(1))
                ids.append(id(session))
        return ids

    # `session` holds the last unit's session while the next one opens: two alternate.
    assert len(set(run(main)[1:])) == 2


def test_a_session_the_application_kept_is_never_handed_out_again(database):
    async def main():
        kept = []
        for _ in range(4):
            async with DatabaseManager.get_async_session() as session:
                await session.execute(select(1))
                assert all(session is not k for k in kept)
                kept.append(session)
        weak = []
        async with DatabaseManager.get_async_session() as session:
            weak.append(weakref.ref(session))
        del session
        async with DatabaseManager.get_async_session() as again:
            assert weak[0]() is not again
        return len({id(k) for k in kept})

    assert run(main) == 4


def test_a_reused_session_starts_clean_and_belongs_to_its_new_task(notes_db, db_settings):
    calls = []

    @with_db_session
    async def dirty():
        session = get_current_async_session()
        session.info["mine"] = 1
        event.listen(session.sync_session, "after_commit", lambda s: calls.append("listener"))
        await add_note(session, 1)
        return id(session)

    @with_db_session
    async def clean():
        session = get_current_async_session()
        await add_note(session, 2)
        return id(session), dict(session.info)

    async def main():
        await session_id()  # opens the connection (see above)
        first = await dirty()
        second, info = await asyncio.get_running_loop().create_task(clean())
        return first == second, info

    reused, info = run(main)
    assert reused  # the same object, in another task: its owner is that task now
    assert "mine" not in info
    assert calls == ["listener"]  # the listener added to the session alone went with it
    assert committed_ids(db_settings) == [1, 2]


def test_concurrent_units_never_share_a_session(database):
    @with_db_session
    async def hold():
        session = get_current_async_session()
        await session.execute(select(1))
        await asyncio.sleep(0.01)
        await session.execute(select(1))
        return id(session)

    async def main():
        for _ in range(3):
            ids = await asyncio.gather(*(hold() for _ in range(4)))
            assert len(set(ids)) == 4

    run(main)


def test_a_cancelled_units_session_is_reused_safely(notes_db, db_settings):
    @with_db_session
    async def slow(note_id):
        await add_note(get_current_async_session(), note_id)
        await asyncio.sleep(10)

    async def main():
        task = asyncio.get_running_loop().create_task(slow(1))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        del task
        async with DatabaseManager.get_async_session() as session:
            await add_note(session, 2)

    run(main)
    assert committed_ids(db_settings) == [2]
