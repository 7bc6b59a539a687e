"""`AsyncDatabase`: the async engine and its AsyncSession factory, for one event loop."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from studyhall.config import DatabaseSettings
from studyhall.db.aio.engine import build_async_engine
from studyhall.db.aio.spare_sessions import ReusingAsyncSessionmaker
from studyhall.db.aio.units import AsyncUnitOfWork
from studyhall.db.session import StudyhallSession
from studyhall.db.transaction.units import Propagation


class AsyncDatabase:
    """An async engine with the studyhall options and a factory of AsyncSessions whose
    sync sessions are `StudyhallSession`s (so every guard of the sync flavour applies).

    Its connections belong to the event loop that opened them: make one per loop and
    `await dispose()` it before the loop ends (`Database.async_database()` does the first).
    """

    def __init__(self, settings: DatabaseSettings, **engine_overrides: Any) -> None:
        self.settings = settings
        self.engine: AsyncEngine = build_async_engine(settings, **engine_overrides)
        # Reused across units where nothing can tell (`aio.spare_sessions`).
        self.sessions = ReusingAsyncSessionmaker(
            self.engine, sync_session_class=StudyhallSession, expire_on_commit=False
        )

    def unit_of_work(
        self,
        propagation: Propagation = "required",
        *,
        read_only: bool = False,
        isolation_level: str | None = None,
    ) -> AsyncUnitOfWork:
        """An async context manager yielding the AsyncSession of a unit of work."""
        return AsyncUnitOfWork(
            self.sessions, propagation, read_only=read_only, isolation_level=isolation_level
        )

    async def dispose(self) -> None:
        """Close every pooled connection (in the loop that opened them)."""
        await self.engine.dispose()

    def __repr__(self) -> str:
        return f"AsyncDatabase({self.settings.masked_url!r})"


__all__ = ["AsyncDatabase"]
