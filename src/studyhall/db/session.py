"""The Session class of studyhall and its guards.

A `StudyhallSession` refuses to be used from another process, thread or asyncio task than
the one that opened it, refuses writes in a read-only unit of work, and refuses every
statement, flush, commit and rollback once its unit of work is marked rollback-only (the
mark is set and cleared by `studyhall.db.transaction`).
"""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Any, NoReturn

from sqlalchemy import Engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.util.concurrency import in_greenlet

from studyhall.errors import (
    AsyncContextError,
    CrossThreadSessionError,
    ReadOnlyTransactionError,
    SessionError,
    TransactionRolledBackError,
)

READ_ONLY = "studyhall.read_only"
# (failed savepoint scope or None for the whole unit, first exception): the unit's mark.
BROKEN = "studyhall.rollback_only"
# How many joined calls and nested units are running in the session: its non-owners.
DEPTH = "studyhall.depth"
READ_ONLY_MESSAGE = (
    "This unit of work is read-only, so it cannot write. Open it without "
    "`read_only=True` to add, change or delete rows."
)


# Bumped in a forked child: the thread ident survives a fork, so without it a child would
# take its parent's session (and the connection it holds) for its own.
_fork_generation = 0


def _after_fork_in_child() -> None:
    global _fork_generation
    _fork_generation += 1


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _current_owner() -> tuple[int, int, asyncio.Task[Any] | None]:
    loop = asyncio._get_running_loop()
    task = asyncio.current_task(loop) if loop is not None else None
    return _fork_generation, threading.get_ident(), task


def restamp_owner(session: Session) -> None:
    """Give a closed session to the calling process, thread and task (for reuse)."""
    session._owner = _current_owner()  # type: ignore[attr-defined]


def opened_in_this_process(session: Session) -> bool:
    """False for a studyhall session a forked child inherited from its parent."""
    owner = getattr(session, "_owner", None)
    return owner is None or owner[0] == _fork_generation


ON_LOOP_MESSAGE = (
    "This is synchronous database code running inside an async unit of work, on the event "
    "loop, where every query would block all the loop's tasks. From async code use "
    "`get_current_async_session()` and await its methods (`await session.execute(...)`), "
    "or the awaiting model helpers (`await Model.aget_by(...)`); run synchronous code in "
    "the unit with `await get_current_async_session().run_sync(lambda session: fn())`. "
    "Reading a relationship or an expired attribute that is not loaded loads it lazily: "
    "load it in the query (`options(selectinload(Model.relation))`) or await it "
    "(`await obj.awaitable_attrs.relation`)."
)


def check_sync_use(session: Session, propagation: str = "required") -> None:
    """Refuse synchronous use of an async unit's session outside SQLAlchemy's greenlet
    (on the event loop), and a sync `requires_new` unit inside one (a blocking connection).

    Inside `run_sync` (the greenlet) a sync call may join the async unit: its statements
    are awaited by the greenlet."""
    if not getattr(session, "runs_async", False):
        return
    if not in_greenlet():
        raise AsyncContextError(ON_LOOP_MESSAGE)
    if propagation == "requires_new":
        raise AsyncContextError(
            "A synchronous propagation='requires_new' unit inside an async unit of work would "
            "open a blocking connection on the event loop. Open it as an async unit: "
            "`async with DatabaseManager.get_async_session(propagation='requires_new')`, or "
            "an `async def` decorated with `@with_db_session(propagation='requires_new')`."
        )


def rolled_back_message(first: BaseException | None) -> str:
    """The message of TransactionRolledBackError, naming what failed first."""
    what = f"{type(first).__name__}: {first}" if first is not None else "an inner call"
    if len(what) > 300:
        what = what[:297] + "..."
    return (
        f"This unit of work is rolled back because an inner call failed first ({what}); "
        "nothing of it will be committed, and no more statements run in it. Let the "
        "exception propagate to the owner of the unit of work (the outermost "
        "`@with_db_session` / `get_session()`), or catch it outside that, or give the "
        "inner call `propagation='nested'` to undo only its part."
    )


def refuse_broken(mark: tuple[Any, BaseException | None]) -> NoReturn:
    """Raise TransactionRolledBackError for a unit of work marked rollback-only."""
    raise TransactionRolledBackError(rolled_back_message(mark[1])) from mark[1]


def mark_broken(session: Session, scope: Any, first: BaseException | None) -> None:
    """Mark the unit of work (or the savepoint `scope`) rollback-only; the first mark wins
    unless the new one covers the whole unit."""
    current = session.info.get(BROKEN)
    if current is None or (scope is None and current[0] is not None):
        session.info[BROKEN] = (scope, first)


def descends_from(transaction: SessionTransaction | None, ancestor: SessionTransaction) -> bool:
    """Whether `transaction` is `ancestor` or was begun inside it (a nested savepoint)."""
    while transaction is not None:
        if transaction is ancestor:
            return True
        transaction = transaction.parent
    return False


def belongs_here(session: Session) -> bool:
    """Whether this thread and task may use `session` (any non-studyhall session may)."""
    owner = getattr(session, "_owner", None)
    return owner is None or owner == _current_owner()


class StudyhallSession(Session):
    """A Session that refuses to be used outside the thread and task that created it.

    Sharing a Session between threads corrupts its state silently; this turns that
    mistake into a clear error at the first statement or flush.
    """

    # True for the session inside an AsyncSession of an async unit of work: synchronous
    # code may use it only inside SQLAlchemy's greenlet (`check_sync_use`).
    runs_async = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._owner = _current_owner()

    def check_owner(self) -> None:
        """Raise CrossThreadSessionError unless called from the owning thread and task."""
        if self._owner != _current_owner():
            raise CrossThreadSessionError(
                "This database session belongs to another thread or asyncio task. Open a "
                "session in each thread or task (`@with_db_session` or "
                "`DatabaseManager.get_session()`) instead of sharing one."
            )

    def get_bind(self, mapper: Any = None, **kw: Any) -> Engine | Connection:
        """The engine for a statement, refused outside the owning thread and task.

        Every statement, flush and `connection()` asks for its bind first, so this is the
        check at each use; a `do_orm_execute` listener did the same but makes SQLAlchemy
        prepare every ORM statement twice.
        """
        self.check_owner()
        if self.runs_async and not in_greenlet():
            # Sync use on the event loop: a lazy load, or sync code in an async unit.
            raise AsyncContextError(ON_LOOP_MESSAGE)
        mark = self.info.get(BROKEN)
        if mark is not None:
            refuse_broken(mark)
        # A flush is refused in before_flush; an INSERT, UPDATE or DELETE statement
        # executed through the session never flushes, so it is refused here.
        if self.info.get(READ_ONLY) and getattr(kw.get("clause"), "is_dml", False):
            raise ReadOnlyTransactionError(READ_ONLY_MESSAGE)
        return super().get_bind(mapper, **kw)

    def flush(self, objects: Any = None) -> None:
        """Flush; refused in a unit marked rollback-only, even with nothing pending."""
        mark = self.info.get(BROKEN)
        if mark is not None:
            refuse_broken(mark)
        super().flush(objects)

    def commit(self) -> None:
        """Commit; refused in a unit marked rollback-only, and to anyone but its owner."""
        self._refuse_end("commit")
        super().commit()

    def rollback(self) -> None:
        """Roll back; refused in a unit marked rollback-only, and to anyone but its owner."""
        self._refuse_end("rollback")
        super().rollback()

    def _refuse_end(self, verb: str) -> None:
        info = self.info
        mark = info.get(BROKEN)
        if mark is not None:
            refuse_broken(mark)
        if info.get(DEPTH):
            error = SessionError(
                f"Only the owner of a unit of work may {verb} it, and this call joined "
                f"one. Raise an exception to have the owner roll back, or open a unit of "
                f"your own with `propagation='requires_new'` to {verb} separately."
            )
            mark_broken(self, None, error)
            raise error


def _owner_checked(session: Session) -> None:
    if isinstance(session, StudyhallSession):
        session.check_owner()


@event.listens_for(StudyhallSession, "before_flush")
def _check_flush(session: Session, flush_context: Any, instances: Any) -> None:
    _owner_checked(session)
    if session.info.get(READ_ONLY):
        raise ReadOnlyTransactionError(READ_ONLY_MESSAGE)


__all__ = [
    "BROKEN",
    "ON_LOOP_MESSAGE",
    "DEPTH",
    "READ_ONLY",
    "READ_ONLY_MESSAGE",
    "StudyhallSession",
    "belongs_here",
    "check_sync_use",
    "descends_from",
    "mark_broken",
    "opened_in_this_process",
    "refuse_broken",
    "restamp_owner",
    "rolled_back_message",
]
