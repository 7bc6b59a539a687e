"""The current unit of work's session, held in one ContextVar per thread / asyncio task."""

from __future__ import annotations

from contextvars import ContextVar, Token

from sqlalchemy.orm import Session

from studyhall.db.session import belongs_here, check_sync_use
from studyhall.errors import CrossThreadSessionError, NoActiveSessionError

current_session: ContextVar[Session | None] = ContextVar("studyhall.session", default=None)

NO_SESSION_MESSAGE = (
    "No database session is active. Wrap the call in "
    "`with DatabaseManager.get_session():` or decorate it with `@with_db_session`."
)


def active_session() -> Session | None:
    """The current session if this process, thread and task may use it, else None.

    A context copied into another task or thread (`asyncio.create_task`, `gather`,
    `asyncio.to_thread`), or into a forked child, still holds the creator's session;
    there it is not active.
    """
    session = current_session.get()
    if session is not None and not belongs_here(session):
        return None
    return session


def get_current_session() -> Session:
    """Return the session of the active unit of work; raise NoActiveSessionError if none."""
    session = current_session.get()
    if session is None:
        raise NoActiveSessionError(NO_SESSION_MESSAGE)
    if not belongs_here(session):
        raise CrossThreadSessionError(
            "The current session belongs to the process, thread or asyncio task that opened "
            "it; this code runs in another one, which copied its context (asyncio.create_task, "
            "gather, asyncio.to_thread, os.fork). Decorate the function it runs with "
            "`@with_db_session` so that it opens a unit of work of its own."
        )
    if getattr(session, "runs_async", False):  # read, not called: the sync path's cost
        check_sync_use(session)
    return session


def set_current_session(session: Session | None) -> Token[Session | None]:
    """Make `session` current; keep the token and pass it to `reset_current_session`."""
    return current_session.set(session)


def reset_current_session(token: Token[Session | None]) -> None:
    """Restore the session that was current before the `set_current_session` that made `token`."""
    current_session.reset(token)


def has_active_session() -> bool:
    """Return True when a unit of work is active in this thread / task."""
    return active_session() is not None


__all__ = [
    "NO_SESSION_MESSAGE",
    "active_session",
    "current_session",
    "get_current_session",
    "has_active_session",
    "reset_current_session",
    "set_current_session",
]
