"""Which errors are safe to retry with a fresh transaction, and how long to wait."""

from __future__ import annotations

import random

from sqlalchemy.exc import DBAPIError

from studyhall.db.error_translation import classify, failed_to_connect, is_conflict

BACKOFF_BASE = 0.02
BACKOFF_CAP = 1.0

# What keeps a connection from opening for a while (a server starting, restarting or
# overloaded, a failover under way), unlike what waiting cannot fix: a refused login, an
# unknown user or database, missing rights.
PASSING_WHEN_CONNECTING = frozenset({"unreachable", "timeout", "overloaded", "lost", "no_primary"})


def is_retryable(exc: BaseException) -> bool:
    """True for deadlocks, lock timeouts, serialization failures, a busy SQLite file and
    lost connections (the conflicts that `error_translation` classifies), and for a
    connection that could not be opened for a reason that may pass (PASSING_WHEN_CONNECTING:
    nothing listening, a connect timeout, a server starting up, no host accepting writes).

    Each means the server rolled the transaction back (or will, once we do), or never saw
    it, so running it again is safe. Only call this for errors raised before COMMIT was
    sent: the outcome of a failed COMMIT is unknown, so retrying it could apply the work
    twice. An error raised in the middle of a statement counts only as a conflict or a lost
    connection: e.g. a read timeout, after which the statement may still run, does not.
    """
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated or is_conflict(exc):
        return True
    return failed_to_connect(exc) and classify(exc.orig) in PASSING_WHEN_CONNECTING


def backoff_delay(attempt: int) -> float:
    """Seconds to wait before retry `attempt` (1-based): exponential, capped, full jitter."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * (2 ** (attempt - 1)))
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not security


__all__ = [
    "BACKOFF_BASE",
    "BACKOFF_CAP",
    "PASSING_WHEN_CONNECTING",
    "backoff_delay",
    "is_retryable",
]
