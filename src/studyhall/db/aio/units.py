"""`AsyncUnitOfWork`: the unit of work of `studyhall.db.transaction`, for AsyncSession.

One implementation of the semantics: each step is the sync `UnitOfWork`'s, run on the
AsyncSession's `StudyhallSession` inside SQLAlchemy's greenlet (`run_sync`), so
propagation, read-only, the rollback-only mark, owner-only commit and on_commit are the
sync ones. While the unit is open the sync ContextVar holds that session too: sync code
run through `run_sync` joins the unit; sync code on the event loop is refused
(`check_sync_use`).

Cancellation: a statement interrupted by a cancellation invalidates its connection
(SQLAlchemy does so for any exit exception), and the owner's end (ROLLBACK or COMMIT,
then close, which returns the connection) runs to completion in a task of its own
(`run_to_completion`). The flush before COMMIT runs in the owner's task, where the
session's owner check passes; a cancellation during COMMIT waits for its reply.

on_commit: plain callbacks run at the end, as in sync units; what coroutine callbacks
return is awaited after it, in the owner's task (`studyhall.db.aio.callbacks`).
"""

from __future__ import annotations

import asyncio
import sys
from contextvars import Token
from types import TracebackType
from typing import Any, cast

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, sessionmaker

from studyhall.db.aio.callbacks import await_callbacks, detach, take_awaiting
from studyhall.db.aio.completion import run_to_completion
from studyhall.db.aio.context import active_async_session, current_async_session
from studyhall.db.aio.spare_sessions import keep_for_reuse
from studyhall.db.session import BROKEN
from studyhall.db.transaction.context import current_session
from studyhall.db.transaction.units import Propagation, UnitOfWork, check_propagation
from studyhall.errors import NoActiveSessionError


class _Given:
    """A session factory for one UnitOfWork: the session the async unit has made."""

    __slots__ = ("session", "kw")

    def __init__(self, session: Session, bind: Any) -> None:
        self.session = session
        self.kw = {"bind": bind}

    def __call__(self) -> Session:
        return self.session


def _flush_before_commit(session: Session) -> None:
    if session.info.get(BROKEN) is None and not session._is_clean():
        session.flush()


def _exit(
    session: Session,
    uow: UnitOfWork,
    exc_type: type[BaseException] | None,
    exc: BaseException | None,
    tb: TracebackType | None,
) -> None:
    uow.__exit__(exc_type, exc, tb)


class AsyncUnitOfWork:
    """Async context manager yielding the AsyncSession of a unit of work, by propagation
    (`required`, `requires_new`, `nested`, `mandatory`; see `UnitOfWork`)."""

    __slots__ = (
        "sessions",
        "propagation",
        "read_only",
        "isolation_level",
        "owner",
        "retries",
        "_uow",
        "_session",
        "_token",
        "_sync_token",
    )

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        propagation: Propagation = "required",
        *,
        read_only: bool = False,
        isolation_level: str | None = None,
    ) -> None:
        check_propagation(propagation)
        self.sessions = sessions
        self.propagation = propagation
        self.read_only = read_only
        self.isolation_level = isolation_level
        # The owner's name for the slow-statement log; None: the code that enters the unit.
        self.owner: str | None = None
        self.retries = 0
        self._uow: UnitOfWork | None = None
        self._session: AsyncSession | None = None
        self._token: Token[AsyncSession | None] | None = None
        self._sync_token: Token[Session | None] | None = None

    async def __aenter__(self) -> AsyncSession:
        if self._uow is not None:
            raise RuntimeError("This AsyncUnitOfWork is already active; make one per block.")
        current = active_async_session()
        propagation = self.propagation
        if current is None or propagation == "requires_new":
            if propagation == "mandatory":
                raise NoActiveSessionError(
                    "propagation='mandatory' needs an active unit of work, and there is "
                    "none. Call this inside `async with DatabaseManager.get_async_session():` "
                    "or an `async def` decorated with `@with_db_session`."
                )
            return await self._open()
        # Join, or a savepoint: the sync unit finds `current`'s session in the ContextVar.
        uow = UnitOfWork(cast(sessionmaker[Session], None), propagation, read_only=self.read_only)
        await current.run_sync(lambda _: uow.__enter__())
        self._uow, self._session = uow, current
        return current

    async def _open(self) -> AsyncSession:
        session = self.sessions()
        sync = session.sync_session
        sync.runs_async = True  # type: ignore[attr-defined]
        uow = UnitOfWork(
            cast(sessionmaker[Session], _Given(sync, session.bind)),
            "requires_new",
            read_only=self.read_only,
            isolation_level=self.isolation_level,
        )
        owner = self.owner
        if owner is None:
            frame = sys._getframe(1)  # the code with the `async with` statement
            owner = f"{frame.f_globals.get('__name__')}.{frame.f_code.co_qualname}"
        uow.owner = owner
        uow.retries = self.retries
        # No sync unit around this one is joined: the sync session of this unit is made
        # current by the sync UnitOfWork itself.
        self._sync_token = current_session.set(None)
        self._token = current_async_session.set(session)
        self._uow, self._session = uow, session
        try:
            if self.isolation_level is None:
                uow.__enter__()  # sends nothing: no greenlet needed
            else:
                await session.run_sync(lambda _: uow.__enter__())  # sets the level
        except BaseException:
            # The sync unit has ended itself; what is left is this unit's own state.
            self._uow = self._session = None
            self._reset()
            await run_to_completion(session.close)
            raise
        return session

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        uow, session = self._uow, self._session
        self._uow = self._session = None
        assert uow is not None and session is not None
        if self._token is None:
            # A joined call or nested unit, in its own task (its flush is checked against
            # the session's owner task). A cancellation that cuts a savepoint's RELEASE or
            # ROLLBACK TO short invalidates the connection and reaches the owner, which
            # rolls the whole unit back: nothing is half done.
            await session.run_sync(_exit, uow, exc_type, exc, tb)
            return
        failed: BaseException | None = None
        sync = session.sync_session
        if exc_type is None and sync.info.get(BROKEN) is None and not sync._is_clean():
            try:
                await session.run_sync(_flush_before_commit)
            except BaseException as error:
                failed = error
                exc_type, exc, tb = type(error), error, error.__traceback__
        try:
            await run_to_completion(lambda: session.run_sync(_exit, uow, exc_type, exc, tb))
        except asyncio.CancelledError:
            self._reset()
            detach(take_awaiting(sync))  # committed: on_commit's coroutines still run
            keep_for_reuse(session)
            raise
        except BaseException:
            self._reset()
            keep_for_reuse(session)  # only if it did close: see spare_sessions
            raise
        self._reset()
        awaiting = take_awaiting(sync)
        keep_for_reuse(session)
        if awaiting is not None:
            await await_callbacks(awaiting)
        if failed is not None:
            raise failed

    def _reset(self) -> None:
        token, self._token = self._token, None
        if token is not None:
            current_async_session.reset(token)
        sync_token, self._sync_token = self._sync_token, None
        if sync_token is not None:
            current_session.reset(sync_token)


__all__ = ["AsyncUnitOfWork"]
