"""The current async unit of work's AsyncSession, in one ContextVar per asyncio task."""

from __future__ import annotations

from contextvars import ContextVar

from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.db.session import belongs_here
from studyhall.errors import CrossThreadSessionError, NoActiveSessionError

current_async_session: ContextVar[AsyncSession | None] = ContextVar(
    "studyhall.async_session", default=None
)

NO_ASYNC_SESSION_MESSAGE = (
    "No async database session is active. Wrap the call in "
    "`async with DatabaseManager.get_async_session():` or decorate the `async def` with "
    "`@with_db_session`."
)


def active_async_session() -> AsyncSession | None:
    """The current AsyncSession if this task may use it, else None (a child task or thread
    that copied the context opens a unit of its own)."""
    session = current_async_session.get()
    if session is not None and not belongs_here(session.sync_session):
        return None
    return session


def get_current_async_session() -> AsyncSession:
    """The AsyncSession of the active async unit of work; NoActiveSessionError if none."""
    session = current_async_session.get()
    if session is None:
        raise NoActiveSessionError(NO_ASYNC_SESSION_MESSAGE)
    if not belongs_here(session.sync_session):
        raise CrossThreadSessionError(
            "The current async session belongs to the asyncio task that opened it; this code "
            "runs in another task or thread, which copied its context (asyncio.create_task, "
            "gather, asyncio.to_thread). Decorate the coroutine it runs with "
            "`@with_db_session` so that it opens a unit of work of its own."
        )
    return session


def has_active_async_session() -> bool:
    """Whether an async unit of work is active in this task."""
    return active_async_session() is not None


__all__ = [
    "NO_ASYNC_SESSION_MESSAGE",
    "active_async_session",
    "current_async_session",
    "get_current_async_session",
    "has_active_async_session",
]
