"""Helpers of the async tests: run a coroutine in a fresh loop, write a note through an
AsyncSession."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from studyhall.database import DatabaseManager
from tests.database.notes import notes


def run(main: Callable[[], Awaitable[Any]]) -> Any:
    """`asyncio.run(main())`, then close the loop's async connections, as an app's shutdown."""

    async def and_dispose() -> Any:
        try:
            return await main()
        finally:
            await DatabaseManager.dispose_async()

    return asyncio.run(and_dispose())


async def add_note(session, note_id: int, body: str = "x") -> None:  # type: ignore[no-untyped-def]
    await session.execute(notes.insert().values(id=note_id, body=body))
