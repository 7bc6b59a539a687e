"""The current database session (the seed's public module; the logic is in `studyhall.db`).

`SessionContext` sets it on enter and resets it with its token on exit, so nested
contexts restore the outer session. Models and services call `get_current_session()`.
"""

from studyhall.db.aio import (
    NO_ASYNC_SESSION_MESSAGE,
    get_current_async_session,
    has_active_async_session,
)
from studyhall.db.transaction import (
    NO_SESSION_MESSAGE,
    SessionContext,
    active_session,
    get_current_session,
    has_active_session,
    reset_current_session,
    set_current_session,
)

__all__ = [
    "NO_ASYNC_SESSION_MESSAGE",
    "NO_SESSION_MESSAGE",
    "SessionContext",
    "active_session",
    "get_current_async_session",
    "get_current_session",
    "has_active_async_session",
    "has_active_session",
    "reset_current_session",
    "set_current_session",
]
