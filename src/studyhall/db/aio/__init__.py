"""The same unit of work under asyncio: async engine, AsyncSession units, the current one.

`AsyncDatabase` builds the async engine from the sync settings (asyncmy, psycopg's async
mode, aiosqlite); `AsyncUnitOfWork` runs the sync unit of work's semantics on an
AsyncSession; `run_in_async_unit` is `@with_db_session` on `async def`.
"""

from studyhall.db.aio.context import (
    NO_ASYNC_SESSION_MESSAGE,
    active_async_session,
    get_current_async_session,
    has_active_async_session,
)
from studyhall.db.aio.database import AsyncDatabase
from studyhall.db.aio.engine import async_url, build_async_engine
from studyhall.db.aio.runner import run_in_async_unit
from studyhall.db.aio.units import AsyncUnitOfWork

__all__ = [
    "NO_ASYNC_SESSION_MESSAGE",
    "AsyncDatabase",
    "AsyncUnitOfWork",
    "active_async_session",
    "async_url",
    "build_async_engine",
    "get_current_async_session",
    "has_active_async_session",
    "run_in_async_unit",
]
