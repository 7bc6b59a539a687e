"""The one exception hierarchy of studyhall, rooted at `StudyhallError`.

Every message says what is wrong and what to do about it. Callers at an edge (the
command line, the web app) catch `StudyhallError` and show its message.
"""

from __future__ import annotations


class StudyhallError(Exception):
    """Root of every error raised on purpose by studyhall."""


class ConfigurationError(StudyhallError):
    """Raised when the database settings are missing, partial or invalid."""


class DatabaseUnavailableError(StudyhallError):
    """Raised when the database server cannot be reached or refuses the login."""


class UnsafeOperationError(StudyhallError):
    """Raised when a destructive operation was not confirmed, or names an unsafe object."""


class SessionError(StudyhallError, RuntimeError):
    """Root of the errors about the current-session context."""


class NoActiveSessionError(SessionError):
    """Raised by `get_current_session()` when no unit of work is active."""


class CrossThreadSessionError(SessionError):
    """Raised when a session is used from a thread or asyncio task that did not open it."""


class TransactionRolledBackError(SessionError):
    """Raised when a unit of work ends normally but an inner call had already failed.

    The whole unit of work was rolled back when that inner call raised; nothing of it
    was committed.
    """


class ReadOnlyTransactionError(SessionError):
    """Raised when a read-only unit of work tries to write (flush)."""


class SchemaError(StudyhallError):
    """Raised when tables studyhall needs do not exist in the database."""


class DataConflictError(StudyhallError):
    """Raised when loading rows would mix them into existing data they do not belong to."""
