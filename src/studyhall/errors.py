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
    """Raised when the database server cannot be reached, or stopped answering.

    The only database error that means "try again later" (HTTP 503 in the app).
    """


class AccessDeniedError(StudyhallError):
    """Root of the errors raised when the server answered but refused us."""


class LoginRefusedError(AccessDeniedError):
    """Raised when the server refuses the login: wrong user or password, or no such role."""


class DatabasePermissionError(AccessDeniedError):
    """Raised when the login works but the user has no rights on the database or object."""


class ConflictError(StudyhallError):
    """Raised for a deadlock, lock wait timeout, serialization failure or busy SQLite file.

    Raised after any retries the unit of work was allowed (`retries=N`) are used up; the
    transaction was rolled back, so running the whole unit again is safe.
    """


class CommitOutcomeUnknownError(StudyhallError):
    """Raised when COMMIT was sent but its reply was lost: it may or may not have applied.

    Never retried automatically. Check whether the unit's effects are in the database
    (e.g. by reading the rows it wrote) before running it again.
    """


class DatabaseStatementError(StudyhallError):
    """Raised when the server rejected a statement (bad SQL, too many parameters, ...)."""


class PoolExhaustedError(StudyhallError):
    """Raised when a thread that already holds a pooled connection asks for another and none
    is free: waiting could deadlock. Connections needed = threads x (1 + requires_new depth).
    """


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


class AsyncContextError(SessionError):
    """Raised when synchronous database code runs on the event loop inside an async unit of
    work (it would block every task of the loop), or asks for a blocking unit of its own;
    also when a coroutine function is given to `on_commit` in a sync unit (nothing would
    await it)."""


class ReadOnlyTransactionError(SessionError):
    """Raised when a read-only unit of work tries to write (flush), or a read-only server
    (a read replica) refuses a statement that writes."""


class SchemaError(StudyhallError):
    """Raised when tables studyhall needs do not exist in the database."""


class DataConflictError(StudyhallError):
    """Raised when loading rows would mix them into existing data they do not belong to."""


class MigrationError(StudyhallError):
    """Raised when the database's Alembic revision does not allow a schema command.

    Tables with no recorded revision, a revision these migrations do not know, or a stamp
    that would record a wrong one.
    """


class LeaseLostError(StudyhallError):
    """Raised when a job's run tries to complete after its lease passed to another worker.

    The run's unit of work is rolled back with it, so only the other run's effects stay.
    """


__all__ = [
    "AccessDeniedError",
    "AsyncContextError",
    "CommitOutcomeUnknownError",
    "ConfigurationError",
    "ConflictError",
    "CrossThreadSessionError",
    "DataConflictError",
    "DatabasePermissionError",
    "DatabaseStatementError",
    "DatabaseUnavailableError",
    "LeaseLostError",
    "LoginRefusedError",
    "MigrationError",
    "NoActiveSessionError",
    "PoolExhaustedError",
    "ReadOnlyTransactionError",
    "SchemaError",
    "SessionError",
    "StudyhallError",
    "TransactionRolledBackError",
    "UnsafeOperationError",
]
