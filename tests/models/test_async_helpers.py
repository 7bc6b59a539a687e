"""The awaiting twins of the model helpers, and lazy loads refused on the event loop."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from studyhall.database import DatabaseManager, InvalidFilterError, with_db_session
from studyhall.errors import AsyncContextError, NoActiveSessionError
from studyhall.models import Subject
from studyhall.models.errors import InvalidCursorError
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


NAMES = ["Algebra", "Biology", "Chemistry", "Drama", "Economics"]


def test_the_async_pages_are_the_sync_ones(tables):
    async def main():
        async with DatabaseManager.get_async_session() as session:
            for name in NAMES:
                await Subject.acreate(name=name)
            numbered = await Subject.apage(page=2, per_page=2, count=True, order_by="-name")
            expected = await session.run_sync(
                lambda _: Subject.page(page=2, per_page=2, count=True, order_by="-name")
            )
            assert numbered == expected
            assert [s.name for s in numbered.items] == ["Chemistry", "Biology"]
            assert (numbered.total, numbered.pages, numbered.has_next) == (5, 3, True)

            seen, after = [], None
            while True:
                page = await Subject.akeyset_page(after=after, per_page=2, order_by="name")
                seen.extend(s.name for s in page.items)
                if not page.has_next:
                    break
                after = page.next_cursor
            assert seen == NAMES
            first = await Subject.akeyset_page(per_page=2, order_by="name", name=NAMES[1:])
            assert [s.name for s in first] == NAMES[1:3]

    run(main)


def test_the_async_pages_check_their_arguments_like_the_sync_ones(tables):
    async def main():
        async with DatabaseManager.get_async_session():
            with pytest.raises(InvalidFilterError, match="page must be an int"):
                await Subject.apage(page=0)
            with pytest.raises(InvalidFilterError, match="per_page"):
                await Subject.akeyset_page(per_page=101)
            with pytest.raises(InvalidCursorError):
                await Subject.akeyset_page(after="not-a-cursor")

    run(main)


def test_the_async_pages_need_an_async_unit(tables):
    async def main():
        await Subject.apage()

    with pytest.raises(NoActiveSessionError, match="get_async_session"):
        run(main)
