"""The current database session, held in one ContextVar per thread / asyncio task.

`SessionContext` sets it on enter and resets it with its token on exit, so nested
contexts restore the outer session. Models and services call `get_current_session()`.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from types import TracebackType

from sqlalchemy.orm import Session

from studyhall.database.errors import (
    CrossThreadSessionError,
    NoActiveSessionError,
    SessionError,
    TransactionRolledBackError,
)
from studyhall.database.session import belongs_here

_current_session: ContextVar[Session | None] = ContextVar("studyhall.session", default=None)

ROLLBACK_ONLY = "studyhall.rollback_only"

NO_SESSION_MESSAGE = (
    "No database session is active. Wrap the call in "
    "`with DatabaseManager.get_session():` or decorate it with `@with_db_session`."
)


def active_session() -> Session | None:
    """The current session if this thread and task may use it, else None.

    A context copied into another task or thread (`asyncio.create_task`, `gather`,
    `asyncio.to_thread`) still holds the creator's session; there it is not active.
    """
    session = _current_session.get()
    if session is not None and not belongs_here(session):
        return None
    return session


def get_current_session() -> Session:
    """Return the session of the active unit of work; raise NoActiveSessionError if none."""
    session = _current_session.get()
    if session is None:
        raise NoActiveSessionError(NO_SESSION_MESSAGE)
    if not belongs_here(session):
        raise CrossThreadSessionError(
            "The current session belongs to the thread or asyncio task that opened it; this "
            "code runs in another one, which copied its context (asyncio.create_task, "
            "gather, asyncio.to_thread). Decorate the function it runs with "
            "`@with_db_session` so that it opens a unit of work of its own."
        )
    return session


def set_current_session(session: Session | None) -> Token[Session | None]:
    """Make `session` current; keep the token and pass it to `reset_current_session`."""
    return _current_session.set(session)


def reset_current_session(token: Token[Session | None]) -> None:
    """Restore the session that was current before the `set_current_session` that made `token`."""
    _current_session.reset(token)


def has_active_session() -> bool:
    """Return True when a unit of work is active in this thread / task."""
    return active_session() is not None


def mark_rollback_only(session: Session) -> None:
    """Roll back `session` now and remember that its unit of work must not commit."""
    session.info[ROLLBACK_ONLY] = True
    session.rollback()


def _after_close(session: Session) -> None:
    # Imported here: on_commit registers session events and imports this module.
    from studyhall.database.on_commit import run_ready_callbacks

    run_ready_callbacks(session)


class SessionContext:
    """Own `session` for a `with` block: make it current, commit or roll back, close.

    On exit: commit when `auto_commit` and no exception; roll back on any exception,
    `BaseException` included; always close the session and restore the previous one.
    """

    __slots__ = ("session", "auto_commit", "_token")

    def __init__(self, session: Session, *, auto_commit: bool = True) -> None:
        self.session = session
        self.auto_commit = auto_commit
        self._token: Token[Session | None] | None = None

    def __enter__(self) -> Session:
        if self._token is not None:
            raise SessionError(
                "This SessionContext is already active; open a new one for each `with` block."
            )
        self._token = _current_session.set(self.session)
        return self.session

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session = self.session
        token = self._token
        self._token = None
        try:
            if exc_type is not None:
                session.rollback()
            elif session.info.get(ROLLBACK_ONLY):
                session.rollback()
                raise TransactionRolledBackError(
                    "An inner call of this unit of work raised, so the whole unit of work was "
                    "rolled back and nothing was committed. Let the exception propagate, or "
                    "catch it outside the outermost `@with_db_session` / `get_session()`."
                )
            elif self.auto_commit:
                session.commit()
        finally:
            try:
                session.close()
            finally:
                if token is not None:
                    _current_session.reset(token)
                if session.info:
                    _after_close(session)
