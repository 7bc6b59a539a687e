"""Which errors are safe to retry with a fresh transaction, and how long to wait."""

from __future__ import annotations

import random

from sqlalchemy.exc import DBAPIError

# MySQL / MariaDB: 1213 deadlock, 1205 lock wait timeout. PostgreSQL (SQLSTATE):
# 40001 serialization failure, 40P01 deadlock detected. Each means the server rolled
# the transaction back (or will, for 1205 once we do), so running it again is safe.
MYSQL_RETRYABLE = frozenset({1205, 1213})
POSTGRES_RETRYABLE = frozenset({"40001", "40P01"})
SQLITE_RETRYABLE = ("database is locked", "database table is locked")

BACKOFF_BASE = 0.02
BACKOFF_CAP = 1.0


def is_retryable(exc: BaseException) -> bool:
    """True for deadlocks, lock timeouts, serialization failures and lost connections.

    Only call this for errors raised before COMMIT was sent: the outcome of a failed
    COMMIT is unknown, so retrying it could apply the work twice.
    """
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int) and args[0] in MYSQL_RETRYABLE:
        return True
    if getattr(orig, "sqlstate", None) in POSTGRES_RETRYABLE:
        return True
    message = str(orig).lower()
    return type(orig).__module__ == "sqlite3" and any(m in message for m in SQLITE_RETRYABLE)


def backoff_delay(attempt: int) -> float:
    """Seconds to wait before retry `attempt` (1-based): exponential, capped, full jitter."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * (2 ** (attempt - 1)))
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not security
