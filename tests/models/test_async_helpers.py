"""The awaiting twins of the model helpers, and lazy loads refused on the event loop."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from studyhall.database import DatabaseManager, InvalidFilterError, with_db_session
from studyhall.errors import AsyncContextError, NoActiveSessionError
from studyhall.models import Subject
from tests.database.async_notes import run


def test_the_async_helpers_read_and_write_in_the_unit(tables):
    async def main():
        async with DatabaseManager.get_async_session():
            made = await Subject.acreate(name="Algebra")
            await Subject.acreate(name="Biology")
            assert made.id is not None  # flushed
            assert await Subject.acount() == 2
            assert await Subject.acount(name="Algebra") == 1
            assert await Subject.aexists(name="Biology")
            assert not await Subject.aexists(name="Chemistry")
            assert await Subject.aget(made.id) is made
            first = await Subject.aget_by(name="Algebra", first=True)
            assert first is made
            assert [s.name for s in await Subject.aget_by(limit=1)] == ["Algebra"]
            assert len(await Subject.aget_by(name=["Algebra", "Biology"])) == 2

        @with_db_session(read_only=True)
        async def count():
            return await Subject.acount()

        return await count()

    assert run(main) == 2  # committed by the unit


def test_the_async_helpers_check_filters_like_the_sync_ones(tables):
    async def main():
        async with DatabaseManager.get_async_session():
            with pytest.raises(InvalidFilterError, match="cannot be filtered on 'nope'"):
                await Subject.aget_by(nope=1)
            with pytest.raises(InvalidFilterError, match="either first or limit"):
                await Subject.aget_by(first=True, limit=2)

    run(main)


def test_the_async_helpers_need_an_async_unit(tables):
    async def main():
        await Subject.acount()

    with pytest.raises(NoActiveSessionError, match="get_async_session"):
        run(main)


def test_the_sync_helpers_are_refused_on_the_loop(tables):
    async def main():
        async with DatabaseManager.get_async_session():
            with pytest.raises(AsyncContextError, match="aget_by"):
                Subject.count()

    run(main)


def test_a_lazy_load_on_the_loop_raises_with_advice(tables):
    async def main():
        async with DatabaseManager.get_async_session() as session:
            subject = await Subject.acreate(name="Algebra")
            session.expunge_all()
            subject = await Subject.aget_by(name="Algebra", first=True)
            with pytest.raises(AsyncContextError, match="selectinload") as raised:
                _ = subject.courses
            assert "greenlet_spawn" not in str(raised.value)
            assert await subject.awaitable_attrs.courses == []
            loaded = await session.scalar(
                select(Subject)
                .options(selectinload(Subject.courses))
                .where(Subject.name == "Algebra")
                .execution_options(populate_existing=True)
            )
            assert loaded.courses == []

    run(main)
