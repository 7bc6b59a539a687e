"""The current database session (the seed's public module; the logic is in `transaction`).

`SessionContext` sets it on enter and resets it with its token on exit, so nested
contexts restore the outer session. Models and services call `get_current_session()`.
"""

from studyhall.database.transaction.context import (
    NO_SESSION_MESSAGE,
    active_session,
    get_current_session,
    has_active_session,
    reset_current_session,
    set_current_session,
)
from studyhall.database.transaction.units import SessionContext

__all__ = [
    "NO_SESSION_MESSAGE",
    "SessionContext",
    "active_session",
    "get_current_session",
    "has_active_session",
    "reset_current_session",
    "set_current_session",
]
