"""The Session class of studyhall: bound to the thread and asyncio task that opened it."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, SessionTransaction

from studyhall.database.errors import CrossThreadSessionError, ReadOnlyTransactionError

READ_ONLY = "studyhall.read_only"
READ_ONLY_MESSAGE = (
    "This unit of work is read-only, so it cannot write. Open it without "
    "`read_only=True` to add, change or delete rows."
)


def _current_owner() -> tuple[int, asyncio.Task[Any] | None]:
    loop = asyncio._get_running_loop()
    return threading.get_ident(), (asyncio.current_task(loop) if loop is not None else None)


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
        # A flush is refused in before_flush; an INSERT, UPDATE or DELETE statement
        # executed through the session never flushes, so it is refused here.
        if self.info.get(READ_ONLY) and getattr(kw.get("clause"), "is_dml", False):
            raise ReadOnlyTransactionError(READ_ONLY_MESSAGE)
        return super().get_bind(mapper, **kw)


def _owner_checked(session: Session) -> None:
    if isinstance(session, StudyhallSession):
        session.check_owner()


@event.listens_for(StudyhallSession, "before_flush")
def _check_flush(session: Session, flush_context: Any, instances: Any) -> None:
    _owner_checked(session)
    if session.info.get(READ_ONLY):
        raise ReadOnlyTransactionError(READ_ONLY_MESSAGE)


@event.listens_for(StudyhallSession, "after_begin")
def _check_begin(
    session: Session, transaction: SessionTransaction, connection: Connection
) -> None:
    _owner_checked(session)
